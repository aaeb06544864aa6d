package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/client"
)

// ---- the reader ----

type readItem struct {
	Ord     int64
	Line    int64
	Raw     string
	Problem string
}

func readAll(t *testing.T, r *eventReader) ([]readItem, []item, error) {
	t.Helper()
	var out []readItem
	var full []item
	for {
		it, err := r.next()
		if err == io.EOF {
			return out, full, nil
		}
		if err != nil {
			return out, full, err
		}
		out = append(out, readItem{it.ord, it.line, string(it.raw), it.problem})
		it.raw = bytes.Clone(it.raw)
		full = append(full, it)
	}
}

func TestReaderDetectsFormatsAndNumbersLines(t *testing.T) {
	tests := []struct {
		name  string
		input string
		mode  inputMode
		want  []readItem
	}{
		{
			name:  "ndjson with blank lines and CRLF",
			input: "{\"id\":\"a\"}\n\n{\"id\":\"b\"}\r\n  \n{\"id\":\"c\"}",
			mode:  modeNDJSON,
			want:  []readItem{{0, 1, `{"id":"a"}`, ""}, {1, 3, `{"id":"b"}`, ""}, {2, 5, `{"id":"c"}`, ""}},
		},
		{
			name:  "ndjson: each bad line alone, the next one still read",
			input: "{\"id\":\"a\"}\n{\"id\": }\n\"text\"\n{\"id\":\"x\n[1]\n{\"id\":\"b\"}\n",
			mode:  modeNDJSON,
			want: []readItem{
				{0, 1, `{"id":"a"}`, ""},
				{1, 2, "", "is not valid JSON"},
				{2, 3, "", "must be a JSON object: one structured CloudEvent"},
				{3, 4, "", "is not valid JSON"},
				{4, 5, "", "must be a JSON object: one structured CloudEvent"},
				{5, 6, `{"id":"b"}`, ""},
			},
		},
		{
			name:  "ndjson after a byte order mark",
			input: "\xEF\xBB\xBF{\"id\":\"a\"}\n{\"id\":\"b\"}\n",
			mode:  modeNDJSON,
			want:  []readItem{{0, 1, `{"id":"a"}`, ""}, {1, 2, `{"id":"b"}`, ""}},
		},
		{
			name:  "array on one line",
			input: `[{"id":"a"},{"id":"b"}]`,
			mode:  modeArray,
			want:  []readItem{{0, 1, `{"id":"a"}`, ""}, {1, 1, `{"id":"b"}`, ""}},
		},
		{
			name:  "array pretty-printed, brackets and quotes inside strings",
			input: "[\n  {\"id\": \"a\", \"x\": \"]}\\\"{[\"},\n  {\n    \"id\": \"b\"\n  }\n]\n",
			mode:  modeArray,
			want:  []readItem{{0, 2, `{"id": "a", "x": "]}\"{["}`, ""}, {1, 3, "{\n    \"id\": \"b\"\n  }", ""}},
		},
		{
			name:  "array with elements that are not events",
			input: `[{"id":"a"}, 42, "s", {"id":"b"}, true]`,
			mode:  modeArray,
			want: []readItem{
				{0, 1, `{"id":"a"}`, ""},
				{1, 1, "", "must be a JSON object: one structured CloudEvent"},
				{2, 1, "", "must be a JSON object: one structured CloudEvent"},
				{3, 1, `{"id":"b"}`, ""},
				{4, 1, "", "must be a JSON object: one structured CloudEvent"},
			},
		},
		{
			name:  "one pretty-printed object",
			input: "{\n  \"id\": \"a\"\n}\n",
			mode:  modeJSON,
			want:  []readItem{{0, 1, "{\n  \"id\": \"a\"\n}", ""}},
		},
		{
			name:  "pretty-printed objects one after another",
			input: "{\n \"id\": \"a\"\n}\n{\n \"id\": \"b\"\n}{\"id\":\"c\"}",
			mode:  modeJSON,
			want:  []readItem{{0, 1, "{\n \"id\": \"a\"\n}", ""}, {1, 4, "{\n \"id\": \"b\"\n}", ""}, {2, 6, `{"id":"c"}`, ""}},
		},
		{name: "empty input", input: "", mode: modeDetect},
		{name: "only blanks", input: " \n\t\n", mode: modeDetect},
		{name: "empty array", input: "[ ]\n", mode: modeArray},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newEventReader(strings.NewReader(tt.input), position{}, modeDetect, 1<<20)
			got, _, err := readAll(t, r)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("items\n got %+v\nwant %+v", got, tt.want)
			}
			if r.mode != tt.mode {
				t.Fatalf("mode = %q, want %q", r.mode, tt.mode)
			}
		})
	}
}

func TestReaderStopsAtInputItCannotDelimit(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		before   int // events read before the error
		line     int64
		contains string
	}{
		{"array not closed", "[\n{\"id\":\"a\"},\n", 1, 3, "not closed"},
		{"element not closed", "[\n{\"id\":\"a\"},\n{\"id\":\"b\"\n", 1, 3, "not closed"},
		{"missing comma", "[{\"id\":\"a\"}\n{\"id\":\"b\"}]", 1, 2, "comma"},
		{"trailing comma", "[{\"id\":\"a\"},\n]", 1, 2, "comma"},
		{"something after the array", "[{\"id\":\"a\"}]\n{}", 1, 2, "follows the end"},
		{"object not closed", "{\n\"id\":\"a\"\n}\n{\n\"id\": \"b\"\n", 1, 4, "not closed"},
		{"stray bracket", "{\n\"id\":\"a\"\n}\n]", 1, 4, "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := readAll(t, newEventReader(strings.NewReader(tt.input), position{}, modeDetect, 1<<20))
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an *InputError", err)
			}
			if ie.Line != tt.line || !strings.Contains(ie.Reason, tt.contains) {
				t.Fatalf("err = %v, want line %d and %q", err, tt.line, tt.contains)
			}
			if len(got) != tt.before {
				t.Fatalf("read %d events before the error, want %d", len(got), tt.before)
			}
		})
	}
}

func TestReaderRejectsEventsOverTheSizeLimitAndReadsOn(t *testing.T) {
	big := `{"id":"big","pad":"` + strings.Repeat("x", 3000) + `"}`
	for _, input := range []string{
		"{\"id\":\"a\"}\n" + big + "\n{\"id\":\"b\"}\n",
		"[{\"id\":\"a\"},\n" + big + ",\n{\"id\":\"b\"}]",
	} {
		r := newEventReader(strings.NewReader(input), position{}, modeDetect, 1000)
		got, _, err := readAll(t, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Raw != `{"id":"a"}` || got[2].Raw != `{"id":"b"}` || got[2].Line != 3 {
			t.Fatalf("%s: items %+v", r.mode, got)
		}
		if got[1].Raw != "" || !strings.Contains(got[1].Problem, "larger") {
			t.Fatalf("%s: the big event = %+v, want rejected as too large", r.mode, got[1])
		}
	}
}

// endless is an input that never ends: reading it must not try to hold it whole.
type endless struct {
	array bool
	n     int
	buf   []byte
}

func (e *endless) Read(p []byte) (int, error) {
	if len(e.buf) == 0 {
		if e.array && e.n == 0 {
			e.buf = append(e.buf, "[\n"...)
		}
		sep := "\n"
		if e.array {
			sep = ",\n"
		}
		e.buf = fmt.Appendf(e.buf, `{"id":"e%d","data":{"pad":"%s"}}%s`, e.n, strings.Repeat("p", 200), sep)
		e.n++
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}

func TestReaderStreamsAnEndlessInput(t *testing.T) {
	for _, array := range []bool{false, true} {
		r := newEventReader(&endless{array: array}, position{}, modeDetect, 1<<20)
		for i := range 5000 { // past the 1 MiB read buffer: the reader refills it mid-stream
			it, err := r.next()
			if err != nil {
				t.Fatalf("array=%v event %d: %v", array, i, err)
			}
			if want := fmt.Sprintf(`{"id":"e%d",`, i); !bytes.HasPrefix(it.raw, []byte(want)) || it.line != int64(i+1)+b2i(array) {
				t.Fatalf("array=%v event %d: line %d %.20q", array, i, it.line, it.raw)
			}
		}
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// A reader started at the end position of any event reads exactly what a reader from the
// start reads after it: the checkpoint needs no more than that position.
func TestReaderResumesAtEveryEventBoundary(t *testing.T) {
	var long strings.Builder
	for i := range 40 {
		fmt.Fprintf(&long, "{\"id\":\"e%d\",\"pad\":\"%s\"}\n", i, strings.Repeat("x", i*9))
	}
	inputs := map[string]string{
		"long ndjson":   long.String(),
		"ndjson":        "{\"id\":\"a\"}\n\n{\"id\":\"b\"}\r\n{bad\n{\"id\":\"c\"}\n",
		"array pretty":  "[\n  {\"id\": \"a\"},\n  42,\n  {\n \"id\": \"b\"\n  }\n,{\"id\":\"c\"}\n]\n",
		"array on line": `[{"id":"a"},{"id":"b"},{"id":"c"}]`,
		"json values":   "{\n\"id\":\"a\"\n}\n\n{\n\"id\":\"b\"\n} {\"id\":\"c\"}\n",
	}
	for name, input := range inputs {
		t.Run(name, func(t *testing.T) {
			r := newEventReader(strings.NewReader(input), position{}, modeDetect, 1<<20)
			all, full, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			for k, it := range full {
				at := it.end
				if got, want := string(at.tailBytes()), input[max(0, at.Offset-tailSize):at.Offset]; got != want {
					t.Fatalf("after event %d the tail is %q, want the input's %q", k, got, want)
				}
				rest, _, err := readAll(t, newEventReader(strings.NewReader(input[at.Offset:]), at, r.mode, 1<<20))
				if err != nil {
					t.Fatalf("resumed after event %d: %v", k, err)
				}
				if !slices.Equal(rest, all[k+1:]) {
					t.Fatalf("resumed after event %d:\n got %+v\nwant %+v", k, rest, all[k+1:])
				}
			}
		})
	}
}

// ---- batching and the checkpoint's bookkeeping ----

func testRun(cfg sendConfig) *sendRun {
	return &sendRun{
		s:    &sender{cfg: cfg, out: &meter{w: io.Discard}},
		tr:   newTracker(position{Line: 1}, nil),
		halt: make(chan struct{}),
	}
}

func TestBatchesStayWithinCountAndBytes(t *testing.T) {
	var in strings.Builder
	var want []string
	for i := range 50 {
		ev := fmt.Sprintf(`{"id":"e%02d","pad":"%s"}`, i, strings.Repeat("x", i*7))
		want = append(want, ev)
		in.WriteString(ev + "\n")
	}
	tests := []struct {
		name            string
		batch, maxBytes int
	}{
		{"by count", 7, 1 << 20},
		{"by bytes", 1000, 1100},
		{"one per batch", 1, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRun(sendConfig{Batch: tt.batch, MaxBytes: tt.maxBytes, KeepGoing: true})
			work := make(chan *batch, 100)
			err := r.produce(newEventReader(strings.NewReader(in.String()), position{}, modeDetect, tt.maxBytes-2), nil, work)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var lines []int64
			var seq int64
			for b := range work {
				if b.seq != seq {
					t.Fatalf("batch seq %d, want %d", b.seq, seq)
				}
				seq++
				var evs []json.RawMessage
				if err := json.Unmarshal(b.body, &evs); err != nil {
					t.Fatalf("batch %d is not a JSON array: %v", b.seq, err)
				}
				if len(evs) > tt.batch || len(b.body) > tt.maxBytes {
					t.Fatalf("batch %d: %d events, %d bytes; limits %d, %d", b.seq, len(evs), len(b.body), tt.batch, tt.maxBytes)
				}
				for _, e := range evs {
					got = append(got, string(e))
				}
				lines = append(lines, b.lines...)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("events out of order or lost:\n got %q\nwant %q", got, want)
			}
			for i, l := range lines {
				if l != int64(i+1) {
					t.Fatalf("event %d has line %d", i, l)
				}
			}
		})
	}
}

func TestTrackerKeepsTheContiguousPrefixUnderOutOfOrderCompletion(t *testing.T) {
	tr := newTracker(position{Line: 1}, nil)
	tr.setMode(modeNDJSON)
	var bs []*batch
	for i := range 5 {
		b := &batch{seq: int64(i), first: int64(i * 10), last: int64(i*10 + 9), crc: uint32(100 + i),
			end: position{Offset: int64(i+1) * 1000, Line: int64(i+1)*10 + 1, Events: int64(i+1) * 10}}
		tr.register(b)
		bs = append(bs, b)
	}
	check := func(step string, offset int64, done ...int) {
		t.Helper()
		cp, _ := tr.snapshot("x")
		var got []int
		for _, r := range cp.Done {
			got = append(got, int(r.First/10))
			if r.CRC != uint32(100+r.First/10) || r.Last != r.First+9 {
				t.Fatalf("%s: range %+v", step, r)
			}
		}
		if cp.Offset != offset || !slices.Equal(got, done) {
			t.Fatalf("%s: prefix at %d with ranges %v, want %d with %v", step, cp.Offset, got, offset, done)
		}
	}
	check("nothing acknowledged", 0)
	tr.complete(bs[2], 10, 0)
	tr.complete(bs[4], 10, 0)
	check("2 and 4", 0, 2, 4)
	tr.complete(bs[0], 10, 0)
	check("0, 2 and 4", 1000, 2, 4)
	tr.complete(bs[1], 10, 0)
	check("0, 1, 2 and 4", 3000, 4)
	tr.partial(3, doneRange{First: 30, Last: 34, CRC: 103})
	cp, _ := tr.snapshot("x")
	if len(cp.Done) != 2 || cp.Done[0] != (doneRange{30, 34, 103}) {
		t.Fatalf("a partly acknowledged batch: ranges %+v", cp.Done)
	}
	tr.complete(bs[3], 10, 0)
	check("all", 5000)
	if cp, _ := tr.snapshot("x"); cp.Events != 50 || cp.Line != 51 || cp.Sent != 50 {
		t.Fatalf("final checkpoint %+v", cp)
	}
}

// ---- sending, against test doubles of the HTTP contract ----

type fakeIngest struct {
	t      *testing.T
	mu     sync.Mutex
	ids    []string // stored, in order of storing
	bodies [][]byte
	reqs   int
	// answer decides, per request (from 1), what to do; nil stores and answers 202.
	answer func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool
	srv    *httptest.Server
}

func newFakeIngest(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool) *fakeIngest {
	f := &fakeIngest{t: t, answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/events" || r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer tok" ||
			r.Header.Get("Content-Type") != "application/cloudevents-batch+json" {
			http.Error(w, "wrong request", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var evs []struct {
			ID   string `json:"id"`
			Data struct {
				Role string `json:"role"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &evs); err != nil {
			http.Error(w, "not a batch", http.StatusBadRequest)
			return
		}
		ids := make([]string, len(evs))
		for i, e := range evs {
			ids[i] = e.ID
			if e.Data.Role == "nobody" {
				ids[i] = "bad:" + e.ID // the test double's notion of an invalid event
			}
		}
		f.mu.Lock()
		f.reqs++
		n := f.reqs
		f.bodies = append(f.bodies, body)
		f.mu.Unlock()
		if f.answer != nil && f.answer(n, w, r, ids) {
			return
		}
		f.mu.Lock()
		f.ids = append(f.ids, ids...)
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"accepted":%d}`, len(ids))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIngest) stored() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ids)
}

func problem(w http.ResponseWriter, status int, retryAfter string, errs ...api.InvalidParam) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": "as the test says", "errors": errs})
}

func writeEvents(t *testing.T, n int, bad map[int]bool) (string, []string) {
	t.Helper()
	var b strings.Builder
	var ids []string
	for i := range n {
		id := fmt.Sprintf("e%05d", i)
		role := "individual"
		if bad[i] {
			role = "nobody"
		} else {
			ids = append(ids, id)
		}
		fmt.Fprintf(&b, `{"specversion":"1.0","id":"%s","source":"test","type":"lethe.contact.created.v1","data":{"role":"%s"}}`+"\n", id, role)
	}
	path := filepath.Join(t.TempDir(), "history.ndjson")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, ids
}

// syncBuffer is a bytes.Buffer safe for the writes of concurrent workers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type waits struct {
	mu  sync.Mutex
	got []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.got = append(w.got, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) list() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.got)
}

// testSend runs a send of path against url the way the command does, with retries that
// record their waits instead of waiting.
func testSend(ctx context.Context, t *testing.T, url, path string, cfg sendConfig, w *waits) (sendResult, string, error) {
	t.Helper()
	def := sendConfig{Server: url, Token: "tok", Input: path, Batch: 10, MaxBytes: defaultMaxBytes, Concurrency: 4,
		Progress: "none", Retries: 5, Timeout: 30 * time.Second}
	if cfg.Batch != 0 {
		def.Batch = cfg.Batch
	}
	if cfg.Concurrency != 0 {
		def.Concurrency = cfg.Concurrency
	}
	if cfg.Retries != 0 {
		def.Retries = cfg.Retries
	}
	if cfg.Progress != "" {
		def.Progress = cfg.Progress
	}
	def.KeepGoing, def.Restart, def.State = cfg.KeepGoing, cfg.Restart, cfg.State
	c, err := client.New(def.Server, def.Token)
	if err != nil {
		t.Fatal(err)
	}
	in, err := openSendInput(def, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.close()
	var stderr syncBuffer
	s := newSender(def, c, &stderr)
	if w == nil {
		w = &waits{}
	}
	s.sleep = w.sleep
	s.backoff = func(n int) time.Duration { return time.Duration(n+1) * time.Millisecond }
	s.grace = 200 * time.Millisecond
	res, err := s.send(ctx, in)
	return res, stderr.String(), err
}

func TestSendRetriesUnavailableHonouringRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		wantWaits  []time.Duration
	}{
		{"Retry-After in seconds", "7", []time.Duration{7 * time.Second, 7 * time.Second}},
		{"Retry-After as a date", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), []time.Duration{maxRetryAfter, maxRetryAfter}},
		{"no Retry-After: back-off", "", []time.Duration{time.Millisecond, 2 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIngest(t, func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool {
				if n <= 2 {
					problem(w, http.StatusServiceUnavailable, tt.retryAfter)
					return true
				}
				return false
			})
			path, ids := writeEvents(t, 5, nil)
			w := &waits{}
			res, _, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{}, w)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.stored(), ids) || res.Sent != 5 {
				t.Fatalf("stored %v (sent %d), want %v", f.stored(), res.Sent, ids)
			}
			if f.reqs != 3 || !bytes.Equal(f.bodies[0], f.bodies[2]) {
				t.Fatalf("%d requests, want 3 with the same body", f.reqs)
			}
			if got := w.list(); !slices.Equal(got, tt.wantWaits) {
				t.Fatalf("waited %v, want %v", got, tt.wantWaits)
			}
		})
	}
}

func TestSendRetriesNetworkErrors(t *testing.T) {
	f := newFakeIngest(t, func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool {
		if n <= 2 { // the connection drops before any answer
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return true
		}
		return false
	})
	path, ids := writeEvents(t, 5, nil)
	w := &waits{}
	if _, _, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{}, w); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.stored(), ids) || len(w.list()) != 2 {
		t.Fatalf("stored %v after waits %v, want every event after two back-offs", f.stored(), w.list())
	}
}

func TestSendStopsOnErrorsThatRetryingCannotFix(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		retries  int
		wantReqs int
		contains string
	}{
		{"unauthorised", http.StatusUnauthorized, 5, 1, "401"},
		{"forbidden", http.StatusForbidden, 5, 1, "403"},
		{"still unavailable after the retries", http.StatusServiceUnavailable, 2, 3, "giving up after 3 attempts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIngest(t, func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool {
				problem(w, tt.status, "")
				return true
			})
			path, _ := writeEvents(t, 5, nil)
			_, _, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{Retries: tt.retries}, nil)
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tt.status || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("err = %v, want the %d problem mentioning %q", err, tt.status, tt.contains)
			}
			if f.reqs != tt.wantReqs {
				t.Fatalf("%d requests, want %d", f.reqs, tt.wantReqs)
			}
			if _, err := os.Stat(path + ".send-progress"); err == nil {
				t.Fatal("a checkpoint was written though nothing was acknowledged")
			}
		})
	}
}

func TestSendSplitsABatchTheServerFindsTooLarge(t *testing.T) {
	f := newFakeIngest(t, func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool {
		if len(ids) > 3 || slices.Contains(ids, "e00007") {
			problem(w, http.StatusRequestEntityTooLarge, "")
			return true
		}
		return false
	})
	path, ids := writeEvents(t, 10, nil)
	res, stderr, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{KeepGoing: true}, nil)
	if !errors.Is(err, errRejected) || res.Rejected != 1 || !strings.Contains(stderr, "line 8: rejected: is larger than the server accepts") {
		t.Fatalf("err = %v, rejected %d, stderr %q: want line 8 rejected as too large", err, res.Rejected, stderr)
	}
	stored := f.stored()
	slices.Sort(stored)
	if want := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "e00007" }); !slices.Equal(stored, want) {
		t.Fatalf("stored %v, want %v", stored, want)
	}
}

// rejecting answers like ingest: a 400 naming by index every event whose role is "nobody".
func rejecting(n int, w http.ResponseWriter, r *http.Request, ids []string) bool {
	var bad []api.InvalidParam
	for i, id := range ids {
		if strings.HasPrefix(id, "bad:") {
			bad = append(bad, api.InvalidParam{Index: &i, Pointer: "/data/role", Detail: "must be one of individual, relay, …"})
		}
	}
	if len(bad) > 0 {
		problem(w, http.StatusBadRequest, "", bad...)
		return true
	}
	return false
}

func TestSendReportsRejectedEventsByLineAndKeepsGoing(t *testing.T) {
	f := newFakeIngest(t, rejecting)
	bad := map[int]bool{}
	for i := 3; i < 40; i += 7 {
		bad[i] = true
	}
	path, ids := writeEvents(t, 40, bad)
	res, stderr, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{KeepGoing: true}, nil)
	if !errors.Is(err, errRejected) {
		t.Fatalf("err = %v, want errRejected", err)
	}
	for i := range bad {
		if want := fmt.Sprintf("line %d: rejected: /data/role must be one of", i+1); !strings.Contains(stderr, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "nobody") {
		t.Fatal("a rejected event's value was printed")
	}
	stored := f.stored()
	slices.Sort(stored)
	if !slices.Equal(stored, ids) || res.Sent != int64(len(ids)) || res.Rejected != int64(len(bad)) {
		t.Fatalf("stored %d, sent %d, rejected %d; want %d, %d, %d", len(stored), res.Sent, res.Rejected, len(ids), len(ids), len(bad))
	}
}

func TestSendStopsAtTheFirstRejectedEventAndResumesThereAfterTheFix(t *testing.T) {
	f := newFakeIngest(t, rejecting)
	path, _ := writeEvents(t, 40, map[int]bool{17: true, 24: true})
	res, stderr, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{Concurrency: 1}, nil)
	if !errors.Is(err, errRejected) || !strings.Contains(err.Error(), "line 18") || !strings.Contains(stderr, "line 18: rejected") {
		t.Fatalf("err = %v, stderr %q: want a stop at line 18", err, stderr)
	}
	first := f.stored()
	if want := idsRange(0, 17); !slices.Equal(first, want) || res.Sent != 17 {
		t.Fatalf("stored %v, want exactly the events before line 18", first)
	}

	// The fix: the two bad lines become valid; a re-run sends from line 18 on, once.
	fixed, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.ReplaceAll(fixed, []byte(`"nobody"`), []byte(`"partner"`)), 0o600); err != nil {
		t.Fatal(err)
	}
	f.answer = nil
	res, _, err = testSend(context.Background(), t, f.srv.URL, path, sendConfig{Concurrency: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := idsRange(0, 40); !slices.Equal(f.stored(), want) || res.Sent != 23 {
		t.Fatalf("after the fix: sent %d, stored %v; want each of %d events once", res.Sent, f.stored(), len(want))
	}
}

func idsRange(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("e%05d", i))
	}
	return out
}

// An interrupted send, re-run, stores every event exactly once without help from the
// server's dedupe: the test double has none. One batch hangs until the interruption
// abandons it, so batches after it are acknowledged out of order and must be skipped.
func TestSendResumesAfterAnInterruptionWithoutDuplicates(t *testing.T) {
	const n = 1000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFakeIngest(t, func(_ int, w http.ResponseWriter, r *http.Request, ids []string) bool {
		switch ids[0] {
		case "e00020": // hangs until the client gives up on it
			<-r.Context().Done()
			return true
		case "e00300":
			cancel()
		}
		return false
	})
	path, ids := writeEvents(t, n, nil)
	res1, _, err := testSend(ctx, t, f.srv.URL, path, sendConfig{}, nil)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "re-run") {
		t.Fatalf("first run: err = %v, want interrupted", err)
	}
	first := f.stored()
	if len(first) == 0 || len(first) == n || slices.Contains(first, "e00020") || int64(len(first)) != res1.Sent {
		t.Fatalf("first run stored %d events (sent %d), want some, not e00020", len(first), res1.Sent)
	}
	cp, err := loadCheckpoint(path + ".send-progress")
	if err != nil || cp == nil || cp.Events != 20 || len(cp.Done) == 0 {
		t.Fatalf("checkpoint %+v (%v): want the prefix before e00020 and ranges beyond", cp, err)
	}

	f.answer = nil
	res2, stderr, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := f.stored()
	seen := map[string]int{}
	for _, id := range all {
		seen[id]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("event %s stored %d times", id, seen[id])
		}
	}
	if len(all) != n || res1.Sent+res2.Sent != n || res2.Skipped != int64(len(first)-20) {
		t.Fatalf("stored %d; sent %d + %d; skipped %d: want %d in all", len(all), res1.Sent, res2.Sent, res2.Skipped, n)
	}
	if !strings.Contains(stderr, "resuming "+path+" at line 21") {
		t.Fatalf("stderr %q: want the resume point", stderr)
	}

	// Once complete, a re-run sends nothing; lines appended later are sent alone.
	res3, _, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{}, nil)
	if err != nil || res3.Sent != 0 {
		t.Fatalf("re-run of a complete send: sent %d, err %v", res3.Sent, err)
	}
	fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintln(fh, `{"specversion":"1.0","id":"appended","source":"test","type":"lethe.contact.created.v1","data":{"role":"individual"}}`)
	fh.Close()
	res4, _, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{}, nil)
	if err != nil || res4.Sent != 1 || f.stored()[n] != "appended" {
		t.Fatalf("appended line: sent %d, err %v", res4.Sent, err)
	}
}

func TestSendRefusesACheckpointOfAnotherInput(t *testing.T) {
	f := newFakeIngest(t, nil)
	path, _ := writeEvents(t, 30, nil)
	if _, _, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(b, []byte("e00029"), []byte("x00029"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{}, nil)
	if !errors.Is(err, errCheckpointMismatch) || !strings.Contains(err.Error(), "--restart") {
		t.Fatalf("err = %v, want a checkpoint mismatch", err)
	}
	res, _, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{Restart: true}, nil)
	if err != nil || res.Sent != 30 {
		t.Fatalf("--restart: sent %d, err %v", res.Sent, err)
	}
}

func TestSendReadsStandardInputAndResumesItWithState(t *testing.T) {
	f := newFakeIngest(t, nil)
	path, ids := writeEvents(t, 25, nil)
	b, _ := os.ReadFile(path)
	state := filepath.Join(t.TempDir(), "stdin.progress")
	run := func() (string, error) {
		var stdout, stderr syncBuffer
		err := sendCommand(context.Background(), []string{"--progress", "none", "-", "--batch", "4", "--state", state},
			func(k string) string { return map[string]string{"LETHE_SERVER": f.srv.URL, "LETHE_TOKEN": "tok"}[k] },
			bytes.NewReader(b), &stdout, &stderr)
		return stdout.String(), err
	}
	out, err := run()
	stored := f.stored()
	slices.Sort(stored)
	if err != nil || !slices.Equal(stored, ids) {
		t.Fatalf("stdin: err %v, stored %v", err, f.stored())
	}
	if !regexp.MustCompile(`^sent 25 events in \S+ \(\d+ events/s\), 0 rejected\n$`).MatchString(out) {
		t.Fatalf("summary %q", out)
	}
	if out, err = run(); err != nil || !strings.HasPrefix(out, "sent 0 events") || len(f.stored()) != 25 {
		t.Fatalf("stdin again with --state: %q, %v, stored %d", out, err, len(f.stored()))
	}
}

func TestSendShowsProgressWhileSending(t *testing.T) {
	for _, mode := range []string{"plain", "bar"} {
		t.Run(mode, func(t *testing.T) {
			var stderr syncBuffer
			// The server holds the second batch until a progress line with a rate is out.
			f := newFakeIngest(t, func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool {
				if n == 2 {
					deadline := time.Now().Add(20 * time.Second)
					for !strings.Contains(stderr.String(), "events/s") && time.Now().Before(deadline) {
						time.Sleep(10 * time.Millisecond)
					}
				}
				return false
			})
			path, _ := writeEvents(t, 30, nil)
			c, _ := client.New(f.srv.URL, "tok")
			in, _ := openSendInput(sendConfig{Input: path}, nil)
			defer in.close()
			s := newSender(sendConfig{Batch: 10, MaxBytes: defaultMaxBytes, Concurrency: 1, Progress: mode, Timeout: time.Minute}, c, &stderr)
			s.out.interval = 20 * time.Millisecond
			if _, err := s.send(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			want := regexp.MustCompile(`sent \d+ events \(\d+ events/s\), 0 rejected`)
			if mode == "bar" {
				want = regexp.MustCompile(`\d+ events, \d+ events/s.*\|`)
			}
			if !want.MatchString(stderr.String()) {
				t.Fatalf("stderr %q lacks %s", stderr.String(), want)
			}
		})
	}
}

func TestParseSend(t *testing.T) {
	env := map[string]string{"LETHE_SERVER": "http://lethe:8080", "LETHE_TOKEN": "secret", "LETHE_CONCURRENCY": "8"}
	getenv := func(k string) string { return env[k] }
	c, err := parseSend([]string{"--batch", "500", "history.ndjson", "--keep-going", "--concurrency", "2"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server != "http://lethe:8080" || c.Token != "secret" || c.Input != "history.ndjson" || c.Batch != 500 || !c.KeepGoing || c.Concurrency != 2 {
		t.Fatalf("config %+v", c)
	}
	for _, args := range [][]string{{}, {"a", "b"}, {"--batch", "0", "f"}, {"--nope", "f"}, {"--progress", "loud", "f"}} {
		if _, err := parseSend(args, getenv, io.Discard); err == nil {
			t.Fatalf("%q parsed, want an error", args)
		}
	}
	if _, err := parseSend([]string{"-"}, getenv, io.Discard); err != nil {
		t.Fatalf("- for standard input: %v", err)
	}
}

// ---- end to end, against the real `lethe serve` ----

// serveInProcess runs `lethe serve` in-process on dir, as startServe does, for tests and
// benchmarks alike; it returns the HTTP URL, the NATS URL with the services' credentials and
// the development token.
func serveInProcess(tb testing.TB, dir string) (httpURL, natsURL, token string, stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	found := make(chan [3]string, 1)
	go func() {
		var got [3]string
		res := []*regexp.Regexp{
			regexp.MustCompile(`lethe listening on (http://\S+)`),
			regexp.MustCompile(`NATS listening on (nats://\S+)`),
			regexp.MustCompile(`LETHE_TOKEN=(\S+)`),
		}
		s := bufio.NewScanner(pr)
		sent := false
		for s.Scan() {
			for i, re := range res {
				if m := re.FindStringSubmatch(s.Text()); m != nil {
					got[i] = m[1]
				}
			}
			if !sent && got[0] != "" && got[1] != "" && got[2] != "" {
				found <- got
				sent = true
			}
		}
	}()
	done := make(chan error, 1)
	args := []string{"serve", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--data", dir, "--log-level", "error"}
	go func() {
		done <- run(ctx, args, func(string) string { return "" }, strings.NewReader(""), pw, io.Discard)
	}()
	select {
	case got := <-found:
		httpURL, natsURL, token = got[0], serviceURL(tb, got[1], dir), got[2]
	case err := <-done:
		cancel()
		tb.Fatalf("lethe serve ended before listening: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		tb.Fatal("lethe serve did not start within 2 minutes")
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
			pw.Close()
		})
		return err
	}
	tb.Cleanup(func() { _ = stop() })
	return httpURL, natsURL, token, stop
}

// writeHistory writes n valid events as NDJSON: contacts created with a profile, and
// orders placed by them, as an institution's history would hold.
func writeHistory(tb testing.TB, path string, n int) []string {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	base := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]string, 0, n)
	for i := range n {
		contact := fmt.Sprintf("c-%06d", i/2)
		at := base.Add(time.Duration(i) * time.Minute)
		id := fmt.Sprintf("hist-%07d", i)
		var d events.Data
		if i%2 == 0 {
			d = events.ContactCreated{Role: "individual", CreatedAt: at, Profile: events.Profile{
				Email: events.String(fmt.Sprintf("person%d@example.org", i)), FirstName: events.String("Ada"),
				LastName: events.String("Lovelace"), Phone: events.String("+33123456789"),
				Address: &events.Address{Line1: events.String("1 rue de la Paix"), Postcode: events.String("75002"),
					City: events.String("Paris"), Country: events.String("FR")},
			}}
		} else {
			d = events.OrderPlaced{OrderID: fmt.Sprintf("o-%06d", i), OrderedAt: at, ContactRole: "buyer",
				Items: []events.Item{{ProductID: "p-1", Dated: true, ValidAt: at.Add(30 * 24 * time.Hour),
					Beneficiary: &events.Beneficiary{FirstName: events.String("Ada"), LastName: events.String("Lovelace")}}}}
		}
		e, err := events.New("/backfill/test", "inst-a", contact, d, events.WithID(id), events.WithTime(at))
		if err != nil {
			tb.Fatal(err)
		}
		b, err := events.MarshalStructured(e)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(b)
		w.WriteByte('\n')
		ids = append(ids, id)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return ids
}

// storedIDs reads every event id in LETHE_ACTIVITY, with how often each is there.
func storedIDs(t *testing.T, natsURL string) map[string]int {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js := bustest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := js.Stream(ctx, bus.StreamActivity)
	if err != nil {
		t.Fatal(err)
	}
	total := st.CachedInfo().State.Msgs
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for read := uint64(0); read < total; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			seen[m.Headers().Get("ce-id")]++
			n++
		}
		if n == 0 {
			t.Fatalf("read %d of %d messages, then nothing", read, total)
		}
		read += uint64(n)
	}
	return seen
}

// gatedReader gives the first n bytes, then interrupts the send and fails as an
// interrupted read would.
type gatedReader struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
	ctx    context.Context
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		g.cancel()
		<-g.ctx.Done()
		return 0, g.ctx.Err()
	}
	if int64(len(p)) > g.n {
		p = p[:g.n]
	}
	n, err := g.r.Read(p)
	g.n -= int64(n)
	return n, err
}

var reSummary = regexp.MustCompile(`sent (\d+) events in \S+ \(\d+ events/s\), (\d+) rejected`)

func sentOf(t *testing.T, stdout string) int {
	t.Helper()
	m := reSummary.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no summary line in %q", stdout)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestSendEndToEndInterruptedThenResumedStoresEveryEventOnce(t *testing.T) {
	httpURL, natsURL, token, _ := serveInProcess(t, t.TempDir())
	dir := t.TempDir()
	path := filepath.Join(dir, "history.ndjson")
	ids := writeHistory(t, path, 1000)
	state := filepath.Join(dir, "history.state")
	env := map[string]string{"LETHE_SERVER": httpURL, "LETHE_TOKEN": token}
	getenv := func(k string) string { return env[k] }

	// First run: from standard input, interrupted midway through the file.
	fi, _ := os.Stat(path)
	f, _ := os.Open(path)
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out1, err1 syncBuffer
	err := sendCommand(ctx, []string{"--batch", "50", "--progress", "none", "--state", state, "-"}, getenv,
		&gatedReader{r: f, n: fi.Size() / 2, cancel: cancel, ctx: ctx}, &out1, &err1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, stderr %s", err, err1.String())
	}
	sent1 := sentOf(t, out1.String())
	if sent1 == 0 || sent1 >= len(ids) {
		t.Fatalf("interrupted run sent %d of %d", sent1, len(ids))
	}

	// Second run: the file itself, with the same state: it resumes and completes.
	var out2, err2 syncBuffer
	if err := sendCommand(context.Background(), []string{"--batch", "50", "--progress", "plain", "--state", state, path}, getenv, nil, &out2, &err2); err != nil {
		t.Fatalf("resumed run: %v\n%s", err, err2.String())
	}
	sent2 := sentOf(t, out2.String())
	if sent1+sent2 != len(ids) {
		t.Fatalf("sent %d then %d: the resumed run re-sent or lost events (want %d in all)", sent1, sent2, len(ids))
	}

	// Third run: nothing left to send.
	var out3 syncBuffer
	if err := sendCommand(context.Background(), []string{"--state", state, "--progress", "none", path}, getenv, nil, &out3, io.Discard); err != nil || sentOf(t, out3.String()) != 0 {
		t.Fatalf("re-run of a complete send: %v, %s", err, out3.String())
	}

	seen := storedIDs(t, natsURL)
	if len(seen) != len(ids) {
		t.Fatalf("LETHE_ACTIVITY holds %d distinct events, want %d", len(seen), len(ids))
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("event %s is stored %d times", id, seen[id])
		}
	}
}

func TestSendEndToEndReportsInvalidEventsByLine(t *testing.T) {
	httpURL, natsURL, token, _ := serveInProcess(t, t.TempDir())
	path := filepath.Join(t.TempDir(), "history.ndjson")
	writeHistory(t, path, 50)
	b, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(b), "\n")
	// Line 8 loses its institution, line 21 gets an unknown role: both stay in their batch.
	lines[7] = strings.Replace(lines[7], `"institution":"inst-a"`, `"institution":""`, 1)
	lines[20] = strings.Replace(lines[20], `"role":"individual"`, `"role":"nobody"`, 1)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	err := sendCommand(context.Background(), []string{"--server", httpURL, "--token", token, "--keep-going", "--batch", "30", "--progress", "none", path},
		func(string) string { return "" }, nil, &stdout, &stderr)
	if !errors.Is(err, errRejected) {
		t.Fatalf("err = %v, want errRejected", err)
	}
	for _, want := range []string{"line 8: rejected: /institution ", "line 21: rejected: /data/role "} {
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "nobody") || strings.Contains(stderr.String(), "example.org") {
		t.Fatalf("stderr shows event values:\n%s", stderr.String())
	}
	if m := reSummary.FindStringSubmatch(stdout.String()); m == nil || m[1] != "48" || m[2] != "2" {
		t.Fatalf("summary %q, want 48 sent and 2 rejected", stdout.String())
	}
	if seen := storedIDs(t, natsURL); len(seen) != 48 || seen["hist-0000007"] != 0 || seen["hist-0000020"] != 0 {
		t.Fatalf("LETHE_ACTIVITY holds %d events, want the 48 valid ones", len(seen))
	}
}

var sendEvents = flag.Int("send.events", 100_000, "events BenchmarkSend100k sends")

// BenchmarkSend100k sends -send.events (100,000) events from a file into a fresh in-process `lethe serve`
// (embedded NATS and store) per iteration, and reports events/s from file to JetStream.
func BenchmarkSend100k(b *testing.B) {
	n := *sendEvents
	path := filepath.Join(b.TempDir(), "history.ndjson")
	writeHistory(b, path, n)
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		httpURL, _, token, stop := serveInProcess(b, b.TempDir())
		var stdout, stderr syncBuffer
		b.StartTimer()
		began := time.Now()
		err := sendCommand(context.Background(), []string{"--server", httpURL, "--token", token, "--progress", "none", "--restart", "--state", filepath.Join(b.TempDir(), "state"), path},
			func(string) string { return "" }, nil, &stdout, &stderr)
		elapsed += time.Since(began)
		b.StopTimer()
		if err != nil {
			b.Fatalf("send: %v\n%s", err, stderr.String())
		}
		if m := reSummary.FindStringSubmatch(stdout.String()); m == nil || m[1] != strconv.Itoa(n) {
			b.Fatalf("summary %q, want %d sent", stdout.String(), n)
		}
		if err := stop(); err != nil {
			b.Fatalf("serve stop: %v", err)
		}
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "events/s")
}
