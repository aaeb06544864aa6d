package bus_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// BenchmarkPublishBatch measures ingest's path: batches of events through async publish to
// LETHE_ACTIVITY on an embedded file-store server, each batch waiting for all its acks.
func BenchmarkPublishBatch(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			js, _ := setup(b)
			p := publisher(b, js)
			subject := bus.ActivitySubject(testInst, "lethe.contact.created.v1")
			batch := make([]bus.Outgoing, size)
			ctx := context.Background()
			n := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for i := range batch {
					batch[i] = bus.Outgoing{Subject: subject, Event: newEvent(fmt.Sprintf("bench-%d", n))}
					n++
				}
				if err := p.PublishBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkConsumeBatch measures the recency path: ConsumeBatch with a handler that only
// acknowledges, so the figure is the bus's own ceiling.
func BenchmarkConsumeBatch(b *testing.B) {
	js, _ := setup(b)
	p := publisher(b, js)
	subject := bus.ActivitySubject(testInst, "lethe.contact.created.v1")
	total := max(b.N, 1)
	batch := make([]bus.Outgoing, 0, 1000)
	for i := range total {
		batch = append(batch, bus.Outgoing{Subject: subject, Event: newEvent(fmt.Sprintf("c-%d", i))})
		if len(batch) == cap(batch) || i == total-1 {
			if err := p.PublishBatch(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	done := make(chan struct{})
	seen := 0
	b.ReportAllocs()
	b.ResetTimer()
	stop := running(b, func(ctx context.Context) error {
		return bus.ConsumeBatch(ctx, js, bus.ConsumerConfig{Stream: bus.StreamActivity, Durable: "bench"},
			func(ctx context.Context, msgs []*bus.Message) []error {
				seen += len(msgs)
				if seen == total {
					close(done)
				}
				return nil
			})
	})
	<-done
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
	_ = stop()
}
