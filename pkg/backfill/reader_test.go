package backfill

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

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
