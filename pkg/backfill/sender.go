package backfill

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
)

// Errors of a send. A command that fails with them has already reported the details.
var (
	ErrRejected           = errors.New("events were rejected")
	ErrCheckpointMismatch = errors.New("the checkpoint does not match the input")
)

// Sender sends an input to POST /v1/events in concurrent batches, records what the server
// acknowledged in the input's checkpoint, and reports every rejected event by its line.
type Sender struct {
	cfg    Config
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

// New returns a Sender that sends through c and shows its progress, and each rejected event,
// on progress (standard error for the CLI).
func New(cfg Config, c *client.Client, progress io.Writer) *Sender {
	return &Sender{
		cfg: cfg, client: c, out: &meter{w: progress},
		sleep: sleep, backoff: expBackoff, grace: 10 * time.Second, isTerminal: isTerminal,
	}
}

func sleep(ctx context.Context, d time.Duration) error {
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

// maxRetryAfter caps a server's Retry-After: a backfill waits, but not for hours.
const maxRetryAfter = 5 * time.Minute

// Result is what one Send did.
type Result struct {
	Sent, Rejected, Skipped int64
	Elapsed                 time.Duration
}

// String is the summary line the CLI prints.
func (r Result) String() string {
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
	s       *Sender
	in      *Input
	tr      *tracker
	reqCtx  context.Context // requests; cancelled on a fatal error, or after the grace
	abort   context.CancelCauseFunc
	halt    chan struct{} // closed: send no more batches
	once    sync.Once
	fatal   atomic.Pointer[error]
	stopped atomic.Int64 // line of the first rejected event when stopping there, else 0
	// stopSeq is the first batch with a rejected event when stopping there: the batches
	// before it still go, since the resume starts at that event and they precede it.
	stopSeq     atomic.Int64
	interrupted atomic.Bool
	rep         *reporter
}

func (r *sendRun) stop() { r.once.Do(func() { close(r.halt) }) }

// stoppedAt records line as where the send stops, unless an earlier line was rejected: the
// batches are answered in any order, and the sender rejects some lines before the server
// has answered for the ones before them, but the stop (and the resume) is at the first.
func (r *sendRun) stoppedAt(line int64) {
	for {
		cur := r.stopped.Load()
		if cur != 0 && cur <= line || r.stopped.CompareAndSwap(cur, line) {
			return
		}
	}
}

// precedesStop says whether batch seq is to be sent though the send halted: it did so at a
// rejected event of a later batch, not on an interruption or a fatal error.
func (r *sendRun) precedesStop(seq int64) bool {
	return seq < r.stopSeq.Load() && !r.interrupted.Load() && r.fatal.Load() == nil
}

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

// Send sends the whole of in, or what its checkpoint says is left, and reports it; the error
// says why it did not all go.
func (s *Sender) Send(ctx context.Context, in *Input) (Result, error) {
	began := time.Now()
	var (
		cp  *checkpoint
		err error
	)
	if in.state != "" && !s.cfg.Restart {
		if cp, err = loadCheckpoint(in.state); err != nil {
			return Result{}, err
		}
	}
	start, mode := position{Line: 1}, modeDetect
	if cp != nil {
		if start, err = seekCheckpoint(in, cp); err != nil {
			return Result{}, err
		}
		mode = cp.Mode
		s.out.println(fmt.Sprintf("resuming %s at line %d: %d events were acknowledged before (checkpoint %s)", in.name, cp.Line, cp.Sent, in.state))
	}
	rd := newEventReader(in.r, start, mode, s.cfg.MaxBytes-2)
	tr := newTracker(start, cp)

	reqCtx, abort := context.WithCancelCause(context.WithoutCancel(ctx))
	defer abort(nil)
	r := &sendRun{s: s, in: in, tr: tr, reqCtx: reqCtx, abort: abort, halt: make(chan struct{}), rep: newReporter(s.out)}
	r.stopSeq.Store(math.MaxInt64)
	// An interruption stops new batches at once; requests in flight get the grace to finish.
	stopInterrupt := context.AfterFunc(ctx, func() {
		r.interrupted.Store(true)
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
					if !ok {
						return
					}
					if r.halted() && !r.precedesStop(b.seq) {
						r.rep.done(b.seq, b.reports)
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
	// Batches never taken still report the events rejected before sending. Without waiting:
	// the reader may still be blocked on standard input.
drain:
	for {
		select {
		case b, ok := <-work:
			if !ok {
				break drain
			}
			r.rep.done(b.seq, b.reports)
		default:
			break drain
		}
	}
	r.rep.flush()
	close(stopSaving)
	<-saved
	s.out.finish()

	res := Result{Sent: tr.sent.Load(), Rejected: tr.rejected.Load(), Skipped: tr.skipped.Load(), Elapsed: time.Since(began)}
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
	if inputErr != nil && !errors.Is(inputErr, ErrRejected) && ctx.Err() == nil {
		errs = append(errs, inputErr)
	}
	if res.Rejected > 0 {
		if line := r.stopped.Load(); line > 0 && !s.cfg.KeepGoing {
			errs = append(errs, fmt.Errorf("stopped at the rejected event on line %d: fix it and re-run to resume, or pass --keep-going: %w", line, ErrRejected))
		} else {
			errs = append(errs, fmt.Errorf("%d events rejected: %w", res.Rejected, ErrRejected))
		}
	}
	if saveErr != nil {
		errs = append(errs, fmt.Errorf("checkpoint %s: %w", in.state, saveErr))
	}
	return res, errors.Join(errs...)
}

// deliver sends b and records the outcome; a batch whose outcome is unknown (the send was
// aborted) is not recorded, so a re-run sends it again.
func (r *sendRun) deliver(b *batch) {
	defer func() { r.rep.done(b.seq, b.reports) }()
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
	r.stoppedAt(b.lines[firstBad])
	for cur := r.stopSeq.Load(); b.seq < cur && !r.stopSeq.CompareAndSwap(cur, b.seq); cur = r.stopSeq.Load() {
	}
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
		b.reports = append(b.reports, rejectedReport(b.lines[idx[0]], "is larger than the server accepts (413)"))
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

// reportRejected records each rejected event's problems by input line and returns the
// positions (in idx) of the rejected events, or nil when no problem names an event.
// Pointers are into the event ("/data/role"), with the event's index beside them.
func (r *sendRun) reportRejected(b *batch, idx []int, e *client.APIError) []bool {
	bad := make([]bool, len(idx))
	found := false
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
		b.reports = append(b.reports, rejectedReport(line, pointer+" "+p.Detail))
	}
	if !found {
		return nil
	}
	return bad
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
