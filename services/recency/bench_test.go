package recency

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// BenchmarkProjection measures events/s from a full LETHE_ACTIVITY stream to an up-to-date
// projection on the embedded stack (embedded NATS, Pebble): 100,000 events over 20,000
// contacts, consumed by the service's own batch consumer.
func BenchmarkProjection(b *testing.B) {
	contacts, perContact := *projContacts, 5
	ctx := context.Background()
	_, nc := bustest.RunServer(b)
	js, _ := jetstream.New(nc)
	if err := bus.EnsureStreams(ctx, js, bus.StreamsConfig{}); err != nil {
		b.Fatal(err)
	}
	pub, _ := bus.NewPublisher(js)
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []bus.Outgoing
	flush := func() {
		if err := pub.PublishBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for c := range contacts {
		id := fmt.Sprintf("c%06d", c)
		for k := range perContact {
			var d events.Data
			at := base.Add(time.Duration(c+k) * time.Hour)
			switch k {
			case 0:
				d = events.ContactCreated{Role: "individual", CreatedAt: at, Profile: events.Profile{Email: events.String("sealed:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")}}
			case 1:
				d = events.OrderPlaced{OrderID: id + "-o", OrderedAt: at, ContactRole: "buyer", Items: []events.Item{{ProductID: "p", Dated: true, ValidAt: at.Add(30 * 24 * time.Hour)}}}
			case 2:
				d = events.ConsentChanged{Authorisations: map[string]string{"marketing": "yes"}, ChangedAt: at}
			case 3:
				d = events.BalanceChanged{Balance: 0, Currency: "EUR", At: at}
			default:
				d = events.CampaignLinkClicked{CampaignID: "c", LinkID: "l", ClickedAt: at}
			}
			e, err := events.New("bench", "inst-a", id, d, events.WithID(fmt.Sprintf("%s-%d", id, k)))
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, bus.Outgoing{Subject: bus.ActivitySubject("inst-a", e.Type()), Event: e})
			if len(batch) == 1000 {
				flush()
			}
		}
	}
	flush()
	total := contacts * perContact
	folded, _ := noop.NewMeterProvider().Meter("").Int64Counter("x")

	b.ResetTimer()
	for i := range b.N {
		st := backendtest.Pebble(b)
		uc := NewRecordActivity(st.Contacts())
		cctx, cancel := context.WithCancel(ctx)
		last := fmt.Sprintf("c%06d", contacts-1)
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			done <- bus.ConsumeBatch(cctx, js, bus.ConsumerConfig{Stream: bus.StreamActivity, Durable: fmt.Sprintf("bench-%d", i), BatchSize: 1000}, batchHandler(uc, tracenoop.NewTracerProvider().Tracer(""), folded, noopHistogram()))
		}()
		testkit.Eventually(b, "every event folded", func() error {
			info, err := js.Consumer(ctx, bus.StreamActivity, fmt.Sprintf("bench-%d", i))
			if err != nil {
				return err
			}
			ci, err := info.Info(ctx)
			if err != nil {
				return err
			}
			return testkit.AtLeast("acknowledged", ci.AckFloor.Stream, uint64(total))
		})
		elapsed := time.Since(start)
		cancel()
		<-done
		c, err := st.Contacts().Get(ctx, "inst-a", last)
		if err != nil || c.RecencySource.Type == "" {
			b.Fatalf("projection incomplete: %v %+v", err, c.RecencySource)
		}
		b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")
	}
	testkit.ReportPeakRSS(b)
}

// projContacts sets the stream's length (5 events a contact): make bench runs 20,000 and
// 100,000 to show that the per-event cost does not grow with it.
var projContacts = flag.Int("proj.contacts", 20_000, "contacts of BenchmarkProjection's stream, 5 events each")

func noopHistogram() metric.Float64Histogram {
	h, _ := noop.NewMeterProvider().Meter("").Float64Histogram("latency")
	return h
}
