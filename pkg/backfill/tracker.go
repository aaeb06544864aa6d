package backfill

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// batchMark is what the tracker keeps of a batch until it joins the prefix.
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
