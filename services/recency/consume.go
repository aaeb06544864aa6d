package recency

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// activityFrom turns a delivered event into an Activity. An event that no longer validates
// can never be folded: it is a permanent error and goes to the dead letters. m.Event comes
// from bus.DecodeEvent, which has run the CloudEvents SDK's attribute check, so the contract's
// is run without running that one a second time (events.DecodeValidated).
func activityFrom(m *bus.Message) (Activity, error) {
	d, err := events.DecodeValidated(m.Event)
	if err != nil {
		return Activity{}, bus.Permanent(fmt.Errorf("invalid activity event: %w", err))
	}
	return Activity{
		ID:           m.Event.ID(),
		Type:         m.Event.Type(),
		Institution:  events.Institution(m.Event),
		Organisation: events.Organisation(m.Event),
		Contact:      m.Event.Subject(),
		Data:         d,
		Technical:    technicalOf(m.Event),
	}, nil
}

// batchHandler is the port from the bus to the use case: a batch is decoded, folded in one
// pass (one read and one write per contact), and acked together, or naked together when the
// store failed, since the fold makes a retry of the whole batch harmless. The projection
// write is traced as one span per batch (projectSpan).
func batchHandler(uc *RecordActivity, tracer trace.Tracer, folded metric.Int64Counter, latency metric.Float64Histogram) bus.BatchHandler {
	return func(ctx context.Context, msgs []*bus.Message) []error {
		errs := make([]error, len(msgs))
		acts := make([]Activity, 0, len(msgs))
		var traced []*bus.Message
		for i, m := range msgs {
			a, err := activityFrom(m)
			if err != nil {
				errs[i] = err
				continue
			}
			acts = append(acts, a)
			traced = append(traced, m)
		}
		ctx, span := projectSpan(ctx, tracer, traced)
		err := uc.Handle(ctx, acts)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "projection write failed")
		}
		span.End()
		if err != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = err
				}
			}
			return errs
		}
		// One Add per type and batch, not per event: a counter's attribute set costs
		// allocations on every call.
		byType := make(map[string]int64, 8)
		for i := range acts {
			byType[acts[i].Type]++
		}
		for typ, n := range byType {
			folded.Add(ctx, n, metric.WithAttributes(attribute.String("type", typ)))
		}
		now := time.Now()
		for i, m := range msgs {
			if errs[i] == nil && !m.Stored.IsZero() {
				latency.Record(ctx, now.Sub(m.Stored).Seconds())
			}
		}
		return errs
	}
}

// projectSpan starts the span of one batch's projection write (the reads, the fold and the
// PutMany, with the store's own client spans under it). One write serves many messages, and a
// span has one parent: it is the child of the first message's consumer span, so that an
// event's trace runs from its request to the write, and it links to the consumer span of the
// first message of every other trace in the batch (one link per trace, not per message: a
// request of a thousand events is one trace), so that each of those traces can reach the
// write it went into. The OpenTelemetry messaging conventions trace batch processing this way.
func projectSpan(ctx context.Context, tracer trace.Tracer, msgs []*bus.Message) (context.Context, trace.Span) {
	if len(msgs) == 0 { // nothing to write: no span, rather than a lone root one
		return ctx, tracenoop.Span{}
	}
	parent := msgs[0].Context(ctx)
	first := trace.SpanContextFromContext(parent)
	seen := map[trace.TraceID]bool{first.TraceID(): true}
	var links []trace.Link
	for _, m := range msgs[1:] {
		sc := trace.SpanContextFromContext(m.Context(ctx))
		if !sc.IsValid() || seen[sc.TraceID()] {
			continue
		}
		seen[sc.TraceID()] = true
		links = append(links, trace.Link{SpanContext: sc})
	}
	return tracer.Start(parent, "recency project", trace.WithLinks(links...), trace.WithAttributes(
		attribute.Int("lethe.events", len(msgs)),
		attribute.Int("lethe.traces", len(seen)),
		attribute.String("messaging.nats.stream", msgs[0].Stream),
	))
}
