package audit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// The purge entry's action and actor.
const (
	ActionPurged   = "purged"
	ActorRetention = "system:retention"
)

// ErrInvalid reports an entry Record refuses: without a key it could not be deduplicated,
// without an actor or an action it would say nothing.
var ErrInvalid = errors.New("audit: invalid entry")

// maxAttempts bounds Record's retries on a taken seq. Every lost race means another appender
// progressed, so reaching it takes a pathological crowd (or a store whose Last lags its
// unique index); failing beats spinning forever.
const maxAttempts = 200

// Log appends to the hash chain. It is safe for concurrent use; several Logs, in one process
// or several, may share one store.
type Log struct {
	a   store.Audit
	now func() time.Time

	// mu serialises this Log's appends: they would all compete for the same next seq anyway,
	// and in turn each one needs a single Append when no other process writes.
	mu sync.Mutex
	// head is the last entry this Log appended or read, nil when unknown. When another
	// appender has moved on, Append answers ErrExists and the head is read again.
	head *store.AuditEntry

	// Group commit: concurrent Records queue their entries; one of them (the leader) chains
	// everything queued and appends it with one AppendMany, so N concurrent erasures wait
	// for the disk once, not N times in turn under mu.
	qmu     sync.Mutex
	queue   []*pending
	leading bool
}

// pending is one Record waiting in the group commit's queue.
type pending struct {
	e    store.AuditEntry
	done chan outcome // buffered: the leader never waits for a Record that gave up
}

type outcome struct {
	e   store.AuditEntry
	err error
}

// Option configures a Log.
type Option func(*Log)

// WithClock sets where Record takes the time of an entry that has none (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(l *Log) {
		if now != nil {
			l.now = now
		}
	}
}

// New returns a Log appending to a.
func New(a store.Audit, opts ...Option) *Log {
	l := &Log{a: a, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Record appends e to the chain and returns it as stored. The caller sets who (Actor, e.g.
// "run:<id>" or "request:<id>"), what (Action, Reason, Fields: names, never values), about
// whom (Institution, ContactID) and an idempotency Key; Record sets Seq, PrevHash and Hash,
// and At when it is zero. At is kept in UTC at millisecond precision, the finest every store
// keeps. If an entry with the same Key is already in the log, Record returns that entry and
// a nil error: recording the outcome of a redelivered command is harmless.
func (l *Log) Record(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	switch {
	case e.Key == "":
		return e, fmt.Errorf("%w: no key", ErrInvalid)
	case e.Actor == "":
		return e, fmt.Errorf("%w: no actor", ErrInvalid)
	case e.Action == "":
		return e, fmt.Errorf("%w: no action", ErrInvalid)
	}
	if e.At.IsZero() {
		e.At = l.now()
	}
	e.At = e.At.UTC().Truncate(time.Millisecond)
	e.Fields = append([]string(nil), e.Fields...)

	p := &pending{e: e, done: make(chan outcome, 1)}
	l.qmu.Lock()
	l.queue = append(l.queue, p)
	lead := !l.leading
	l.leading = true
	l.qmu.Unlock()
	if lead {
		l.lead(context.WithoutCancel(ctx))
	}
	select {
	case o := <-p.done:
		return o.e, o.err
	case <-ctx.Done():
		// Still queued or being written: the group goes on without this caller, and a
		// retry finds the entry by its key.
		return e, ctx.Err()
	}
}

// lead appends everything queued (the leader's own entry among it) as one group and answers
// every Record of it. What was queued meanwhile is the next group, led by a goroutine of its
// own so that the leader's caller does not wait for it. The group is written whatever
// happens to the leader's caller: its followers are not failed by a context not theirs.
func (l *Log) lead(ctx context.Context) {
	l.qmu.Lock()
	group := l.queue
	l.queue = nil
	l.qmu.Unlock()

	l.mu.Lock()
	l.appendGroup(ctx, group)
	l.mu.Unlock()

	l.qmu.Lock()
	defer l.qmu.Unlock()
	if len(l.queue) == 0 {
		l.leading = false
		return
	}
	go l.lead(ctx)
}

// appendGroup chains the group after the head and appends it at once. An entry the store
// refuses (its key already logged: a redelivery; its sequence taken by another process) goes
// through record, which resolves it, and the rest of the group is chained and appended again
// after it. A Record whose key is already in the group gets the entry stored for that key.
func (l *Log) appendGroup(ctx context.Context, group []*pending) {
	keys := make(map[string]bool, len(group))
	var queue, twins []*pending
	for _, p := range group {
		if keys[p.e.Key] {
			twins = append(twins, p)
			continue
		}
		keys[p.e.Key] = true
		queue = append(queue, p)
	}
	stored := make(map[string]outcome, len(queue))
	answer := func(p *pending, o outcome) {
		stored[p.e.Key] = o
		p.done <- o
	}
	es := make([]store.AuditEntry, 0, len(queue))
	for len(queue) > 0 {
		if l.head == nil {
			if err := l.readHead(ctx); err != nil {
				for _, p := range queue {
					answer(p, outcome{e: p.e, err: err})
				}
				break
			}
		}
		es = es[:0]
		prev := *l.head
		for _, p := range queue {
			e := p.e
			e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
			e.Hash = Hash(e)
			es = append(es, e)
			prev = e
		}
		n, err := l.a.AppendMany(ctx, es)
		if n > 0 {
			head := es[n-1]
			l.head = &head
		}
		for i := range n {
			answer(queue[i], outcome{e: es[i]})
		}
		queue = queue[n:]
		switch {
		case err == nil:
		case errors.Is(err, store.ErrDuplicate) || errors.Is(err, store.ErrExists):
			e, err := l.record(ctx, queue[0].e)
			answer(queue[0], outcome{e: e, err: err})
			queue = queue[1:]
		default:
			for _, p := range queue {
				answer(p, outcome{e: p.e, err: fmt.Errorf("audit: append: %w", err)})
			}
			queue = nil
		}
	}
	for _, p := range twins {
		if o := stored[p.e.Key]; o.err == nil {
			p.done <- o
			continue
		}
		e, err := l.record(ctx, p.e)
		p.done <- outcome{e: e, err: err}
	}
}

// readHead reads the log's last entry into head (the zero entry for an empty log).
func (l *Log) readHead(ctx context.Context) error {
	head, err := l.a.Last(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		head = store.AuditEntry{}
	case err != nil:
		return fmt.Errorf("audit: read the head: %w", err)
	}
	l.head = &head
	return nil
}

// record appends one entry under l.mu, re-reading the head after a lost race, and returns
// the entry already recorded under its key when there is one.
func (l *Log) record(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if l.head == nil || attempt > 0 {
			if attempt > 1 {
				if err := backoff(ctx, attempt); err != nil {
					return e, err
				}
			}
			head, err := l.a.Last(ctx)
			switch {
			case errors.Is(err, store.ErrNotFound):
				head = store.AuditEntry{}
			case err != nil:
				return e, fmt.Errorf("audit: read the head: %w", err)
			}
			l.head = &head
		}
		e.Seq, e.PrevHash = l.head.Seq+1, l.head.Hash
		e.Hash = Hash(e)
		err := l.a.Append(ctx, e)
		switch {
		case err == nil:
			stored := e
			l.head = &stored
			return e, nil
		case errors.Is(err, store.ErrDuplicate):
			prior, err := l.a.ByKey(ctx, e.Key)
			if err != nil {
				return e, fmt.Errorf("audit: read the entry already recorded under its key: %w", err)
			}
			return prior, nil
		case !errors.Is(err, store.ErrExists):
			return e, fmt.Errorf("audit: append seq %d: %w", e.Seq, err)
		}
	}
	return e, fmt.Errorf("audit: gave up after %d appends lost to concurrent appenders", maxAttempts)
}

// backoff waits a little, at random, so that appenders of several processes that keep losing
// the same seq to each other spread out.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(min(attempt, 50)) * int64(time.Millisecond)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// errEnoughScanned stops a scan that found what it needed.
var errEnoughScanned = errors.New("audit: enough")

// Purge removes the oldest entries recorded before `before` and returns how many went: the
// longest prefix of the log, in seq order, whose entries are all older (an entry recorded out
// of time order stops it), and never the head, so the chain always has an entry to go on from.
//
// It first checks that prefix (hashes, links, and that its first entry is seq 1 or anchored
// by a purge entry), so a purge never erases the evidence of tampering: a broken prefix is
// left in place and reported as a *BrokenError. It then records the purge entry ("purged" by
// "system:retention", key "purge:<through>", anchored at through+1) and only then deletes.
// A purge interrupted between the two finds the same prefix when run again, gets the recorded
// entry back from Record and finishes the deletion. Run it from one place at a time: two
// concurrent purges keep the chain valid, but on MongoDB one may see the other's deletion as a
// gap and report it.
func (l *Log) Purge(ctx context.Context, before time.Time) (int, error) {
	head, err := l.a.Last(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: read the head: %w", err)
	}
	var (
		first, prev store.AuditEntry
		count       int64
		broken      *BrokenError
	)
	err = l.a.Scan(ctx, 0, func(e store.AuditEntry) error {
		// The entry after the prefix is linked too: the anchor will vouch for it.
		if count > 0 {
			if broken = checkLink(e, prev); broken != nil {
				return broken
			}
		}
		if e.Seq >= head.Seq || !e.At.Before(before) {
			return errEnoughScanned
		}
		if broken = checkSelf(e, count == 0); broken != nil {
			return broken
		}
		if count == 0 {
			first = e
		}
		prev = e
		count++
		return nil
	})
	if broken != nil {
		return 0, broken
	}
	if err != nil && !errors.Is(err, errEnoughScanned) {
		return 0, fmt.Errorf("audit: scan for purge: %w", err)
	}
	if count == 0 {
		return 0, nil
	}
	if first.Seq != 1 {
		if broken := l.checkAnchor(ctx, first); broken != nil {
			return 0, broken
		}
	}
	through := prev
	_, err = l.Record(ctx, store.AuditEntry{
		Actor:      ActorRetention,
		Action:     ActionPurged,
		Reason:     fmt.Sprintf("retention: %d entries recorded before %s", count, before.UTC().Format(time.RFC3339)),
		Key:        fmt.Sprintf("purge:%d", through.Seq),
		AnchorSeq:  through.Seq + 1,
		AnchorHash: through.Hash,
	})
	if err != nil {
		return 0, err
	}
	n, err := l.a.PurgeThrough(ctx, through.Seq)
	if err != nil {
		return n, fmt.Errorf("audit: purge through seq %d: %w", through.Seq, err)
	}
	return n, nil
}

// checkLink checks that e directly follows prev.
func checkLink(e, prev store.AuditEntry) *BrokenError {
	switch {
	case e.Seq != prev.Seq+1:
		return &BrokenError{Seq: prev.Seq + 1, Reason: missing(prev.Seq+1, e.Seq-1)}
	case e.PrevHash != prev.Hash:
		return &BrokenError{Seq: e.Seq, Reason: fmt.Sprintf("prev_hash is not the hash of entry %d", prev.Seq)}
	}
	return nil
}

// checkSelf checks e's own hash and, for the oldest entry kept, that seq 1 starts the chain.
func checkSelf(e store.AuditEntry, oldest bool) *BrokenError {
	switch {
	case e.Seq < 1:
		return &BrokenError{Seq: e.Seq, Reason: "sequences start at 1"}
	case oldest && e.Seq == 1 && e.PrevHash != "":
		return &BrokenError{Seq: 1, Reason: "the first entry has a prev_hash"}
	case Hash(e) != e.Hash:
		return &BrokenError{Seq: e.Seq, Reason: "the hash does not match the entry's contents"}
	}
	return nil
}

func missing(from, to int64) string {
	if from == to {
		return fmt.Sprintf("entry %d is missing", from)
	}
	return fmt.Sprintf("entries %d..%d are missing", from, to)
}

// checkAnchor finds the purge entry that must vouch for a log starting at first: Purge
// records it under "purge:<first-1>".
func (l *Log) checkAnchor(ctx context.Context, first store.AuditEntry) *BrokenError {
	p, err := l.a.ByKey(ctx, fmt.Sprintf("purge:%d", first.Seq-1))
	if err == nil && p.Action == ActionPurged && p.AnchorSeq == first.Seq && p.AnchorHash == first.PrevHash && Hash(p) == p.Hash {
		return nil
	}
	return &BrokenError{Seq: first.Seq, Reason: unanchored(first.Seq)}
}

func unanchored(seq int64) string {
	return fmt.Sprintf("the entries before seq %d are gone and no purge entry anchors the chain there", seq)
}
