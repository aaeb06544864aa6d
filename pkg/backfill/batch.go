package backfill

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
)

// batch is the unit sent and acknowledged: input events first..last, in order.
type batch struct {
	seq   int64
	first int64
	last  int64
	end   position
	bytes int64 // input bytes it spans
	crc   uint32
	body  []byte // a JSON array of the valid events, as they were in the input
	spans [][2]int
	lines []int64
	ords  []int64
	local int // events rejected before sending
	// reports are its rejected events' problems, printed when the batches before it have
	// printed theirs; only the one goroutine that holds the batch appends to them.
	reports []report
	skipped int // > 0 for the events of an earlier run, not sent again
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
	stop    *report // the event it stopped at, without --keep-going
}

// produce returns nil when the input was read to its end or the send halted, ErrRejected
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
			p.stopHere()
			return err
		}
		if !ok {
			return nil
		}
	}
	ok, err := p.release()
	if err != nil {
		p.stopHere()
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
		rep := rejectedReport(it.line, it.problem)
		if !cfg.KeepGoing {
			p.r.stoppedAt(it.line)
			p.r.tr.rejected.Add(1)
			p.stop = &rep
			return false, ErrRejected
		}
		if p.cur == nil {
			p.start(it.ord)
		}
		p.cur.local++
		p.cur.reports = append(p.cur.reports, rep)
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

// stopHere sends what precedes the event it stopped at, and reports that event after them:
// as the batch after the last, which no batch will ever be. It hands the report over before
// the flush, since once that batch is answered the send may end without waiting for the
// reader (which may be blocked on standard input), and a report handed over later is lost.
func (p *producer) stopHere() {
	if p.stop != nil {
		seq := p.seq
		if p.cur != nil {
			seq++ // the flush numbers the current batch p.seq
		}
		p.r.rep.done(seq, []report{*p.stop})
	}
	p.flush()
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
		p.r.rep.done(b.seq, b.reports)
		return true
	}
	b.body = append(b.body, ']')
	select {
	case p.work <- b:
		return true
	case <-p.r.halt:
		p.r.rep.done(b.seq, b.reports)
		return false
	}
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
