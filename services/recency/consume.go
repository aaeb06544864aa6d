package recency

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// activityFrom turns a delivered event into an Activity. An event that no longer validates
// can never be folded: it is a permanent error and goes to the dead letters.
func activityFrom(m *bus.Message) (Activity, error) {
	d, err := events.Decode(m.Event)
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
// store failed, since the fold makes a retry of the whole batch harmless.
func batchHandler(uc *RecordActivity, folded metric.Int64Counter, latency metric.Float64Histogram) bus.BatchHandler {
	return func(ctx context.Context, msgs []*bus.Message) []error {
		errs := make([]error, len(msgs))
		acts := make([]Activity, 0, len(msgs))
		for i, m := range msgs {
			a, err := activityFrom(m)
			if err != nil {
				errs[i] = err
				continue
			}
			acts = append(acts, a)
		}
		if err := uc.Handle(ctx, acts); err != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = err
				}
			}
			return errs
		}
		for _, a := range acts {
			folded.Add(ctx, 1, metric.WithAttributes(attribute.String("type", a.Type)))
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
