package backfill

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
)

// report is one rejected event's problem, by its input line.
type report struct {
	line int64
	msg  string
}

func rejectedReport(line int64, why string) report {
	return report{line, fmt.Sprintf("line %d: rejected: %s", line, why)}
}

// reporter prints each batch's reports once every batch before it has reported: batches
// are answered out of order, yet whoever fixes the input reads the lines in its order.
type reporter struct {
	out  *meter
	mu   sync.Mutex
	next int64 // the first batch not printed yet
	held map[int64][]report
}

func newReporter(out *meter) *reporter { return &reporter{out: out, held: map[int64][]report{}} }

// done hands over the reports of batch seq, which has nothing more to report; each seq is
// handed over once.
func (p *reporter) done(seq int64, rs []report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held[seq] = rs
	for rs, ok := p.held[p.next]; ok; rs, ok = p.held[p.next] {
		p.print(rs)
		delete(p.held, p.next)
		p.next++
	}
}

// flush prints what is still held, in order, when the send ends: the batches before it
// that never reported were not sent, so there is nothing to wait for.
func (p *reporter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	seqs := make([]int64, 0, len(p.held))
	for s := range p.held {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		p.print(p.held[s])
		delete(p.held, s)
	}
}

func (p *reporter) print(rs []report) {
	// Within a batch the rounds of a split or a re-send report in any order; stable keeps
	// one event's problems in the server's order.
	slices.SortStableFunc(rs, func(a, b report) int { return cmp.Compare(a.line, b.line) })
	for _, r := range rs {
		p.out.println(r.msg)
	}
}
