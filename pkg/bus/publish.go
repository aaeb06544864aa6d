package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Publisher publishes CloudEvents to JetStream and reports success only once they are
// stored. It is safe for concurrent use.
type Publisher struct {
	js         jetstream.JetStream
	tr         tracing
	log        *slog.Logger
	window     int
	ackTimeout time.Duration
}

// Outgoing is one event of a batch and the subject it goes to.
type Outgoing struct {
	Subject string
	Event   event.Event
}

// NewPublisher returns a Publisher on js. Options: WithLogger, WithTracerProvider,
// WithPublishWindow, WithAckTimeout.
func NewPublisher(js jetstream.JetStream, opts ...Option) (*Publisher, error) {
	if js == nil {
		return nil, fmt.Errorf("%w: nil JetStream", ErrInvalidConfig)
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Publisher{js: js, tr: newTracing(o.tp), log: o.logger, window: o.window, ackTimeout: o.ackTimeout}, nil
}

// Publish stores e on subject and returns after JetStream acknowledged it. A duplicate (an
// event already stored within the dedupe window, see MsgID) is a success: the event is
// durable either way.
func (p *Publisher) Publish(ctx context.Context, subject string, e event.Event) error {
	msg, span, err := p.prepare(ctx, subject, &e)
	if err != nil {
		return err
	}
	ctx, cancel := p.withAckTimeout(ctx)
	defer cancel()
	ack, err := p.js.PublishMsg(ctx, msg)
	if err != nil {
		err = fmt.Errorf("bus: publish event %q to %s: %w", e.ID(), subject, err)
		endSpan(span, err)
		return err
	}
	markDuplicate(span, ack)
	span.End()
	return nil
}

// PublishBatch stores every event of batch, pipelining them through async publish, and
// returns once all are acknowledged. On the first failure it returns a *PublishError naming
// the event; events before it may or may not be stored, so the caller retries the whole
// batch, which dedupe makes safe.
func (p *Publisher) PublishBatch(ctx context.Context, batch []Outgoing) error {
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := p.withAckTimeout(ctx)
	defer cancel()

	type pending struct {
		idx  int
		fut  jetstream.PubAckFuture
		span trace.Span
	}
	window := min(p.window, len(batch))
	ring := make([]pending, window)
	head, inflight := 0, 0 // ring[head] is the oldest in flight

	fail := func(idx int, err error) error {
		// Wait for the acks still in flight (bounded by the ack timeout) before answering: the
		// client retries a publish that found no stream, and one that landed after the caller
		// was told the batch failed would be stored behind a 503 the upstream then resends.
		for i := 0; i < inflight; i++ {
			pd := ring[(head+i)%window]
			select {
			case <-pd.fut.Ok():
			case <-pd.fut.Err():
			case <-ctx.Done():
			}
			endSpan(pd.span, errBatchAbandoned)
		}
		o := batch[idx]
		return &PublishError{Index: idx, Subject: o.Subject, EventID: o.Event.ID(), Err: err}
	}
	awaitOldest := func() error {
		pd := ring[head]
		var err error
		select {
		case ack := <-pd.fut.Ok():
			markDuplicate(pd.span, ack)
		case err = <-pd.fut.Err():
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			endSpan(pd.span, err)
			head = (head + 1) % window
			inflight--
			return fail(pd.idx, err)
		}
		pd.span.End()
		ring[head] = pending{}
		head = (head + 1) % window
		inflight--
		return nil
	}

	for i := range batch {
		if inflight == window {
			if err := awaitOldest(); err != nil {
				return err
			}
		}
		msg, span, err := p.prepare(ctx, batch[i].Subject, &batch[i].Event)
		if err != nil {
			return fail(i, err)
		}
		fut, err := p.publishAsync(ctx, msg)
		if err != nil {
			endSpan(span, err)
			return fail(i, err)
		}
		ring[(head+inflight)%window] = pending{idx: i, fut: fut, span: span}
		inflight++
	}
	for inflight > 0 {
		if err := awaitOldest(); err != nil {
			return err
		}
	}
	return nil
}

var errBatchAbandoned = errors.New("bus: batch abandoned after an earlier failure")

// publishAsync retries while the connection's async window is full: other batches sharing
// the JetStream context may hold it, and their acks free it.
func (p *Publisher) publishAsync(ctx context.Context, msg *nats.Msg) (jetstream.PubAckFuture, error) {
	for {
		fut, err := p.js.PublishMsgAsync(msg)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return fut, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// prepare validates, starts the producer span and encodes; on error the span is ended.
func (p *Publisher) prepare(ctx context.Context, subject string, e *event.Event) (*nats.Msg, trace.Span, error) {
	if err := validPublishSubject(subject); err != nil {
		return nil, nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: id %q: %v", ErrInvalidEvent, e.ID(), err)
	}
	span, tp, ts := p.tr.startPublish(ctx, subject, e)
	msg, err := encodeEvent(subject, e, tp, ts)
	if err != nil {
		endSpan(span, err)
		return nil, nil, err
	}
	return msg, span, nil
}

func (p *Publisher) withAckTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.ackTimeout)
}

func markDuplicate(span trace.Span, ack *jetstream.PubAck) {
	if ack != nil && span.IsRecording() {
		span.SetAttributes(
			attribute.Bool("messaging.nats.duplicate", ack.Duplicate),
			attribute.Int64("messaging.nats.stream_sequence", int64(ack.Sequence)),
		)
	}
}
