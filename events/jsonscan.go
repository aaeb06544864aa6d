package events

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a strict, allocation-light JSON reader for event data. Validation walks the
// data once with it and fills the typed struct as it goes: no reflection, no intermediate
// map, and every problem is known with its exact position in the document. It accepts
// exactly what encoding/json accepts (FuzzScannerAgreesWithEncodingJSON holds it to that),
// and decodes strings the same way (invalid UTF-8 and lone surrogates become U+FFFD), so
// the Go validation and the JSON Schemas see the same values.
//
// After the first syntax error every method is a no-op that reports failure: callers
// check bad() once at the end instead of after every call.
type scanner struct {
	b     []byte
	i     int
	err   bool
	depth int
}

// maxDepth bounds nesting (encoding/json allows 10000); deeper documents are refused as
// malformed rather than risking deep recursion in skip.
const maxDepth = 1000

type kind uint8

const (
	kInvalid kind = iota
	kObject
	kArray
	kString
	kNumber
	kBool
	kNull
)

func (k kind) String() string {
	switch k {
	case kObject:
		return "an object"
	case kArray:
		return "an array"
	case kString:
		return "a string"
	case kNumber:
		return "a number"
	case kBool:
		return "a boolean"
	case kNull:
		return "null"
	}
	return "invalid"
}

func (s *scanner) fail() { s.err = true }

func (s *scanner) bad() bool { return s.err }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// kind reports the kind of the next value without consuming it.
func (s *scanner) kind() kind {
	if s.err {
		return kInvalid
	}
	s.ws()
	if s.i >= len(s.b) {
		return kInvalid
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return kObject
	case c == '[':
		return kArray
	case c == '"':
		return kString
	case c == '-' || (c >= '0' && c <= '9'):
		return kNumber
	case c == 't' || c == 'f':
		return kBool
	case c == 'n':
		return kNull
	}
	return kInvalid
}

// end reports whether only white space is left, as it must be after the top-level value.
func (s *scanner) end() bool {
	if s.err {
		return false
	}
	s.ws()
	if s.i != len(s.b) {
		s.fail()
		return false
	}
	return true
}

// enter consumes an opening bracket; the caller has checked kind.
func (s *scanner) enter() bool {
	if s.err {
		return false
	}
	s.depth++
	if s.depth > maxDepth {
		s.fail()
		return false
	}
	s.i++
	return true
}

// next reports whether another member or element follows in the object or array being
// read, consuming the separator or the closing bracket. first starts true.
func (s *scanner) next(closing byte, first *bool) bool {
	if s.err {
		return false
	}
	s.ws()
	if s.i >= len(s.b) {
		s.fail()
		return false
	}
	c := s.b[s.i]
	if c == closing {
		s.i++
		s.depth--
		return false
	}
	if *first {
		*first = false
		return true
	}
	if c != ',' {
		s.fail()
		return false
	}
	s.i++
	return true
}

// key reads a member name and its colon.
func (s *scanner) key() string {
	if s.kind() != kString {
		s.fail()
		return ""
	}
	k := s.str()
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		s.fail()
		return ""
	}
	s.i++
	return k
}

// str reads a string; the caller has checked kind.
func (s *scanner) str() string {
	if s.err {
		return ""
	}
	s.i++ // opening quote
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := string(s.b[start:s.i])
			s.i++
			return v
		case c == '\\' || c >= utf8.RuneSelf:
			return s.slowStr(start)
		case c < 0x20:
			s.fail()
			return ""
		}
		s.i++
	}
	s.fail()
	return ""
}

// slowStr finishes a string that has escapes or non-ASCII bytes, decoding it the way
// encoding/json does.
func (s *scanner) slowStr(start int) string {
	buf := make([]byte, 0, s.i-start+16)
	buf = append(buf, s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(buf)
		case c < 0x20:
			s.fail()
			return ""
		case c == '\\':
			if s.i+1 >= len(s.b) {
				s.fail()
				return ""
			}
			e := s.b[s.i+1]
			s.i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					s.fail()
					return ""
				}
				if utf16.IsSurrogate(r) {
					// A valid pair decodes to one rune; anything else is U+FFFD, as in encoding/json.
					r2 := rune(-1)
					if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
						save := s.i
						s.i += 2
						var ok2 bool
						r2, ok2 = s.hex4()
						if !ok2 {
							s.fail()
							return ""
						}
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							buf = utf8.AppendRune(buf, dec)
							continue
						}
						s.i = save
					}
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
			default:
				s.fail()
				return ""
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			s.i++
		default:
			r, size := utf8.DecodeRune(s.b[s.i:])
			s.i += size
			buf = utf8.AppendRune(buf, r) // RuneError for invalid bytes, as encoding/json does
		}
	}
	s.fail()
	return ""
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	s.i += 4
	return r, true
}

// number reads a number and returns its text; the grammar is RFC 8259's.
func (s *scanner) number() string {
	if s.err {
		return ""
	}
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		s.fail()
		return ""
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			s.fail()
			return ""
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			s.fail()
			return ""
		}
	}
	return string(s.b[start:s.i])
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) literal(lit string) bool {
	if s.i+len(lit) > len(s.b) || string(s.b[s.i:s.i+len(lit)]) != lit {
		s.fail()
		return false
	}
	s.i += len(lit)
	return true
}

// boolean reads true or false; the caller has checked kind.
func (s *scanner) boolean() bool {
	if s.err {
		return false
	}
	if s.b[s.i] == 't' {
		return s.literal("true")
	}
	s.literal("false")
	return false
}

// skip consumes any value.
func (s *scanner) skip() {
	switch s.kind() {
	case kObject:
		if !s.enter() {
			return
		}
		first := true
		for s.next('}', &first) {
			s.key()
			s.skip()
		}
	case kArray:
		if !s.enter() {
			return
		}
		first := true
		for s.next(']', &first) {
			s.skip()
		}
	case kString:
		s.str()
	case kNumber:
		s.number()
	case kBool:
		s.boolean()
	case kNull:
		s.literal("null")
	default:
		s.fail()
	}
}

// validJSON reports whether b holds exactly one JSON value.
func validJSON(b []byte) bool {
	s := scanner{b: b}
	s.skip()
	return s.end()
}

// parseInteger reads a JSON number as an int64 the way JSON Schema's "integer" sees it:
// any number with no fractional part (1, 1.0, 1e2), within int64.
func parseInteger(text string) (int64, bool) {
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, true
	}
	return parseIntegerSlow(text)
}

// parseIntegerSlow handles fractions and exponents by hand rather than with big.Rat, whose
// SetString would happily build 10^1000000000 for a hostile "1e1000000000".
func parseIntegerSlow(text string) (int64, bool) {
	neg := strings.HasPrefix(text, "-")
	text = strings.TrimPrefix(text, "-")
	mant, exp, hasExp := strings.Cut(text, "e")
	if !hasExp {
		mant, exp, hasExp = strings.Cut(text, "E")
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return 0, true // zero, whatever the exponent
	}
	e := 0
	if hasExp {
		exp = strings.TrimPrefix(exp, "+")
		expNeg := strings.HasPrefix(exp, "-")
		exp = strings.TrimLeft(strings.TrimPrefix(exp, "-"), "0")
		if len(exp) > 6 {
			return 0, false // |exponent| >= 10^6: either a fraction or far beyond int64
		}
		e, _ = strconv.Atoi("0" + exp)
		if expNeg {
			e = -e
		}
	}
	e -= len(frac)
	trimmed := strings.TrimRight(digits, "0")
	e += len(digits) - len(trimmed)
	if e < 0 || len(trimmed)+e > 19 {
		return 0, false
	}
	s := trimmed + strings.Repeat("0", e)
	if neg {
		s = "-" + s
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
