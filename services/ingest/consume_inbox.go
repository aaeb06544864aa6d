package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/propagation"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// Run forwards LETHE_INBOX to LETHE_ACTIVITY until ctx is done; the route is Register's.
func (s *Service) Run(ctx context.Context) error {
	if err := s.ConsumeInbox(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("ingest inbox consumer: %w", err)
	}
	return nil
}

// ConsumeInbox forwards LETHE_INBOX to LETHE_ACTIVITY with the durable consumer
// bus.DurableInbox until ctx ends. Messages that can never be accepted are dead-lettered to
// LETHE_DLQ with the reason (their pointers and rules, never their values), their personal
// values sealed or dropped (SealDeadLetter) on every dead-letter path.
func (s *Service) ConsumeInbox(ctx context.Context) error {
	defer s.ready.Stopped(bus.DurableInbox)
	started := bus.WithStarted(func() { s.ready.Running(bus.DurableInbox) })
	return bus.ConsumeBatch(ctx, s.js, bus.ConsumerConfig{
		Stream:  bus.StreamInbox,
		Durable: bus.DurableInbox,
	}, s.inboxHandler(), append(s.inboxOptions(), started)...)
}

// inboxOptions are the bus options of the inbox consumer and of its dead letters.
func (s *Service) inboxOptions() []bus.Option {
	return []bus.Option{bus.WithLogger(s.log), bus.WithTracerProvider(s.tp), bus.WithDeadLetterRedaction(s.forward.SealDeadLetter)}
}

// inboxHandler is the port from the bus to ForwardInbox: an invalid event or a foreign
// subject is permanent (dead letter), a store or bus failure is retried.
func (s *Service) inboxHandler() bus.BatchHandler {
	return func(ctx context.Context, msgs []*bus.Message) []error {
		in := make([]Inbound, len(msgs))
		for i, m := range msgs {
			e := m.Event
			linkTrace(m.Context(ctx), &e)
			in[i] = Inbound{Subject: m.Subject, Event: e}
		}
		errs := s.forward.Handle(ctx, in)
		for i, err := range errs {
			typ := in[i].Event.Type()
			switch {
			case err == nil:
				s.metrics.accept(ctx, transportNATS, typ, 1)
			case errors.Is(err, events.ErrInvalid):
				s.metrics.reject(ctx, transportNATS, typ, ReasonInvalid, 1)
				errs[i] = bus.Permanent(deadLetterError(err))
			case errors.Is(err, ErrWrongInstitution):
				s.metrics.reject(ctx, transportNATS, typ, ReasonInstitution, 1)
				errs[i] = bus.Permanent(err)
			case errors.Is(err, ErrNotDestination):
				s.metrics.reject(ctx, transportNATS, typ, ReasonForbidden, 1)
				errs[i] = bus.Permanent(err)
			}
		}
		return errs
	}
}

// linkTrace makes the consumer span of the inbox message the parent of the span that
// publishes the event to LETHE_ACTIVITY, so one trace runs from the upstream's publish to
// the projection. With no recording span, the event keeps the trace context it came with.
func linkTrace(ctx context.Context, e *event.Event) {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	if tp := c.Get("traceparent"); tp != "" {
		e.SetExtension("traceparent", tp)
		if ts := c.Get("tracestate"); ts != "" {
			e.SetExtension("tracestate", ts)
		} else {
			e.SetExtension("tracestate", nil)
		}
	}
}
