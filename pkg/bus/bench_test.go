package bus_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
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

// BenchmarkPublishSync measures what the embedded server's sync policy costs ingest: the same
// batches of events published with an fsync every 2 minutes (the NATS default), every second
// (lethe's default), every 100ms, and after every message, in one run, each on its own store
// on a real disk, then logs each policy's median over -count runs as a ratio to the
// 2-minute case (the machine is shared and noisy: one run's ratio can be 0.6x or 1.2x). The store directory is
// LETHE_SYNC_BENCH_DIR, else /var/tmp: under TMPDIR=/dev/shm an fsync costs nothing and the
// figures would say nothing.
func BenchmarkPublishSync(b *testing.B) {
	dir := os.Getenv("LETHE_SYNC_BENCH_DIR")
	if dir == "" {
		dir = "/var/tmp"
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		b.Skipf("no directory %s for the store (set LETHE_SYNC_BENCH_DIR to one on a disk)", dir)
	}
	policies := []bus.SyncPolicy{{Interval: 2 * time.Minute}, bus.DefaultSync, {Interval: 100 * time.Millisecond}, {Always: true}}
	rates := make([][]float64, len(policies))
	const size = 100
	for i, policy := range policies {
		b.Run("sync="+policy.String(), func(b *testing.B) {
			store, err := os.MkdirTemp(dir, "lethe-sync-bench-")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = os.RemoveAll(store) })
			s, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: store, Port: -1, Sync: policy, ReadyTimeout: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
			js := newJS(b, bustest.Connect(b, s))
			ctx := context.Background()
			if err := bus.EnsureStreams(ctx, js, bus.StreamsConfig{}); err != nil {
				b.Fatal(err)
			}
			p := publisher(b, js)
			subject := bus.ActivitySubject(testInst, "lethe.contact.created.v1")
			batch := make([]bus.Outgoing, size)
			n := 0
			b.ResetTimer()
			for b.Loop() {
				for j := range batch {
					batch[j] = bus.Outgoing{Subject: subject, Event: newEvent(fmt.Sprintf("sync-%d", n))}
					n++
				}
				if err := p.PublishBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			rate := float64(n) / b.Elapsed().Seconds()
			rates[i] = append(rates[i], rate)
			b.ReportMetric(rate, "events/s")
		})
	}
	median := func(v []float64) float64 {
		slices.Sort(v)
		return v[len(v)/2]
	}
	if len(rates[0]) == 0 {
		return
	}
	base := median(rates[0])
	for i, policy := range policies {
		if len(rates[i]) == 0 {
			continue
		}
		m := median(rates[i])
		b.Logf("sync=%-6s median of %d: %8.0f events/s, %.2fx the 2m default's throughput (%.1fx slower)", policy, len(rates[i]), m, m/base, base/max(m, 1))
	}
}
