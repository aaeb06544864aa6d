package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// lagPoints collects the lag gauges: name → "stream/consumer" → value.
func lagPoints(t *testing.T, r *sdkmetric.ManualReader) map[string]map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	out := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			g, ok := m.Data.(metricdata.Gauge[int64])
			if !ok {
				continue
			}
			out[m.Name] = map[string]int64{}
			for _, dp := range g.DataPoints {
				s, _ := dp.Attributes.Value("stream")
				c, _ := dp.Attributes.Value("consumer")
				out[m.Name][s.AsString()+"/"+c.AsString()] = dp.Value
			}
		}
	}
	return out
}

// Ten events on LETHE_ACTIVITY, a durable that took four without acking them: six not yet
// delivered, four awaiting their ack; a durable that acked everything: nothing. Unregistered,
// the gauges are gone.
func TestConsumerLagIsReadFromJetStreamAtCollection(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	ctx := context.Background()
	publishN(t, publisher(t, js), 10, "lag")

	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	unregister, err := bus.ObserveConsumerLag(mp, js)
	if err != nil {
		t.Fatal(err)
	}

	slow, err := js.CreateConsumer(ctx, bus.StreamActivity, jetstream.ConsumerConfig{Durable: "lag-slow", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := slow.Fetch(4, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range batch.Messages() {
		n++ // delivered, not acked
	}
	if n != 4 {
		t.Fatalf("fetched %d, want 4", n)
	}
	done, err := js.CreateConsumer(ctx, bus.StreamActivity, jetstream.ConsumerConfig{Durable: "lag-done", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	all, err := done.Fetch(10, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range all.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}

	got := lagPoints(t, r)
	for _, c := range []struct {
		metric, series string
		want           int64
	}{
		{bus.MetricConsumerPending, "LETHE_ACTIVITY/lag-slow", 6},
		{bus.MetricConsumerAckPending, "LETHE_ACTIVITY/lag-slow", 4},
		{bus.MetricConsumerPending, "LETHE_ACTIVITY/lag-done", 0},
		{bus.MetricConsumerAckPending, "LETHE_ACTIVITY/lag-done", 0},
	} {
		v, ok := got[c.metric][c.series]
		if !ok || v != c.want {
			t.Errorf("%s{%s} = %d (present %v), want %d; all: %v", c.metric, c.series, v, ok, c.want, got)
		}
	}

	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	if got := lagPoints(t, r); len(got[bus.MetricConsumerPending]) != 0 {
		t.Errorf("after unregistering: %v", got)
	}
}
