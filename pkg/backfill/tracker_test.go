package backfill

import (
	"slices"
	"testing"
)

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
