package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
)

// Message is one delivery of a CloudEvent from a stream.
type Message struct {
	Event      event.Event // decoded from either content mode
	Subject    string      // the NATS subject it was published to
	Header     nats.Header // its headers as stored (ce-*, Nats-Msg-Id, …)
	Stream     string
	Consumer   string
	Sequence   uint64 // stream sequence
	Deliveries uint64 // 1 on the first delivery
	// Stored is when JetStream stored the message: the start of ingest-to-projection latency.
	Stored time.Time

	raw  jetstream.Msg
	span trace.Span
}

// InProgress tells JetStream the message is still being worked on, resetting its ack
// timer. Consumers already do this every AckWait/2 while a handler runs; call it for work
// that stalls inside one step longer than that.
func (m *Message) InProgress() error { return m.raw.InProgress() }

// Context returns parent with this message's consumer span, for a batch handler to trace
// the work it does for one message.
func (m *Message) Context(parent context.Context) context.Context {
	if m.span == nil {
		return parent
	}
	return trace.ContextWithSpan(parent, m.span)
}

// Letter describes the message for DeadLetter.
func (m *Message) Letter() Letter {
	return Letter{Stream: m.Stream, Subject: m.Subject, Sequence: m.Sequence, Deliveries: m.Deliveries,
		Consumer: m.Consumer, Header: m.Header, Data: m.raw.Data()}
}

// Handler handles one message. nil acks it; Permanent(err) dead-letters and terminates it;
// any other error naks it with the back-off for its delivery count, or dead-letters it if
// this was the last allowed delivery. Handlers must be idempotent: redelivery is forever.
type Handler func(ctx context.Context, m *Message) error

// BatchHandler handles messages fetched together, for throughput (group the writes). It
// returns one result per message, in order, with the meaning of a Handler's result; a nil
// slice means all succeeded. Undecodable messages are dead-lettered before it is called.
type BatchHandler func(ctx context.Context, msgs []*Message) []error

// ConsumerConfig describes a durable pull consumer; zero fields take the defaults.
type ConsumerConfig struct {
	Stream         string   // required
	Durable        string   // required; replicas of a service share it
	FilterSubjects []string // default: the whole stream
	// MaxDeliver is the number of deliveries before the message is dead-lettered (default 5).
	MaxDeliver int
	// AckWait is how long a delivery may stay unacknowledged before redelivery (default
	// 30s); the consumer sends InProgress every AckWait/2 while a handler runs.
	AckWait time.Duration
	// Backoff is the nak delay after failed delivery n (Backoff[n-1], the last entry
	// repeating); default 1s, 5s, 30s, 2m.
	Backoff []time.Duration
	// MaxAckPending bounds unacknowledged deliveries (default 1000; ConsumeBatch: at least
	// 4×BatchSize).
	MaxAckPending int
	// Concurrency is the number of handlers running at once in Consume (default 1).
	Concurrency int
	// BatchSize is the most messages one BatchHandler call gets (default 500).
	BatchSize int
	// BatchWait is how long ConsumeBatch waits to fill a batch once it has a first message
	// (default 50ms).
	BatchWait time.Duration
	// DrainTimeout bounds shutdown: handlers still running after it see their context
	// cancelled (default AckWait).
	DrainTimeout time.Duration
	// AckSync waits for the server to confirm each ack (slower), so that an acked message
	// is never redelivered after a crash. Handlers must be idempotent regardless.
	AckSync bool
}

// Defaults of ConsumerConfig.
const (
	DefaultMaxDeliver    = 5
	DefaultAckWait       = 30 * time.Second
	DefaultMaxAckPending = 1000
	DefaultBatchSize     = 500
	DefaultBatchWait     = 50 * time.Millisecond
)

// DefaultBackoff is the nak delay schedule when ConsumerConfig.Backoff is empty.
var DefaultBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}

func (c ConsumerConfig) withDefaults(batch bool) (ConsumerConfig, error) {
	if c.Stream == "" || c.Durable == "" {
		return c, fmt.Errorf("%w: consumer needs a stream and a durable name", ErrInvalidConfig)
	}
	if !ValidToken(c.Durable) {
		return c, fmt.Errorf("%w: durable name %q", ErrInvalidConfig, c.Durable)
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if len(c.Backoff) == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchWait <= 0 {
		c.BatchWait = DefaultBatchWait
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if batch && c.MaxAckPending < 4*c.BatchSize {
		c.MaxAckPending = 4 * c.BatchSize
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = c.AckWait
	}
	return c, nil
}

// JetStreamConfig is the consumer configuration Consume creates or updates.
func (c ConsumerConfig) JetStreamConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        c.Durable,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		FilterSubjects: c.FilterSubjects,
		MaxDeliver:     c.MaxDeliver,
		AckWait:        c.AckWait,
		MaxAckPending:  c.MaxAckPending,
	}
}

func (c ConsumerConfig) backoff(deliveries uint64) time.Duration {
	i := int(deliveries) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(c.Backoff) {
		i = len(c.Backoff) - 1
	}
	return c.Backoff[i]
}

// runner holds what one Consume or ConsumeBatch call shares between its goroutines.
type runner struct {
	js      jetstream.JetStream
	cfg     ConsumerConfig
	tr      tracing
	log     *slog.Logger
	cons    jetstream.Consumer
	redact  Redaction
	started func()
}

func newRunner(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig, batch bool, opts []Option) (*runner, func(), error) {
	cfg, err := cfg.withDefaults(batch)
	if err != nil {
		return nil, nil, err
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, cfg.JetStreamConfig())
	if err != nil {
		return nil, nil, fmt.Errorf("bus: consumer %s on %s: %w", cfg.Durable, cfg.Stream, err)
	}
	log := o.logger.With("stream", cfg.Stream, "consumer", cfg.Durable)
	stop, err := startAdvisoryWatch(ctx, js, cfg.Stream, cfg.Durable, log, o.redact)
	if err != nil {
		return nil, nil, err
	}
	return &runner{js: js, cfg: cfg, tr: newTracing(o.tp), log: log, cons: cons, redact: o.redact, started: o.started}, stop, nil
}

// unlessStopped is err, or nil when ctx ended: a consumer stopped while it was still being
// set up has done what it was asked, like one stopped later.
func unlessStopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Consume runs handler h on the durable consumer cfg until ctx ends, then drains: it stops
// pulling, finishes the messages already received, flushes their acks and returns nil.
// It returns an error if the consumer cannot be created or is deleted under it.
func Consume(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig, h Handler, opts ...Option) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", ErrInvalidConfig)
	}
	r, stop, err := newRunner(ctx, js, cfg, false, opts)
	if err != nil {
		return unlessStopped(ctx, err)
	}
	defer stop()
	buffer := min(r.cfg.MaxAckPending, max(2*r.cfg.Concurrency, 64))
	it, err := r.messages(buffer)
	if err != nil {
		return err
	}
	hctx, cancelHandlers := r.handlerContext(ctx)
	defer cancelHandlers()

	work := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Go(func() {
			for msg := range work {
				r.handleOne(hctx, msg, h)
			}
		})
	}
	runErr := r.pump(ctx, it, func(msg jetstream.Msg) { work <- msg })
	close(work)
	r.waitDrained(&wg)
	return runErr
}

// ConsumeBatch is Consume for a BatchHandler: messages are gathered up to BatchSize, waiting
// at most BatchWait after the first, and handed over together. Batches run one at a time.
func ConsumeBatch(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig, h BatchHandler, opts ...Option) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", ErrInvalidConfig)
	}
	r, stop, err := newRunner(ctx, js, cfg, true, opts)
	if err != nil {
		return unlessStopped(ctx, err)
	}
	defer stop()
	it, err := r.messages(min(r.cfg.MaxAckPending, 2*r.cfg.BatchSize))
	if err != nil {
		return err
	}
	hctx, cancelHandlers := r.handlerContext(ctx)
	defer cancelHandlers()

	// A queued batch waits for the one being handled; its ack timers are kept alive from
	// the moment it is queued, so a slow batch does not get the next one redelivered.
	type queued struct {
		msgs      []jetstream.Msg
		keepAlive func()
	}
	batches := make(chan queued)
	var wg sync.WaitGroup
	wg.Go(func() {
		for b := range batches {
			r.handleBatch(hctx, b.msgs, b.keepAlive, h)
		}
	})
	var cur []jetstream.Msg
	var deadline time.Time
	flush := func() {
		if len(cur) > 0 {
			batches <- queued{cur, r.keepAlive(cur)}
			cur = nil
		}
	}
	runErr := r.pumpBatch(ctx, it, func(msg jetstream.Msg) {
		if len(cur) == 0 {
			cur = make([]jetstream.Msg, 0, r.cfg.BatchSize)
			deadline = time.Now().Add(r.cfg.BatchWait)
		}
		cur = append(cur, msg)
		if len(cur) >= r.cfg.BatchSize {
			flush()
		}
	}, func() time.Time {
		if len(cur) == 0 {
			return time.Time{}
		}
		return deadline
	}, flush)
	flush()
	close(batches)
	r.waitDrained(&wg)
	return runErr
}

// deliveries is where a consumer's messages come from: nats.go's Consume, read one message at
// a time. Not its Messages iterator: that one receives into a channel the size of one pull,
// and after a reconnection to another node of a cluster the pull request still parked on the
// consumer's leader goes on delivering beside the new one — the surplus was dropped as a slow
// consumer and came back only after AckWait. Consume's callback subscription queues it.
type deliveries struct {
	cc      jetstream.ConsumeContext
	msgs    chan jetstream.Msg
	errs    chan error
	stopped chan struct{}
	once    sync.Once
}

func (r *runner) messages(buffer int) (*deliveries, error) {
	d := &deliveries{msgs: make(chan jetstream.Msg), errs: make(chan error, 1), stopped: make(chan struct{})}
	cc, err := r.cons.Consume(func(m jetstream.Msg) {
		select {
		case d.msgs <- m:
		case <-d.stopped: // left unacknowledged: redelivered, as a stopped iterator's would be
		}
	},
		jetstream.PullMaxMessages(max(buffer, 1)),
		// A server restart, a node lost or a network blip must not end the consumer: Consume
		// re-issues its pulls once the connection is back. Only the consumer's own end is final.
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrBadRequest) {
				select {
				case d.errs <- err:
				default:
				}
			}
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("bus: consume %s on %s: %w", r.cfg.Durable, r.cfg.Stream, err)
	}
	d.cc = cc
	if r.started != nil {
		r.started()
	}
	return d, nil
}

// next is the next delivery, waiting at most wait (0: until ctx ends); nats.ErrTimeout when
// wait passed, jetstream.ErrMsgIteratorClosed once drained or stopped.
func (d *deliveries) next(ctx context.Context, wait time.Duration) (jetstream.Msg, error) {
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case m := <-d.msgs:
		return m, nil
	case err := <-d.errs:
		return nil, err
	case <-d.cc.Closed():
		return nil, jetstream.ErrMsgIteratorClosed
	case <-timeout:
		return nil, nats.ErrTimeout
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Drain stops pulling; what the server already sent is still handed out by next.
func (d *deliveries) Drain() { d.cc.Drain() }

// Stop ends the deliveries at once.
func (d *deliveries) Stop() {
	d.once.Do(func() { close(d.stopped) })
	d.cc.Stop()
}

// pump feeds deliver until ctx ends, then drains the iterator into deliver too.
func (r *runner) pump(ctx context.Context, it *deliveries, deliver func(jetstream.Msg)) error {
	return r.pumpBatch(ctx, it, deliver, func() time.Time { return time.Time{} }, func() {})
}

// pumpBatch is pump with a pending batch: while deadline() is set, Next waits at most until
// it, and flush is called when it passes.
func (r *runner) pumpBatch(ctx context.Context, it *deliveries, deliver func(jetstream.Msg),
	deadline func() time.Time, flush func()) error {
	for {
		var msg jetstream.Msg
		var err error
		if d := deadline(); !d.IsZero() {
			wait := time.Until(d)
			if wait <= 0 {
				flush()
				continue
			}
			msg, err = it.next(context.Background(), wait)
			if errors.Is(err, nats.ErrTimeout) {
				flush()
				continue
			}
			if err == nil && ctx.Err() != nil {
				deliver(msg)
				break
			}
		} else {
			msg, err = it.next(ctx, 0)
		}
		if err == nil {
			deliver(msg)
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, jetstream.ErrNoHeartbeat) {
			continue
		}
		it.Stop()
		return fmt.Errorf("bus: consume %s on %s: %w", r.cfg.Durable, r.cfg.Stream, err)
	}
	// Drain: what the server already sent is handled rather than left to time out, which
	// would count as a delivery and delay it by AckWait.
	it.Drain()
	drainDeadline := time.Now().Add(r.cfg.DrainTimeout)
	for {
		wait := time.Until(drainDeadline)
		if wait <= 0 {
			it.Stop()
			break
		}
		msg, err := it.next(context.Background(), wait)
		if err != nil {
			break
		}
		deliver(msg)
	}
	return nil
}

// handlerContext is the context of the handlers: it outlives ctx by DrainTimeout, counted
// from the moment ctx ends, so that handlers stuck while the pump still hands them the
// drained messages are cancelled on time rather than holding shutdown forever.
func (r *runner) handlerContext(ctx context.Context) (context.Context, context.CancelFunc) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(r.cfg.DrainTimeout, func() {
			if hctx.Err() == nil { // still shutting down: handlers are what it waits for
				r.log.Warn("bus: handlers still running after the drain timeout; cancelling them")
			}
			cancel()
		})
	})
	return hctx, func() { stop(); cancel() }
}

// waitDrained waits for the handlers (cancelled DrainTimeout after the end of the consumer's
// context, by handlerContext), then flushes so that their acks have left before the caller
// closes the connection.
func (r *runner) waitDrained(wg *sync.WaitGroup) {
	wg.Wait()
	if err := r.js.Conn().FlushTimeout(5 * time.Second); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		r.log.Warn("bus: flushing acks on shutdown", "error", err)
	}
}

// decode turns a delivery into a Message; an undecodable one is dead-lettered and
// terminated here and nil returned.
func (r *runner) decode(ctx context.Context, msg jetstream.Msg) *Message {
	m := &Message{Subject: msg.Subject(), Header: msg.Headers(), raw: msg}
	if md, err := msg.Metadata(); err == nil {
		m.Stream, m.Consumer, m.Sequence, m.Deliveries, m.Stored = md.Stream, md.Consumer, md.Sequence.Stream, md.NumDelivered, md.Timestamp
	} else {
		m.Stream, m.Consumer = r.cfg.Stream, r.cfg.Durable
	}
	ev, err := DecodeEvent(msg.Headers(), msg.Data())
	if err != nil {
		r.settle(ctx, m, Permanent(err))
		return nil
	}
	m.Event = ev
	return m
}

func (r *runner) handleOne(ctx context.Context, msg jetstream.Msg, h Handler) {
	m := r.decode(ctx, msg)
	if m == nil {
		return
	}
	sctx, span := r.tr.startProcess(ctx, m)
	m.span = span
	stop := r.keepAlive([]jetstream.Msg{msg})
	err := callHandler(sctx, m, h)
	stop()
	r.settle(ctx, m, err)
	endSpan(span, err)
}

// handleBatch handles one batch; stopKeepAlive ends the InProgress ticks started when the
// batch was queued.
func (r *runner) handleBatch(ctx context.Context, batch []jetstream.Msg, stopKeepAlive func(), h BatchHandler) {
	msgs := make([]*Message, 0, len(batch))
	for _, raw := range batch {
		if m := r.decode(ctx, raw); m != nil {
			_, m.span = r.tr.startProcess(ctx, m)
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		stopKeepAlive()
		return
	}
	results := callBatchHandler(ctx, msgs, h)
	stopKeepAlive()
	if results != nil && len(results) != len(msgs) {
		err := fmt.Errorf("bus: batch handler returned %d results for %d messages", len(results), len(msgs))
		r.log.Error("bus: batch handler broke its contract", "error", err)
		results = make([]error, len(msgs))
		for i := range results {
			results[i] = err
		}
	}
	for i, m := range msgs {
		var err error
		if results != nil {
			err = results[i]
		}
		r.settle(ctx, m, err)
		endSpan(m.span, err)
	}
}

// callHandler turns a panic into an error, so that one bad message costs a retry (and
// eventually a dead letter) instead of the process.
func callHandler(ctx context.Context, m *Message, h Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bus: handler panicked: %v", p)
		}
	}()
	return h(ctx, m)
}

func callBatchHandler(ctx context.Context, msgs []*Message, h BatchHandler) (res []error) {
	defer func() {
		if p := recover(); p != nil {
			err := fmt.Errorf("bus: batch handler panicked: %v", p)
			res = make([]error, len(msgs))
			for i := range res {
				res[i] = err
			}
		}
	}()
	return h(ctx, msgs)
}

// keepAlive sends InProgress for msgs every AckWait/2 until stopped, so that long work is
// not redelivered to another replica meanwhile.
func (r *runner) keepAlive(msgs []jetstream.Msg) (stop func()) {
	every := r.cfg.AckWait / 2
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		for _, m := range msgs {
			_ = m.InProgress()
		}
		t.Reset(every)
	})
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		t.Stop()
	}
}

// settle acks, naks or dead-letters one message after its handler returned err.
func (r *runner) settle(ctx context.Context, m *Message, err error) {
	if err == nil {
		r.ack(ctx, m)
		return
	}
	last := m.Deliveries >= uint64(r.cfg.MaxDeliver)
	if !IsPermanent(err) && !last {
		if nerr := m.raw.NakWithDelay(r.cfg.backoff(m.Deliveries)); nerr != nil {
			r.log.Warn("bus: nak failed", "seq", m.Sequence, "error", nerr)
		}
		r.log.Debug("bus: handler failed, will retry", "seq", m.Sequence, "deliveries", m.Deliveries,
			"event_id", eventID(m), "error", err)
		return
	}
	reason := err.Error()
	if !IsPermanent(err) {
		reason = fmt.Sprintf("failed on the last allowed delivery (%d): %s", m.Deliveries, reason)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	letter, reason, rerr := redacted(dctx, r.redact, m.Letter(), reason)
	if rerr != nil {
		// Nothing unredacted is stored: the message waits for a redelivery, and after its
		// last one the advisory watcher stores it redacted or dropped.
		r.log.Error("bus: dead-letter redaction failed; message left for redelivery", "seq", m.Sequence, "error", rerr)
		_ = m.raw.NakWithDelay(r.cfg.backoff(m.Deliveries))
		return
	}
	if derr := DeadLetter(dctx, r.js, reason, letter); derr != nil {
		// Keep the message rather than lose it: a retry comes after the back-off, and if
		// this was its last delivery the max-deliveries advisory dead-letters it later.
		r.log.Error("bus: dead-letter failed; message left for redelivery", "seq", m.Sequence, "error", derr)
		_ = m.raw.NakWithDelay(r.cfg.backoff(m.Deliveries))
		return
	}
	if terr := m.raw.TermWithReason(termMarker + truncate(cleanReason(reason), 128)); terr != nil {
		r.log.Warn("bus: term failed", "seq", m.Sequence, "error", terr)
	}
	r.log.Warn("bus: message dead-lettered", "seq", m.Sequence, "deliveries", m.Deliveries,
		"event_id", eventID(m), "reason", cleanReason(reason))
}

func (r *runner) ack(ctx context.Context, m *Message) {
	var err error
	if r.cfg.AckSync {
		actx, cancel := context.WithTimeout(ctx, r.cfg.AckWait)
		err = m.raw.DoubleAck(actx)
		cancel()
	} else {
		err = m.raw.Ack()
	}
	if err != nil {
		r.log.Warn("bus: ack failed; the message will be redelivered", "seq", m.Sequence, "error", err)
	}
}

// eventID is the event's id, or "" for a message that did not decode.
func eventID(m *Message) string {
	if m.Event.Context == nil {
		return ""
	}
	return m.Event.ID()
}
