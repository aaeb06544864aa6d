package events

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// path is a JSON pointer built lazily: segments live on the stack while the data is walked
// and are joined into a string only when a problem is reported.
type path struct {
	up    *path
	name  string
	index int // array index when name is ""
}

func (p *path) key(name string) path { return path{up: p, name: name} }
func (p *path) elem(i int) path      { return path{up: p, index: i} }

func (p *path) String() string {
	if p == nil {
		return ""
	}
	var seg string
	if p.name == "" && p.up != nil {
		seg = strconv.Itoa(p.index)
	} else {
		// RFC 6901 escaping.
		seg = strings.ReplaceAll(strings.ReplaceAll(p.name, "~", "~0"), "/", "~1")
	}
	if p.up == nil {
		return "/" + seg
	}
	return p.up.String() + "/" + seg
}

// reader walks event data with the scanner and collects problems.
type reader struct {
	s     scanner
	probs []Problem
}

func (r *reader) add(p *path, reason string) {
	r.probs = append(r.probs, Problem{Pointer: p.String(), Reason: reason})
}

// expect checks the kind of the next value; on a mismatch it reports, skips the value and
// returns false.
func (r *reader) expect(p *path, k kind) bool {
	got := r.s.kind()
	if got == k {
		return true
	}
	if got != kInvalid {
		r.add(p, "must be "+k.String())
	}
	r.s.skip()
	return false
}

func (r *reader) str(p *path) (string, bool) {
	if !r.expect(p, kString) {
		return "", false
	}
	return r.s.str(), true
}

// text reads a clear free-text value (a reason, a company name).
//
// A member that breaks its rule reads as its zero value, here and in the readers below: the
// data DecodePartial returns then holds only what passed, since whatever broke a rule could
// be anything, a personal value included.
func (r *reader) text(p *path) string {
	v, ok := r.str(p)
	if ok && utf8.RuneCountInString(v) > maxText {
		r.add(p, reasonText)
		return ""
	}
	return v
}

// personalText reads a personal free-text value held in a plain string member (a legal-hold
// reason, a criterion value): any string, a sealed one included, as personal does.
func (r *reader) personalText(p *path) string {
	if v := r.personal(p, nil, ""); v != nil {
		return *v
	}
	return ""
}

func (r *reader) id(p *path) string { return r.checked(p, validID, reasonID) }

func (r *reader) contactID(p *path) string { return r.checked(p, validContactID, reasonContactID) }

func (r *reader) token(p *path) string { return r.checked(p, validToken, reasonToken) }

func (r *reader) checked(p *path, valid func(string) bool, reason string) string {
	v, ok := r.str(p)
	if ok && !valid(v) {
		r.add(p, reason)
		return ""
	}
	return v
}

func (r *reader) enum(p *path, allowed []string) string {
	v, ok := r.str(p)
	if ok && !oneOf(v, allowed) {
		r.add(p, "must be one of "+strings.Join(allowed, ", "))
		return ""
	}
	return v
}

func (r *reader) timestamp(p *path) time.Time {
	v, ok := r.str(p)
	if !ok {
		return time.Time{}
	}
	t, ok := parseTimestamp(v)
	if !ok {
		r.add(p, reasonTimestamp)
	}
	return t
}

func (r *reader) boolean(p *path) bool {
	if !r.expect(p, kBool) {
		return false
	}
	return r.s.boolean()
}

// integer reads a whole number within int64, min included.
func (r *reader) integer(p *path, min int64) int64 {
	if !r.expect(p, kNumber) {
		return 0
	}
	n, ok := parseInteger(r.s.number())
	switch {
	case r.s.bad():
	case !ok:
		r.add(p, reasonInteger)
	case n < min:
		r.add(p, "must be at least "+strconv.FormatInt(min, 10))
	}
	return n
}

// personal reads a personal value: any string, a sealed one included; shape (e-mail, date)
// is checked only on clear values, since a sealed one cannot be looked into.
func (r *reader) personal(p *path, shape func(string) bool, reason string) *string {
	v, ok := r.str(p)
	if !ok {
		return nil
	}
	if shape != nil && v != "" && !IsSealed(v) && !shape(v) {
		r.add(p, reason)
	}
	return &v
}

// field describes one member of a data object; read decodes its value into d.
type field[T any] struct {
	name     string
	required bool
	read     func(r *reader, p *path, d *T)
}

// object reads an object into d with the given fields, skipping unknown members, and
// returns the set of members seen (bit i for fields[i]). At most 32 fields per object.
func object[T any](r *reader, p *path, d *T, fields []field[T]) (seen uint32) {
	if !r.expect(p, kObject) {
		return 0
	}
	r.s.enter()
	first := true
	for r.s.next('}', &first) {
		k := r.s.key()
		if r.s.bad() {
			return seen
		}
		i := 0
		for i < len(fields) && fields[i].name != k {
			i++
		}
		if i == len(fields) {
			r.s.skip() // unknown members are allowed: see doc.go
			continue
		}
		kp := p.key(k)
		if seen&(1<<i) != 0 {
			// Parsers disagree on duplicates (first or last wins); refuse them.
			r.add(&kp, "appears more than once")
			r.s.skip()
			continue
		}
		seen |= 1 << i
		fields[i].read(r, &kp, d)
	}
	if r.s.bad() {
		return seen
	}
	for i, f := range fields {
		if f.required && seen&(1<<i) == 0 {
			kp := p.key(f.name)
			r.add(&kp, "is required")
		}
	}
	return seen
}

// has reports whether the member named name was seen.
func has[T any](seen uint32, fields []field[T], name string) bool {
	for i, f := range fields {
		if f.name == name {
			return seen&(1<<i) != 0
		}
	}
	return false
}

// Shared limits and reasons; schemagen_test.go writes the same rules into the schemas.
const (
	maxID    = 256
	maxToken = 64
	maxText  = 1024
	maxName  = 128

	reasonID = "must be 1 to 256 printable characters without whitespace " +
		"(ids as upstream systems write them: urn:uuid:…, crm:12345, ORD/2022/001)"
	reasonContactID = "must be 1 to 256 printable characters without whitespace or / " +
		"(a contact id stands in URL paths)"
	reasonToken = "must be 1 to 64 characters from A-Z, a-z, 0-9, _ and - " +
		"(institutions and organisations are NATS subject tokens)"
	reasonTimestamp = "must be an RFC 3339 timestamp such as 2024-05-01T12:00:00Z " +
		"(upper-case T and Z, seconds 00-59, offset Z or ±hh:mm, year 1900 or later)"
	reasonInteger   = "must be a whole number within the signed 64-bit range"
	reasonText      = "must be at most 1024 characters"
	reasonEmail     = "must be an e-mail address (local@domain, no spaces), empty, or a sealed value"
	reasonBirthDate = "must be a date YYYY-MM-DD, empty, or a sealed value"
	reasonName      = "must be 1 to 128 characters from A-Z, a-z, 0-9, _ and -, in dot-separated parts"
	reasonCustom    = "custom field names must be 1 to 64 characters from A-Z, a-z, 0-9, _ and -"
	reasonCurrency  = "must be an ISO 4217 code: three upper-case letters"
)

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func idChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// validToken: [A-Za-z0-9_-]{1,64}, safe as a NATS subject token: institutions and
// organisations, which name subjects (lethe.inbox.<institution>).
func validToken(s string) bool {
	if len(s) == 0 || len(s) > maxToken {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idChar(s[i]) {
			return false
		}
	}
	return true
}

// validID: 1 to 256 characters, none a control character or a separator (Unicode categories
// Cc and Z: spaces, line and paragraph separators), in valid UTF-8 — ids as upstream systems
// write them. None of them names a subject; storage keys and headers take any such string.
// The schemas say the same with a pattern excluding those characters one by one.
func validID(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	n := 0
	for _, c := range s {
		if n++; n > maxID || unicode.Is(unicode.Cc, c) || unicode.Is(unicode.Z, c) {
			return false
		}
	}
	return true
}

// validContactID is validID without "/": the contact id is a segment of the API's paths.
func validContactID(s string) bool { return validID(s) && !strings.Contains(s, "/") }

// validName: id-like parts joined by dots (authorisation names such as marketing.email,
// criteria, erased field paths), at most 128 characters.
func validName(s string) bool {
	if len(s) == 0 || len(s) > maxName {
		return false
	}
	part := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if part == 0 {
				return false
			}
			part = 0
		case idChar(c):
			part++
		default:
			return false
		}
	}
	return part > 0
}

// validCustomName: [A-Za-z0-9_-]{1,64}; no dots, so "profile.custom.<name>" stays unambiguous.
func validCustomName(s string) bool { return validToken(s) }

func validCurrency(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z'
}

// validEmail mirrors the schema's ^[^@\t\n\f\r ]+@[^@\t\n\f\r ]+$: the shape only; whether
// the mailbox exists is the producer's business.
func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return false
	}
	return !strings.ContainsAny(s, "\t\n\f\r ")
}

// validDate: YYYY-MM-DD, a real calendar day.
func validDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	return ok1 && ok2 && ok3 && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(m, y)
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseTimestamp accepts exactly what the schemas' timestamp rule accepts (format date-time
// and the pattern beside it): RFC 3339 with upper-case T and Z, no leap second, and an
// offset within ±23:59. time.Parse is laxer (it takes "+24:00" and a comma before the
// fraction), so this checks by hand and builds the time with time.Date.
//
// Years before 1900 are refused: no activity of this domain is that old, and the zero
// time.Time (year 1) is how a forgotten date shows up.
func parseTimestamp(s string) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[:2] < "19" {
		return time.Time{}, false
	}
	if !validDate(s[:10]) {
		return time.Time{}, false
	}
	hh, ok1 := digits(s[11:13])
	mm, ok2 := digits(s[14:16])
	ss, ok3 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n <= 9 {
				nsec = nsec*10 + int(rest[n]-'0')
			}
			n++
		}
		if n == 1 {
			return time.Time{}, false
		}
		for k := n; k <= 9; k++ {
			nsec *= 10
		}
		rest = rest[n:]
	}
	loc := time.UTC
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		off := (oh*60 + om) * 60
		if rest[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	default:
		return time.Time{}, false
	}
	y, _ := digits(s[0:4])
	mo, _ := digits(s[5:7])
	d, _ := digits(s[8:10])
	return time.Date(y, time.Month(mo), d, hh, mm, ss, nsec, loc), true
}

// ValidID reports whether s can stand as an id of the contract — a contact id, an institution,
// an event id: 1 to 128 characters of A-Z, a-z, 0-9, _ and -, safe as a NATS subject token and
// a storage key. Services check path parameters with it, so the API and the events agree.
func ValidID(s string) bool { return validID(s) }

// ValidInstitution reports whether s may name an institution or an organisation: a NATS
// subject token of 1 to 64 characters from A-Z, a-z, 0-9, _ and -.
func ValidInstitution(s string) bool { return validToken(s) }

// ValidContactID reports whether s may be a contact id: an id without "/".
func ValidContactID(s string) bool { return validContactID(s) }
