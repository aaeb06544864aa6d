package recency

import (
	"context"
	"fmt"

	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// Run consumes LETHE_ACTIVITY into the projection until ctx is done; the routes are
// Register's.
func (s *Service) Run(ctx context.Context) error {
	defer s.ready.Stopped(bus.DurableRecency)
	err := bus.ConsumeBatch(ctx, s.js, bus.ConsumerConfig{
		Stream:  bus.StreamActivity,
		Durable: bus.DurableRecency,
	}, batchHandler(s.record, s.tp.Tracer("github.com/lethe-gdpr/lethe/services/recency"), s.folded, s.latency), bus.WithLogger(s.log), bus.WithTracerProvider(s.tp),
		bus.WithStarted(func() { s.ready.Running(bus.DurableRecency) }))
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("recency consumer: %w", err)
	}
	return nil
}
