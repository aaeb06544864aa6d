package backfill

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

func testRun(cfg Config) *sendRun {
	out := &meter{w: io.Discard}
	return &sendRun{
		s:    &Sender{cfg: cfg, out: out},
		tr:   newTracker(position{Line: 1}, nil),
		halt: make(chan struct{}),
		rep:  newReporter(out),
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
			r := testRun(Config{Batch: tt.batch, MaxBytes: tt.maxBytes, KeepGoing: true})
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
