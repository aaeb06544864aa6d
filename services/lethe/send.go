package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/atomicfile"
	"github.com/lethe-gdpr/lethe/pkg/client"
)

// `lethe send` streams an institution's history into POST /v1/events. Its three promises
// shape the code: the input is never loaded whole (a reader that yields one event at a
// time), batches go out concurrently yet a re-run never re-sends what was acknowledged (a
// checkpoint of the contiguous acknowledged prefix plus the batches acknowledged beyond it),
// and every rejected event is named by its input line, never by its values.

const sendUsage = `Usage: lethe send [flags] FILE|-

Sends CloudEvents to a running lethe serve (POST /v1/events, in concurrent batches): the way
an institution backfills its history. FILE holds NDJSON (one structured CloudEvent per line),
a JSON array of events, or one JSON object; the format is detected. "-" reads standard input.
The input is streamed, never loaded whole.

Progress is kept in FILE.send-progress (or --state; standard input has none without it):
re-running the same command after an interruption skips every batch the server already
acknowledged, so no event is stored twice. Each rejected event is reported by line with the
field and the reason; send stops at the first one, or with --keep-going sends the rest, and
exits non-zero either way.

Flags (each has an environment twin: --server is LETHE_SERVER, --token LETHE_TOKEN, …):
`

// sendConfig is every setting of `lethe send`.
type sendConfig struct {
	Server      string
	Token       string
	Input       string // a path, or "-" for standard input
	State       string // the checkpoint; "" means FILE.send-progress for a file, none for stdin
	Batch       int
	MaxBytes    int
	Concurrency int
	KeepGoing   bool
	Restart     bool
	Progress    string
	Retries     int
	Timeout     time.Duration
}

// defaultMaxBytes is the server's default body limit: a batch body never exceeds it.
const defaultMaxBytes = 10 << 20

func parseSend(args []string, getenv func(string) string, stderr io.Writer) (sendConfig, error) {
	c := sendConfig{}
	fs := newFlagSet("send", stderr)
	fs.StringVar(&c.Server, "server", "http://127.0.0.1:8080", "URL of the running lethe serve")
	fs.StringVar(&c.Token, "token", "", "bearer token with the ingest scope")
	fs.IntVar(&c.Batch, "batch", 1000, "events per request")
	fs.IntVar(&c.MaxBytes, "max-bytes", defaultMaxBytes, "largest request body: keep it at or under the server's body limit")
	fs.IntVar(&c.Concurrency, "concurrency", 4, "requests in flight at once")
	fs.BoolVar(&c.KeepGoing, "keep-going", false, "send every valid event and report the invalid ones, instead of stopping at the first")
	fs.StringVar(&c.State, "state", "", "checkpoint file (default FILE.send-progress; required to resume standard input)")
	fs.BoolVar(&c.Restart, "restart", false, "ignore the checkpoint and send the whole input again")
	fs.StringVar(&c.Progress, "progress", "auto", "auto (a bar on a terminal, plain lines otherwise), bar, plain or none")
	fs.IntVar(&c.Retries, "retries", 10, "retries of a batch on 503 or a network error, with back-off")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Minute, "bound on one request")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), sendUsage)
		fs.PrintDefaults()
	}
	if err := parseWithEnv(fs, args, getenv); err != nil {
		return c, flagError(err)
	}
	// Flags may also follow FILE: `lethe send history.ndjson --keep-going`.
	var positional []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		positional = append(positional, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return c, flagError(err)
		}
	}
	if len(positional) != 1 {
		fmt.Fprintln(stderr, "lethe send: name one FILE, or - for standard input")
		fs.Usage()
		return c, errUsage
	}
	c.Input = positional[0]
	switch {
	case c.Batch < 1:
		return c, errors.New("--batch must be at least 1")
	case c.Concurrency < 1:
		return c, errors.New("--concurrency must be at least 1")
	case c.MaxBytes < 1024:
		return c, errors.New("--max-bytes must be at least 1024")
	case c.Retries < 0:
		return c, errors.New("--retries must not be negative")
	case c.Timeout <= 0:
		return c, errors.New("--timeout must be positive")
	}
	switch c.Progress {
	case "auto", "bar", "plain", "none":
	default:
		return c, fmt.Errorf("--progress: want auto, bar, plain or none, not %q", c.Progress)
	}
	return c, nil
}

// sendCommand is `lethe send`: wire it as `case "send": return sendCommand(ctx, args[1:], …)`.
func sendCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseSend(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.Token == "" {
		return errNoToken
	}
	c, err := client.New(cfg.Server, cfg.Token, client.WithUserAgent("lethe/"+version))
	if err != nil {
		return err
	}
	in, err := openSendInput(cfg, stdin)
	if err != nil {
		return err
	}
	defer in.close()
	s := newSender(cfg, c, stderr)
	res, err := s.send(ctx, in)
	fmt.Fprintln(stdout, res.summary())
	return err
}

// sendInput is the input and where its checkpoint lives.
type sendInput struct {
	name  string // for messages
	r     io.Reader
	file  *os.File // nil for standard input, which cannot seek
	size  int64    // -1 when unknown
	state string   // checkpoint path; "" for none
	close func()
}

func openSendInput(c sendConfig, stdin io.Reader) (*sendInput, error) {
	if c.Input == "-" {
		return &sendInput{name: "standard input", r: stdin, size: -1, state: c.State, close: func() {}}, nil
	}
	f, err := os.Open(c.Input)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a directory", c.Input)
	}
	in := &sendInput{name: c.Input, r: f, file: f, size: fi.Size(), state: c.State, close: func() { f.Close() }}
	if !fi.Mode().IsRegular() {
		in.file, in.size = nil, -1 // a pipe or a device: read it like standard input
	}
	if in.state == "" {
		in.state = c.Input + ".send-progress"
	}
	return in, nil
}

// Errors of a send. A command that fails with them has already reported the details.
var (
	errRejected           = errors.New("events were rejected")
	errCheckpointMismatch = errors.New("the checkpoint does not match the input")
)

// InputError is input that cannot be read as CloudEvents past a point: after it, nothing
// delimits the next event. Events before it are sent.
type InputError struct {
	Line   int64
	Reason string
}

func (e *InputError) Error() string { return fmt.Sprintf("input line %d: %s", e.Line, e.Reason) }

// ----------------------------------------------------------------------------------------
// Reading: one event at a time, with its line and its position for the checkpoint.

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

// ----------------------------------------------------------------------------------------
// The checkpoint.

// checkpoint is what a re-run needs to skip what was acknowledged: the contiguous prefix by
// byte offset (so a 10 GB file is not read again to find the resume point), and the batches
// acknowledged beyond it by event range (batches complete out of order), each with a
// checksum of its events so that a changed input is sent again rather than skipped.
type checkpoint struct {
	Version  int         `json:"version"`
	Input    string      `json:"input,omitempty"`
	Mode     inputMode   `json:"mode"`
	Offset   int64       `json:"offset"`
	Line     int64       `json:"line"`
	Events   int64       `json:"events"`
	TailLen  int         `json:"tail_len"`
	TailHash string      `json:"tail_sha256"`
	Done     []doneRange `json:"done,omitempty"`
	Sent     int64       `json:"sent"`
	Rejected int64       `json:"rejected"`
	Updated  time.Time   `json:"updated"`
}

// doneRange is input events First..Last (inclusive) acknowledged or reported; CRC is the
// CRC-32C of the valid ones' bytes.
type doneRange struct {
	First int64  `json:"first"`
	Last  int64  `json:"last"`
	CRC   uint32 `json:"crc32c"`
}

const checkpointVersion = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func loadCheckpoint(path string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("%w: %s is not a checkpoint: %v", errCheckpointMismatch, path, err)
	}
	if cp.Version != checkpointVersion {
		return nil, fmt.Errorf("%w: %s has version %d, want %d", errCheckpointMismatch, path, cp.Version, checkpointVersion)
	}
	switch cp.Mode {
	case modeNDJSON, modeArray, modeJSON:
	default:
		return nil, fmt.Errorf("%w: %s names no input format", errCheckpointMismatch, path)
	}
	if cp.Offset < 0 || cp.TailLen < 0 || cp.TailLen > tailSize || int64(cp.TailLen) > cp.Offset {
		return nil, fmt.Errorf("%w: %s is damaged", errCheckpointMismatch, path)
	}
	return &cp, nil
}

// saveCheckpoint replaces path atomically, and durably: a checkpoint lost in a crash means
// events sent again after the dedupe window.
func saveCheckpoint(path string, cp *checkpoint) error {
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Replace(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// seekCheckpoint moves in to the checkpoint's offset and checks the bytes before it are those
// that were acknowledged.
func seekCheckpoint(in *sendInput, cp *checkpoint) (position, error) {
	at := position{Offset: cp.Offset, Line: cp.Line, Events: cp.Events}
	mismatch := fmt.Errorf("%w: %s was written for another input, or the input changed before line %d; pass --restart to send it all again",
		errCheckpointMismatch, in.state, cp.Line)
	if in.size >= 0 && cp.Offset > in.size {
		return at, mismatch
	}
	tail := make([]byte, cp.TailLen)
	from := cp.Offset - int64(cp.TailLen)
	if in.file != nil {
		if _, err := in.file.ReadAt(tail, from); err != nil {
			return at, mismatch
		}
		if _, err := in.file.Seek(cp.Offset, io.SeekStart); err != nil {
			return at, err
		}
	} else {
		if n, err := io.CopyN(io.Discard, in.r, from); err != nil || n != from {
			return at, mismatch
		}
		if _, err := io.ReadFull(in.r, tail); err != nil {
			return at, mismatch
		}
	}
	at.remember(tail)
	if at.tailHash() != cp.TailHash {
		return at, mismatch
	}
	return at, nil
}

// ----------------------------------------------------------------------------------------
// Tracking what was acknowledged.

// batch is the unit sent and acknowledged: input events first..last, in order.
type batch struct {
	seq     int64
	first   int64
	last    int64
	end     position
	bytes   int64 // input bytes it spans
	crc     uint32
	body    []byte // a JSON array of the valid events, as they were in the input
	spans   [][2]int
	lines   []int64
	ords    []int64
	local   int // events rejected before sending, already reported
	skipped int // > 0 for the events of an earlier run, not sent again
}

type batchMark struct {
	first, last int64
	crc         uint32
	end         position
	done        bool
	partial     *doneRange
}

// tracker keeps the contiguous prefix of acknowledged batches, which is where a re-run
// starts, and the batches acknowledged beyond it, which a re-run skips.
type tracker struct {
	mu      sync.Mutex
	mode    inputMode
	next    int64 // the first batch not in the prefix
	marks   map[int64]*batchMark
	prefix  position
	carried []doneRange // ranges of the loaded checkpoint the reader has not reached yet
	dirty   bool

	prevSent, prevRejected int64
	sent, rejected         atomic.Int64
	skipped, bytes         atomic.Int64
}

func newTracker(start position, cp *checkpoint) *tracker {
	t := &tracker{marks: map[int64]*batchMark{}, prefix: start}
	if cp != nil {
		t.mode = cp.Mode
		t.prevSent, t.prevRejected = cp.Sent, cp.Rejected
		for _, r := range cp.Done {
			if r.First >= start.Events && r.Last >= r.First {
				t.carried = append(t.carried, r)
			}
		}
		slices.SortFunc(t.carried, func(a, b doneRange) int { return int(a.First - b.First) })
	}
	return t
}

func (t *tracker) setMode(m inputMode) {
	t.mu.Lock()
	t.mode = m
	t.mu.Unlock()
}

func (t *tracker) register(b *batch) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.marks[b.seq] = &batchMark{first: b.first, last: b.last, crc: b.crc, end: b.end}
}

// complete records batch seq as acknowledged (or its events reported).
func (t *tracker) complete(b *batch, sent, rejected int) {
	t.sent.Add(int64(sent))
	t.rejected.Add(int64(rejected + b.local))
	t.skipped.Add(int64(b.skipped))
	t.bytes.Add(b.bytes)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.marks[b.seq].done = true
	for m := t.marks[t.next]; m != nil && m.done; m = t.marks[t.next] {
		t.prefix = m.end
		delete(t.marks, t.next)
		t.next++
	}
	t.dirty = true
}

// partial records that the events of batch seq before the first rejected one were
// acknowledged, when the send stops there.
func (t *tracker) partial(seq int64, r doneRange) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.marks[seq].partial = &r
	t.dirty = true
}

// reached drops a carried range the reader got to: it is either skipped as a batch of its
// own or sent again.
func (t *tracker) reached(first int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.carried = slices.DeleteFunc(t.carried, func(r doneRange) bool { return r.First == first })
	t.dirty = true
}

func (t *tracker) snapshot(input string) (*checkpoint, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cp := &checkpoint{
		Version: checkpointVersion, Input: input, Mode: t.mode,
		Offset: t.prefix.Offset, Line: t.prefix.Line, Events: t.prefix.Events,
		TailLen: t.prefix.tailN, TailHash: t.prefix.tailHash(),
		Sent: t.prevSent + t.sent.Load(), Rejected: t.prevRejected + t.rejected.Load(),
		Updated: time.Now().UTC(),
	}
	for _, r := range t.carried {
		if r.First >= cp.Events {
			cp.Done = append(cp.Done, r)
		}
	}
	for _, m := range t.marks {
		switch {
		case m.done:
			cp.Done = append(cp.Done, doneRange{First: m.first, Last: m.last, CRC: m.crc})
		case m.partial != nil:
			cp.Done = append(cp.Done, *m.partial)
		}
	}
	slices.SortFunc(cp.Done, func(a, b doneRange) int { return int(a.First - b.First) })
	dirty := t.dirty
	t.dirty = false
	return cp, dirty
}

// ----------------------------------------------------------------------------------------
// Sending.

type sender struct {
	cfg    sendConfig
	client *client.Client
	out    *meter
	// sleep waits between retries; tests record the waits instead.
	sleep func(context.Context, time.Duration) error
	// backoff is the wait before retry n (from 0) when the server gave no Retry-After.
	backoff func(n int) time.Duration
	// grace bounds how long requests in flight may finish after an interruption, so that
	// what they carried is recorded rather than left to the dedupe window.
	grace time.Duration
	// isTerminal says whether stderr shows a progress bar.
	isTerminal func(io.Writer) bool
}

func newSender(cfg sendConfig, c *client.Client, stderr io.Writer) *sender {
	return &sender{
		cfg: cfg, client: c, out: &meter{w: stderr},
		sleep: sleepCtx, backoff: expBackoff, grace: 10 * time.Second, isTerminal: isTerminal,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// expBackoff doubles from 250 ms to 30 s, with jitter so that concurrent batches do not
// return together.
func expBackoff(n int) time.Duration {
	d := 30 * time.Second
	if n < 7 {
		d = 250 * time.Millisecond << n
	}
	return d/2 + rand.N(d/2+1)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// maxRetryAfter caps a server's Retry-After: a backfill waits, but not for hours.
const maxRetryAfter = 5 * time.Minute

// sendResult is what one run did.
type sendResult struct {
	Sent, Rejected, Skipped int64
	Elapsed                 time.Duration
}

func (r sendResult) summary() string {
	el := r.Elapsed.Round(time.Millisecond)
	if r.Elapsed > time.Minute {
		el = r.Elapsed.Round(time.Second)
	}
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(r.Sent) / r.Elapsed.Seconds()
	}
	return fmt.Sprintf("sent %d events in %s (%.0f events/s), %d rejected", r.Sent, el, rate, r.Rejected)
}

// sendRun is one send in progress.
type sendRun struct {
	s       *sender
	in      *sendInput
	tr      *tracker
	reqCtx  context.Context // requests; cancelled on a fatal error, or after the grace
	abort   context.CancelCauseFunc
	halt    chan struct{} // closed: send no more batches
	once    sync.Once
	fatal   atomic.Pointer[error]
	stopped atomic.Int64 // line of the first rejected event when stopping there, else 0
}

func (r *sendRun) stop() { r.once.Do(func() { close(r.halt) }) }

func (r *sendRun) halted() bool {
	select {
	case <-r.halt:
		return true
	default:
		return false
	}
}

func (r *sendRun) fail(err error) {
	r.fatal.CompareAndSwap(nil, &err)
	r.stop()
	r.abort(err)
}

// send runs the whole send of in and reports it; the error says why it did not all go.
func (s *sender) send(ctx context.Context, in *sendInput) (sendResult, error) {
	began := time.Now()
	var (
		cp  *checkpoint
		err error
	)
	if in.state != "" && !s.cfg.Restart {
		if cp, err = loadCheckpoint(in.state); err != nil {
			return sendResult{}, err
		}
	}
	start, mode := position{Line: 1}, modeDetect
	if cp != nil {
		if start, err = seekCheckpoint(in, cp); err != nil {
			return sendResult{}, err
		}
		mode = cp.Mode
		s.out.println(fmt.Sprintf("resuming %s at line %d: %d events were acknowledged before (checkpoint %s)", in.name, cp.Line, cp.Sent, in.state))
	}
	rd := newEventReader(in.r, start, mode, s.cfg.MaxBytes-2)
	tr := newTracker(start, cp)

	reqCtx, abort := context.WithCancelCause(context.WithoutCancel(ctx))
	defer abort(nil)
	r := &sendRun{s: s, in: in, tr: tr, reqCtx: reqCtx, abort: abort, halt: make(chan struct{})}
	// An interruption stops new batches at once; requests in flight get the grace to finish.
	stopInterrupt := context.AfterFunc(ctx, func() {
		r.stop()
		t := time.AfterFunc(s.grace, func() { abort(context.Cause(ctx)) })
		context.AfterFunc(reqCtx, func() { t.Stop() })
	})
	defer stopInterrupt()

	s.out.start(s.cfg.Progress, s.isTerminal, in.size, start.Offset, tr)
	saved := make(chan struct{})
	stopSaving := make(chan struct{})
	var saveErr error
	go func() {
		defer close(saved)
		saveErr = r.keepCheckpoint(stopSaving)
	}()

	work := make(chan *batch, s.cfg.Concurrency)
	produced := make(chan error, 1)
	skip := slices.Clone(tr.carried)
	go func() { produced <- r.produce(rd, skip, work) }()
	var wg sync.WaitGroup
	for range s.cfg.Concurrency {
		wg.Go(func() {
			for {
				select {
				case b, ok := <-work:
					if !ok || r.halted() {
						return
					}
					r.deliver(b)
				case <-r.halt:
					return
				}
			}
		})
	}
	wg.Wait()
	var inputErr error
	select {
	case inputErr = <-produced:
	case <-r.halt:
		// The reader may be blocked on standard input; nothing it does now is recorded.
		select {
		case inputErr = <-produced:
		default:
		}
	}
	close(stopSaving)
	<-saved
	s.out.finish()

	res := sendResult{Sent: tr.sent.Load(), Rejected: tr.rejected.Load(), Skipped: tr.skipped.Load(), Elapsed: time.Since(began)}
	if res.Skipped > 0 {
		s.out.println(fmt.Sprintf("skipped %d events acknowledged by an earlier run", res.Skipped))
	}
	var errs []error
	if p := r.fatal.Load(); p != nil {
		errs = append(errs, *p)
	} else if ctx.Err() != nil {
		how := "re-run the same command to resume"
		if in.state == "" {
			how = "standard input has no checkpoint without --state: what was sent is not recorded"
		}
		errs = append(errs, fmt.Errorf("interrupted after %d events (%s): %w", res.Sent, how, context.Cause(ctx)))
	}
	if inputErr != nil && !errors.Is(inputErr, errRejected) && ctx.Err() == nil {
		errs = append(errs, inputErr)
	}
	if res.Rejected > 0 {
		if line := r.stopped.Load(); line > 0 && !s.cfg.KeepGoing {
			errs = append(errs, fmt.Errorf("stopped at the rejected event on line %d: fix it and re-run to resume, or pass --keep-going: %w", line, errRejected))
		} else {
			errs = append(errs, fmt.Errorf("%d events rejected: %w", res.Rejected, errRejected))
		}
	}
	if saveErr != nil {
		errs = append(errs, fmt.Errorf("checkpoint %s: %w", in.state, saveErr))
	}
	return res, errors.Join(errs...)
}

// keepCheckpoint writes the checkpoint a few times a second while the send runs, and once
// more at the end.
func (r *sendRun) keepCheckpoint(stop <-chan struct{}) error {
	if r.in.state == "" {
		<-stop
		return nil
	}
	write := func() error {
		cp, dirty := r.tr.snapshot(absPath(r.in.name))
		if !dirty {
			return nil
		}
		return saveCheckpoint(r.in.state, cp)
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var firstErr error
	for {
		select {
		case <-t.C:
			if err := write(); err != nil && firstErr == nil {
				firstErr = err
			}
		case <-stop:
			if err := write(); err != nil && firstErr == nil {
				firstErr = err
			}
			return firstErr
		}
	}
}

func absPath(name string) string {
	if name == "standard input" {
		return "-"
	}
	if p, err := filepath.Abs(name); err == nil {
		return p
	}
	return name
}

// producer reads the input into batches, skipping the ranges an earlier run had
// acknowledged; it is the only writer of batches, so their sequence is the input's order.
type producer struct {
	r       *sendRun
	work    chan<- *batch
	seq     int64
	cur     *batch
	last    position // the end of the last event given to a batch
	skip    []doneRange
	pending []item // events of skip[0] read so far
	pendCRC uint32
}

// produce returns nil when the input was read to its end or the send halted, errRejected
// when it stopped at an event it could not send, or the input's error.
func (r *sendRun) produce(rd *eventReader, skip []doneRange, work chan<- *batch) error {
	defer close(work)
	p := &producer{r: r, work: work, last: rd.pos, skip: skip}
	modeKnown := rd.mode != modeDetect
	var readErr error
	for {
		it, err := rd.next()
		if !modeKnown && rd.mode != modeDetect {
			r.tr.setMode(rd.mode)
			modeKnown = true
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		ok, err := p.take(it)
		if err != nil {
			p.flush()
			return err
		}
		if !ok {
			return nil
		}
	}
	ok, err := p.release()
	if err != nil {
		p.flush()
		return err
	}
	if ok {
		p.flush()
	}
	return readErr
}

// take routes one event: into the current batch, or aside while it may belong to a range
// acknowledged before. false: the send halted.
func (p *producer) take(it item) (bool, error) {
	for len(p.skip) > 0 && p.skip[0].Last < it.ord {
		p.r.tr.reached(p.skip[0].First)
		p.skip = p.skip[1:]
	}
	if len(p.skip) == 0 || it.ord < p.skip[0].First {
		return p.add(it)
	}
	if it.raw != nil {
		it.raw = bytes.Clone(it.raw)
		p.pendCRC = crc32.Update(p.pendCRC, castagnoli, it.raw)
	}
	p.pending = append(p.pending, it)
	if it.ord < p.skip[0].Last {
		return true, nil
	}
	rg := p.skip[0]
	p.skip = p.skip[1:]
	p.r.tr.reached(rg.First)
	if p.pending[0].ord != rg.First || p.pendCRC != rg.CRC {
		p.r.s.out.println(fmt.Sprintf("lines %d–%d changed since they were acknowledged: sending them again", p.pending[0].line, it.line))
		return p.release()
	}
	if !p.flush() {
		return false, nil
	}
	b := &batch{first: rg.First, last: rg.Last, crc: rg.CRC, end: it.end, bytes: it.end.Offset - p.last.Offset}
	for _, e := range p.pending {
		if e.raw != nil {
			b.skipped++
		}
	}
	p.last = it.end
	p.pending, p.pendCRC = p.pending[:0], 0
	return p.emit(b), nil
}

// release gives the events set aside to batches after all.
func (p *producer) release() (bool, error) {
	pending := p.pending
	p.pending, p.pendCRC = nil, 0
	for _, it := range pending {
		if ok, err := p.add(it); !ok || err != nil {
			return ok, err
		}
	}
	return true, nil
}

func (p *producer) add(it item) (bool, error) {
	cfg := p.r.s.cfg
	if it.problem != "" {
		p.r.s.out.println(fmt.Sprintf("line %d: rejected: %s", it.line, it.problem))
		if !cfg.KeepGoing {
			p.r.stopped.CompareAndSwap(0, it.line)
			p.r.tr.rejected.Add(1)
			return false, errRejected
		}
		if p.cur == nil {
			p.start(it.ord)
		}
		p.cur.local++
	} else {
		if p.cur != nil && len(p.cur.body)+len(it.raw)+2 > cfg.MaxBytes {
			if !p.flush() {
				return false, nil
			}
		}
		if p.cur == nil {
			p.start(it.ord)
		}
		b := p.cur
		if len(b.spans) > 0 {
			b.body = append(b.body, ',')
		}
		from := len(b.body)
		b.body = append(b.body, it.raw...)
		b.spans = append(b.spans, [2]int{from, len(b.body)})
		b.lines = append(b.lines, it.line)
		b.ords = append(b.ords, it.ord)
		b.crc = crc32.Update(b.crc, castagnoli, it.raw)
	}
	p.cur.last = it.ord
	p.cur.bytes += it.end.Offset - p.last.Offset
	p.cur.end = it.end
	p.last = it.end
	if len(p.cur.spans) == cfg.Batch {
		return p.flush(), nil
	}
	return true, nil
}

func (p *producer) start(first int64) {
	p.cur = &batch{first: first, body: make([]byte, 1, 64<<10)}
	p.cur.body[0] = '['
}

func (p *producer) flush() bool {
	if p.cur == nil {
		return true
	}
	b := p.cur
	p.cur = nil
	return p.emit(b)
}

// emit numbers b and hands it to the workers; a batch with nothing to send (events rejected
// here, or acknowledged before) is complete at once.
func (p *producer) emit(b *batch) bool {
	if p.r.halted() {
		return false
	}
	b.seq = p.seq
	p.seq++
	p.r.tr.register(b)
	if len(b.spans) == 0 {
		p.r.tr.complete(b, 0, 0)
		return true
	}
	b.body = append(b.body, ']')
	select {
	case p.work <- b:
		return true
	case <-p.r.halt:
		return false
	}
}

// deliver sends b and records the outcome; a batch whose outcome is unknown (the send was
// aborted) is not recorded, so a re-run sends it again.
func (r *sendRun) deliver(b *batch) {
	idx := make([]int, len(b.spans))
	for i := range idx {
		idx[i] = i
	}
	acked, rejected, err := r.sendEvents(b, idx)
	if err != nil {
		if r.reqCtx.Err() == nil {
			r.fail(err)
		}
		return
	}
	if len(rejected) == 0 || r.s.cfg.KeepGoing {
		r.tr.complete(b, acked, len(rejected))
		return
	}
	// Stopping at the first rejected event: what precedes it was acknowledged, the rest
	// was not sent; record the former, so a re-run after the fix starts at that event.
	firstBad := slices.Min(rejected)
	r.stopped.CompareAndSwap(0, b.lines[firstBad])
	r.tr.sent.Add(int64(acked))
	r.tr.rejected.Add(int64(len(rejected)))
	if firstBad > 0 {
		var crc uint32
		for _, sp := range b.spans[:firstBad] {
			crc = crc32.Update(crc, castagnoli, b.body[sp[0]:sp[1]])
		}
		r.tr.partial(b.seq, doneRange{First: b.first, Last: b.ords[firstBad] - 1, CRC: crc})
	}
	r.stop()
}

// sendEvents sends the events idx of b (indices into b.spans) and returns how many were
// acknowledged and which were rejected, each reported already. Without --keep-going it sends
// nothing after the first rejected event.
func (r *sendRun) sendEvents(b *batch, idx []int) (int, []int, error) {
	body := b.body
	if len(idx) != len(b.spans) {
		body = b.subset(idx)
	}
	err := r.post(body)
	var apiErr *client.APIError
	switch {
	case err == nil:
		return len(idx), nil, nil
	case !errors.As(err, &apiErr):
		return 0, nil, err
	case apiErr.Status == http.StatusRequestEntityTooLarge && namesEvents(apiErr):
		// Events over the bus's payload limit: the server named them, and resending them can
		// never succeed. They are rejected like invalid ones; the rest goes again without them.
		return r.rejectNamed(b, idx, apiErr)
	case apiErr.Status == http.StatusRequestEntityTooLarge && len(idx) == 1:
		r.s.out.println(fmt.Sprintf("line %d: rejected: is larger than the server accepts (413)", b.lines[idx[0]]))
		return 0, idx, nil
	case apiErr.Status == http.StatusRequestEntityTooLarge:
		h := len(idx) / 2
		a1, r1, err := r.sendEvents(b, idx[:h])
		if err != nil || (len(r1) > 0 && !r.s.cfg.KeepGoing) {
			return a1, r1, err
		}
		a2, r2, err := r.sendEvents(b, idx[h:])
		return a1 + a2, append(r1, r2...), err
	case apiErr.Status == http.StatusBadRequest:
		if !namesEvents(apiErr) {
			return 0, nil, err // about no event: the request itself is wrong
		}
		return r.rejectNamed(b, idx, apiErr)
	default:
		return 0, nil, err
	}
}

// namesEvents reports whether a problem points at events of the batch by index.
func namesEvents(e *client.APIError) bool {
	return slices.ContainsFunc(e.Errors, func(p api.InvalidParam) bool { return p.Index != nil })
}

// rejectNamed reports the events a 400 or 413 names as rejected, by line, and sends the
// others of idx again without them (without --keep-going, only those before the first).
func (r *sendRun) rejectNamed(b *batch, idx []int, apiErr *client.APIError) (int, []int, error) {
	bad := r.reportRejected(b, idx, apiErr)
	if len(bad) == 0 { // indices outside the batch: nothing to single out
		return 0, nil, apiErr
	}
	firstBad := slices.Index(bad, true)
	var rest, rejected []int
	for i, e := range idx {
		switch {
		case bad[i]:
			rejected = append(rejected, e)
		case r.s.cfg.KeepGoing || i < firstBad:
			rest = append(rest, e)
		}
	}
	if len(rest) == 0 {
		return 0, rejected, nil
	}
	a, r2, err := r.sendEvents(b, rest)
	return a, append(rejected, r2...), err
}

// reportRejected prints each rejected event's problems by input line and returns the
// positions (in idx) of the rejected events, or nil when no problem names an event.
// Pointers are into the event ("/data/role"), with the event's index beside them.
func (r *sendRun) reportRejected(b *batch, idx []int, e *client.APIError) []bool {
	bad := make([]bool, len(idx))
	found := false
	type report struct {
		line int64
		msg  string
	}
	var reports []report
	for _, p := range e.Errors {
		if p.Index == nil || *p.Index < 0 || *p.Index >= len(idx) {
			continue
		}
		i := *p.Index
		bad[i], found = true, true
		pointer := p.Pointer
		if pointer == "" {
			pointer = "(the event)"
		}
		line := b.lines[idx[i]]
		reports = append(reports, report{line, fmt.Sprintf("line %d: rejected: %s %s", line, pointer, p.Detail)})
	}
	slices.SortStableFunc(reports, func(a, b report) int { return int(a.line - b.line) })
	for _, rep := range reports {
		r.s.out.println(rep.msg)
	}
	if !found {
		return nil
	}
	return bad
}

// subset is a batch body of some of b's events.
func (b *batch) subset(idx []int) []byte {
	n := 2
	for _, i := range idx {
		n += b.spans[i][1] - b.spans[i][0] + 1
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for k, i := range idx {
		if k > 0 {
			out = append(out, ',')
		}
		out = append(out, b.body[b.spans[i][0]:b.spans[i][1]]...)
	}
	return append(out, ']')
}

// post sends one batch body, retrying what may succeed later: 503 and 429 (after the
// server's Retry-After), other 5xx and network errors (after a back-off). Retrying is safe:
// JetStream dedupes on the event ids.
func (r *sendRun) post(body []byte) error {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(r.reqCtx, r.s.cfg.Timeout)
		resp, err := r.s.client.Do(ctx, client.Request{Method: http.MethodPost, Path: "/v1/events", ContentType: events.MediaTypeBatch, Body: body})
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			cancel()
			return nil
		}
		cancel()
		if r.reqCtx.Err() != nil {
			return context.Cause(r.reqCtx)
		}
		wait, retry := r.retryAfter(err, attempt)
		if !retry {
			return err
		}
		if attempt >= r.s.cfg.Retries {
			return fmt.Errorf("giving up after %d attempts: %w", attempt+1, err)
		}
		r.s.out.println(fmt.Sprintf("retrying a batch in %s: %v", wait.Round(time.Millisecond), err))
		if err := r.s.sleep(r.reqCtx, wait); err != nil {
			return err
		}
	}
}

func (r *sendRun) retryAfter(err error, attempt int) (time.Duration, bool) {
	var apiErr *client.APIError
	switch {
	case errors.As(err, &apiErr):
		if !apiErr.Temporary() {
			return 0, false
		}
		if apiErr.RetryAfter > 0 {
			return min(apiErr.RetryAfter, maxRetryAfter), true
		}
		return r.s.backoff(attempt), true
	case errors.Is(err, client.ErrUnreachable), errors.Is(err, context.DeadlineExceeded):
		return r.s.backoff(attempt), true
	}
	return 0, false
}

// ----------------------------------------------------------------------------------------
// Progress.

// meter shows progress on stderr: a bar with events/s on a terminal, a plain line every few
// seconds otherwise; reports of rejected events go through it so they do not tear the bar.
type meter struct {
	w        io.Writer
	mu       sync.Mutex
	bar      *progressbar.ProgressBar
	mode     string
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}
}

func (m *meter) start(mode string, tty func(io.Writer) bool, size, base int64, tr *tracker) {
	if mode == "auto" {
		mode = "plain"
		if tty(m.w) {
			mode = "bar"
		}
	}
	m.mode = mode
	if mode == "none" {
		return
	}
	if m.interval == 0 {
		m.interval = 5 * time.Second
		if mode == "bar" {
			m.interval = 250 * time.Millisecond
		}
	}
	if mode == "bar" {
		total := int64(-1)
		if size >= 0 {
			total = size
		}
		m.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(m.w),
			progressbar.OptionSetDescription("sending"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			// No spinner goroutine: it would draw concurrently with println's Clear.
			progressbar.OptionSetSpinnerChangeInterval(0),
		)
		_ = m.bar.Set64(base)
	}
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	go m.loop(tr, base)
}

func (m *meter) loop(tr *tracker, base int64) {
	defer close(m.done)
	t := time.NewTicker(m.interval)
	defer t.Stop()
	type sample struct {
		at time.Time
		n  int64
	}
	window := []sample{{time.Now(), 0}}
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			n := tr.sent.Load()
			window = append(window, sample{now, n})
			for len(window) > 2 && now.Sub(window[1].at) >= 5*time.Second {
				window = window[1:]
			}
			rate := float64(n-window[0].n) / now.Sub(window[0].at).Seconds()
			m.mu.Lock()
			if m.bar != nil {
				m.bar.Describe(fmt.Sprintf("%d events, %.0f events/s", n, rate))
				_ = m.bar.Set64(base + tr.bytes.Load())
			} else {
				fmt.Fprintf(m.w, "sent %d events (%.0f events/s), %d rejected\n", n, rate, tr.rejected.Load())
			}
			m.mu.Unlock()
		}
	}
}

func (m *meter) println(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bar != nil {
		_ = m.bar.Clear()
	}
	fmt.Fprintln(m.w, s)
}

func (m *meter) finish() {
	if m.stop == nil {
		return
	}
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bar != nil {
		_ = m.bar.Clear()
		m.bar = nil
	}
}
