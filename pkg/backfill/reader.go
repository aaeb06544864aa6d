package backfill

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// InputError is input that cannot be read as CloudEvents past a point: after it, nothing
// delimits the next event. Events before it are sent.
type InputError struct {
	Line   int64
	Reason string
}

func (e *InputError) Error() string { return fmt.Sprintf("input line %d: %s", e.Line, e.Reason) }

// inputMode is the input's format, found from its first event and kept in the checkpoint.
type inputMode string

const (
	modeDetect inputMode = ""
	modeNDJSON inputMode = "ndjson"
	modeArray  inputMode = "array"
	modeJSON   inputMode = "json" // one object, or objects one after another, spanning lines
)

// tailSize is how much of the input before a checkpoint is hashed to recognise the same
// input on resume without reading it all again: about the last event or two.
const tailSize = 512

// position is a point of the input between two events.
type position struct {
	Offset int64 // bytes before it
	Line   int64 // the line it is on, from 1
	Events int64 // input events (valid or not) before it
	// The last tailN bytes before Offset, in a ring ending at tailAt.
	tail   [tailSize]byte
	tailAt int
	tailN  int
}

func (p *position) remember(b []byte) {
	if len(b) >= tailSize {
		copy(p.tail[:], b[len(b)-tailSize:])
		p.tailAt, p.tailN = 0, tailSize
		return
	}
	n := copy(p.tail[p.tailAt:], b)
	copy(p.tail[:], b[n:])
	p.tailAt = (p.tailAt + len(b)) % tailSize
	p.tailN = min(tailSize, p.tailN+len(b))
}

func (p *position) tailBytes() []byte {
	start := (p.tailAt - p.tailN + tailSize) % tailSize
	if start+p.tailN <= tailSize {
		return slices.Clone(p.tail[start : start+p.tailN])
	}
	return append(slices.Clone(p.tail[start:]), p.tail[:p.tailAt]...)
}

func (p *position) tailHash() string {
	sum := sha256.Sum256(p.tailBytes())
	return hex.EncodeToString(sum[:])
}

// item is one input event: raw (valid JSON, an object) is sent as it is, without re-encoding;
// an event that cannot even be sent has a problem instead.
type item struct {
	ord     int64 // its position among the input's events, from 0
	line    int64
	raw     []byte // owned by the reader until the next call
	problem string
	end     position
}

type eventReader struct {
	br        *bufio.Reader
	mode      inputMode
	pos       position
	maxEvent  int
	inArray   bool // the '[' was read
	afterElem bool // an element was read: ',' or ']' comes next
	done      bool
	buf       []byte
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// newEventReader reads events from r, which is at position at; mode is the format found when
// the checkpoint was written, or modeDetect at the start.
func newEventReader(r io.Reader, at position, mode inputMode, maxEvent int) *eventReader {
	if at.Line == 0 {
		at.Line = 1
	}
	rd := &eventReader{br: bufio.NewReaderSize(r, 1<<20), mode: mode, pos: at, maxEvent: maxEvent}
	if mode == modeArray && at.Offset > 0 {
		rd.inArray, rd.afterElem = true, at.Events > 0
	}
	return rd
}

// consume accounts for input bytes taken.
func (r *eventReader) consume(b []byte) {
	r.pos.Offset += int64(len(b))
	r.pos.Line += int64(bytes.Count(b, []byte{'\n'}))
	r.pos.remember(b)
}

func (r *eventReader) next() (item, error) {
	if r.done {
		return item{}, io.EOF
	}
	switch r.mode {
	case modeDetect:
		return r.detect()
	case modeNDJSON:
		return r.nextLine()
	case modeArray:
		return r.nextElement()
	default:
		return r.nextValue()
	}
}

// detect decides the format from the first event: an array is one; a first value that ends
// on its own line makes NDJSON, read line by line so that one broken line cannot hide the
// next; otherwise values are delimited by their structure.
func (r *eventReader) detect() (item, error) {
	if r.pos.Offset == 0 {
		if b, _ := r.br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
			_, _ = r.br.Discard(len(utf8BOM))
			r.consume(utf8BOM)
		}
	}
	b, err := r.skipSpace()
	if err == io.EOF {
		r.done = true
		return item{}, io.EOF
	} else if err != nil {
		return item{}, err
	}
	if b == '[' {
		r.mode = modeArray
		return r.nextElement()
	}
	r.mode = modeJSON
	line := r.pos.Line
	if err := unexpected(b, line); err != nil {
		return item{}, err
	}
	raw, tooBig, err := r.scanValue(line)
	if err != nil {
		return item{}, err
	}
	if r.pos.Line == line && r.restOfLineBlank() {
		r.mode = modeNDJSON
	}
	return r.makeItem(line, raw, tooBig), nil
}

// restOfLineBlank consumes blanks up to and including the end of the line, if nothing else
// is on it.
func (r *eventReader) restOfLineBlank() bool {
	for i := 1; ; i++ {
		b, err := r.br.Peek(i)
		if err != nil { // the end of the input
			r.consumeN(len(b))
			return true
		}
		switch b[i-1] {
		case ' ', '\t', '\r':
			continue
		case '\n':
			r.consumeN(i)
			return true
		default:
			return false
		}
	}
}

func (r *eventReader) consumeN(n int) {
	b, _ := r.br.Peek(n)
	r.consume(b)
	_, _ = r.br.Discard(n)
}

func (r *eventReader) nextLine() (item, error) {
	for {
		line := r.pos.Line
		raw, size, err := r.readLine()
		if err != nil && err != io.EOF {
			return item{}, err
		}
		if size == 0 && err == io.EOF {
			r.done = true
			return item{}, io.EOF
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 && size <= r.maxEvent {
			if err == io.EOF {
				r.done = true
				return item{}, io.EOF
			}
			continue // a blank line
		}
		return r.makeItem(line, raw, size > r.maxEvent+tailSize || len(raw) > r.maxEvent), nil
	}
}

// readLine returns the next line, its newline included, and its size; a line far beyond
// maxEvent is counted but not kept.
func (r *eventReader) readLine() ([]byte, int, error) {
	frag, err := r.br.ReadSlice('\n')
	r.consume(frag)
	if err != bufio.ErrBufferFull {
		return frag, len(frag), err // the usual case: no copy
	}
	r.buf = append(r.buf[:0], frag...)
	size := len(frag)
	for err == bufio.ErrBufferFull {
		frag, err = r.br.ReadSlice('\n')
		r.consume(frag)
		size += len(frag)
		if size <= r.maxEvent+tailSize {
			r.buf = append(r.buf, frag...)
		}
	}
	if size > r.maxEvent+tailSize {
		r.buf = r.buf[:0]
	}
	return r.buf, size, err
}

func (r *eventReader) nextElement() (item, error) {
	if !r.inArray {
		b, err := r.skipSpace()
		if err != nil {
			return item{}, err
		}
		if b != '[' {
			return item{}, &InputError{Line: r.pos.Line, Reason: "expected a JSON array"}
		}
		r.consumeN(1)
		r.inArray = true
	}
	b, err := r.skipSpace()
	if err == io.EOF {
		return item{}, &InputError{Line: r.pos.Line, Reason: "the JSON array is not closed"}
	} else if err != nil {
		return item{}, err
	}
	switch {
	case r.afterElem && b == ',':
		r.consumeN(1)
		if b, err = r.skipSpace(); err == io.EOF {
			return item{}, &InputError{Line: r.pos.Line, Reason: "the JSON array is not closed"}
		} else if err != nil {
			return item{}, err
		}
		if b == ']' {
			return item{}, &InputError{Line: r.pos.Line, Reason: "a comma before the end of the array"}
		}
	case b == ']':
		r.consumeN(1)
		return r.finishArray()
	case r.afterElem:
		return item{}, &InputError{Line: r.pos.Line, Reason: "expected a comma or the end of the array after the previous event"}
	}
	line := r.pos.Line
	if err := unexpected(b, line); err != nil {
		return item{}, err
	}
	raw, tooBig, err := r.scanValue(line)
	if err != nil {
		return item{}, err
	}
	r.afterElem = true
	return r.makeItem(line, raw, tooBig), nil
}

func (r *eventReader) finishArray() (item, error) {
	r.afterElem = false
	_, err := r.skipSpace()
	if err == io.EOF {
		r.done = true
		return item{}, io.EOF
	} else if err != nil {
		return item{}, err
	}
	return item{}, &InputError{Line: r.pos.Line, Reason: "something follows the end of the JSON array"}
}

func (r *eventReader) nextValue() (item, error) {
	b, err := r.skipSpace()
	if err == io.EOF {
		r.done = true
		return item{}, io.EOF
	} else if err != nil {
		return item{}, err
	}
	line := r.pos.Line
	if err := unexpected(b, line); err != nil {
		return item{}, err
	}
	raw, tooBig, err := r.scanValue(line)
	if err != nil {
		return item{}, err
	}
	return r.makeItem(line, raw, tooBig), nil
}

func unexpected(b byte, line int64) error {
	if b == ',' || b == ']' || b == '}' || b == ':' {
		return &InputError{Line: line, Reason: fmt.Sprintf("unexpected %q where an event should start", b)}
	}
	return nil
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// skipSpace consumes blanks and returns the next byte without consuming it.
func (r *eventReader) skipSpace() (byte, error) {
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			return 0, err
		}
		if !isSpace(b) {
			_ = r.br.UnreadByte()
			return b, nil
		}
		r.consume([]byte{b})
	}
}

// scanValue takes one JSON value, delimited by its brackets and strings only: whether it is
// valid JSON is checked afterwards, on the value alone.
func (r *eventReader) scanValue(line int64) (raw []byte, tooBig bool, err error) {
	r.buf = r.buf[:0]
	depth, inStr, esc, scalar, first := 0, false, false, false, true
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err == io.EOF {
				if scalar {
					return r.buf, tooBig, nil
				}
				return nil, false, &InputError{Line: line, Reason: "the event that starts here is not closed before the end of the input"}
			} else if err != nil {
				return nil, false, err
			}
		}
		chunk, _ := r.br.Peek(r.br.Buffered())
		end := -1
	scan:
		for i, c := range chunk {
			if first {
				first = false
				switch c {
				case '{', '[':
					depth = 1
				case '"':
					inStr = true
				default:
					scalar = true
				}
				continue
			}
			switch {
			case scalar:
				if isSpace(c) || c == ',' || c == ']' || c == '}' || c == '[' || c == '{' || c == '"' {
					end = i
					break scan
				}
			case inStr:
				switch {
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					inStr = false
					if depth == 0 {
						end = i + 1
						break scan
					}
				}
			default:
				switch c {
				case '"':
					inStr = true
				case '{', '[':
					depth++
				case '}', ']':
					depth--
					if depth == 0 {
						end = i + 1
						break scan
					}
				}
			}
		}
		n := len(chunk)
		if end >= 0 {
			n = end
		}
		if !tooBig && len(r.buf)+n > r.maxEvent {
			tooBig, r.buf = true, r.buf[:0]
		}
		if !tooBig {
			r.buf = append(r.buf, chunk[:n]...)
		}
		r.consume(chunk[:n])
		_, _ = r.br.Discard(n)
		if end >= 0 {
			return r.buf, tooBig, nil
		}
	}
}

func (r *eventReader) makeItem(line int64, raw []byte, tooBig bool) item {
	it := item{ord: r.pos.Events, line: line}
	r.pos.Events++
	switch {
	case tooBig:
		it.problem = fmt.Sprintf("is larger than a request may be (--max-bytes %d)", r.maxEvent+2)
	case len(raw) == 0 || raw[0] != '{':
		it.problem = "must be a JSON object: one structured CloudEvent"
	case !json.Valid(raw):
		it.problem = "is not valid JSON"
	default:
		it.raw = raw
	}
	it.end = r.pos
	return it
}
