package recency

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
)

// publishHistories puts random histories of n contacts (with redelivered duplicates under
// fresh ids) on LETHE_ACTIVITY, shuffled across contacts and institutions.
func publishHistories(t *testing.T, js jetstream.JetStream, n int) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	var out []bus.Outgoing
	for i := range n {
		inst := []string{"inst-a", "inst-b"}[i%2]
		contact := fmt.Sprintf("c%03d", i)
		for _, a := range randomHistory(r, 1+r.IntN(12)) {
			var opts []events.Option
			opts = append(opts, events.WithID(contact+"-"+a.ID))
			if a.Organisation != "" {
				opts = append(opts, events.WithOrganisation(a.Organisation))
			}
			e, err := events.New("/test", inst, contact, a.Data.(events.Data), opts...)
			if err != nil {
				t.Fatalf("event: %v", err)
			}
			out = append(out, bus.Outgoing{Subject: bus.ActivitySubject(inst, e.Type()), Event: e})
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	pub, err := bus.NewPublisher(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.PublishBatch(context.Background(), out); err != nil {
		t.Fatal(err)
	}
}

func snapshot(t *testing.T, st store.Store) map[string]store.Contact {
	t.Helper()
	out := map[string]store.Contact{}
	for _, inst := range []string{"inst-a", "inst-b"} {
		if err := st.Contacts().Scan(context.Background(), inst, "", func(c store.Contact) error {
			c.Version, c.UpdatedAt = 0, time.Time{}
			out[inst+"/"+c.ID] = normalise(c)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestRebuildEndsIdenticalToTheLiveProjection(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		_, nc := bustest.RunServer(t)
		js := bustest.JetStream(t, nc)
		ctx := context.Background()
		if err := bus.EnsureStreams(ctx, js, bus.StreamsConfig{}); err != nil {
			t.Fatal(err)
		}
		publishHistories(t, js, 60)

		// The live projection, by the service's own consumer.
		folded, _ := noop.NewMeterProvider().Meter("").Int64Counter("x")
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- bus.ConsumeBatch(cctx, js, bus.ConsumerConfig{Stream: bus.StreamActivity, Durable: bus.DurableRecency},
				batchHandler(NewRecordActivity(st.Contacts()), tracenoop.NewTracerProvider().Tracer(""), folded, noopHistogram()))
		}()
		bustest.WaitCaughtUp(t, js, bus.StreamActivity, bus.DurableRecency)
		cancel()
		<-done
		// An erased contact stays as the anonymiser left it.
		erased, err := st.Contacts().Get(ctx, "inst-a", "c000")
		if err != nil {
			t.Fatal(err)
		}
		erased.Status, erased.Profile, erased.ErasedBy = store.StatusAnonymised, nil, "run:r1"
		if _, err := st.Contacts().Put(ctx, erased); err != nil {
			t.Fatal(err)
		}
		live := snapshot(t, st)
		if len(live) != 60 {
			t.Fatalf("live projection has %d contacts, want 60", len(live))
		}

		// Corrupt the projection the way a bug would, then rebuild.
		broken, _ := st.Contacts().Get(ctx, "inst-b", "c001")
		broken.Recency, broken.Customer = time.Time{}, !broken.Customer
		if _, err := st.Contacts().Put(ctx, broken); err != nil {
			t.Fatal(err)
		}
		stats, err := Rebuild(ctx, js, st.Contacts(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if stats.Institutions != 2 || stats.Reset != 59 || stats.Events == 0 {
			t.Fatalf("rebuild stats %+v, want 2 institutions and the 59 active contacts cleared", stats)
		}
		rebuilt := snapshot(t, st)
		if !reflect.DeepEqual(rebuilt, live) {
			for k, want := range live {
				if got := rebuilt[k]; !reflect.DeepEqual(got, want) {
					t.Fatalf("%s differs after the rebuild:\n got  %+v\n want %+v", k, got, want)
				}
			}
			t.Fatalf("the rebuilt projection has %d contacts, the live one %d", len(rebuilt), len(live))
		}
	})
}

func TestRebuildRefusesATrimmedStream(t *testing.T) {
	t.Parallel()
	st := backendtest.Pebble(t)
	_, nc := bustest.RunServer(t)
	js := bustest.JetStream(t, nc)
	ctx := context.Background()
	if err := bus.EnsureStreams(ctx, js, bus.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	publishHistories(t, js, 4)
	c := store.Contact{Institution: "inst-a", ID: "kept", Status: store.StatusActive, Created: true, Role: "individual"}
	if _, err := st.Contacts().Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	s, _ := js.Stream(ctx, bus.StreamActivity)
	if err := s.DeleteMsg(ctx, 1); err != nil { // as if the first event aged out
		t.Fatal(err)
	}
	if _, err := Rebuild(ctx, js, st.Contacts(), nil); !errors.Is(err, ErrStreamTrimmed) {
		t.Fatalf("Rebuild on a trimmed stream: %v, want ErrStreamTrimmed", err)
	}
	if _, err := st.Contacts().Get(ctx, "inst-a", "kept"); err != nil {
		t.Fatalf("a refused rebuild cleared the projection: %v", err)
	}
}
