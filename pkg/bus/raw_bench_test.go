package bus_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// The raw JetStream reference of make bench: plain nats.go, no Lethe code on the client
// side, on the same embedded server as lethe serve (bus.StartEmbedded, a file store). Every
// Lethe bus figure is printed as a ratio to these, measured in the same run, because on a
// shared 2-core machine absolute rates mean nothing.
var (
	rawEvents = flag.Int("raw.events", 100_000, "messages BenchmarkRawPublish and BenchmarkRawConsume move per iteration")
	rawSize   = flag.Int("raw.size", 1100, "payload bytes per message (make bench passes the size of a sealed event on LETHE_ACTIVITY)")
)

// rawStream is a stream like LETHE_ACTIVITY: file storage, a duplicates window for msg ids.
func rawStream(b *testing.B, js jetstream.JetStream, name string) {
	b.Helper()
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute,
	}); err != nil {
		b.Fatal(err)
	}
}

// rawPublish publishes n messages with a Nats-Msg-Id each, at most window unacknowledged,
// and returns once every ack is in.
func rawPublish(b *testing.B, js jetstream.JetStream, subject, prefix string, n int, payload []byte) {
	b.Helper()
	for i := range n {
		if _, err := js.PublishAsync(subject, payload, jetstream.WithMsgID(fmt.Sprintf("%s-%09d", prefix, i))); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		b.Fatal("raw publish: acks did not arrive")
	}
}

// BenchmarkRawPublish is the ingest reference: async publish with msg ids, every ack awaited.
func BenchmarkRawPublish(b *testing.B) {
	_, nc := bustest.RunServer(b)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	rawStream(b, js, "RAW")
	payload := make([]byte, *rawSize)
	n := *rawEvents
	var total int
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		rawPublish(b, js, "RAW.events", fmt.Sprintf("p%d", i), n, payload)
		total += n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRawConsume is the projection reference: a durable pull consumer with explicit
// acks over a stream holding -raw.events messages, until all are acknowledged.
func BenchmarkRawConsume(b *testing.B) {
	_, nc := bustest.RunServer(b)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	rawStream(b, js, "RAW")
	n := *rawEvents
	rawPublish(b, js, "RAW.events", "c", n, make([]byte, *rawSize))
	ctx := context.Background()
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		cons, err := js.CreateConsumer(ctx, "RAW", jetstream.ConsumerConfig{
			Durable: fmt.Sprintf("raw-%d", i), AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10_000,
		})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		seen := 0
		start := time.Now()
		cc, err := cons.Consume(func(m jetstream.Msg) {
			if err := m.Ack(); err != nil {
				b.Error(err)
			}
			if seen++; seen == n {
				close(done)
			}
		}, jetstream.PullMaxMessages(1000))
		if err != nil {
			b.Fatal(err)
		}
		<-done
		// The last ack is a publish like the others; wait until the server has them all.
		testkit.Eventually(b, "every ack at the server", func() error {
			ci, err := cons.Info(ctx)
			if err != nil {
				return err
			}
			return testkit.AtLeast("ack floor", ci.AckFloor.Stream, uint64(n))
		})
		elapsed += time.Since(start)
		cc.Stop()
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "events/s")
}
