package bus_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
)

// EncodedSize is what the server counts: an event of exactly the max payload is stored, one
// byte more is refused. (No tracer here, so no trace headers are added.)
func TestEncodedSizeIsWhatTheMaxPayloadCounts(t *testing.T) {
	t.Parallel()
	_, nc := bustest.RunServer(t)
	js := bustest.JetStream(t, nc)
	ctx := context.Background()
	if err := bus.EnsureStreams(ctx, js, bus.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	pub, err := bus.NewPublisher(js)
	if err != nil {
		t.Fatal(err)
	}
	subject := bus.ActivitySubject("inst-a", "lethe.contact.updated.v1")
	mk := func(id string, dataLen int) event.Event {
		e := event.New()
		e.SetID(id)
		e.SetSource("/test")
		e.SetType("lethe.contact.updated.v1")
		e.SetSubject("c-1")
		e.SetExtension("institution", "inst-a")
		_ = e.SetData("application/json", []byte(`"`+strings.Repeat("x", dataLen)+`"`))
		return e
	}
	max := int(nc.MaxPayload())
	probe, err := bus.EncodedSize(subject, mk("ev-1", 0))
	if err != nil {
		t.Fatal(err)
	}
	fits := mk("ev-1", max-probe)
	if n, _ := bus.EncodedSize(subject, fits); n != max {
		t.Fatalf("EncodedSize = %d, want %d", n, max)
	}
	if err := pub.Publish(ctx, subject, fits); err != nil {
		t.Fatalf("an event of exactly the max payload: %v", err)
	}
	over := mk("ev-2", max-probe+1)
	if err := pub.Publish(ctx, subject, over); err == nil {
		t.Fatal("an event one byte over the max payload was stored: EncodedSize undercounts")
	}
}
