package recency_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
	"github.com/lethe-gdpr/lethe/services/recency"
)

// Three events of two traces (two from one request, one from another), stored before the
// consumer starts, are folded in one batch and one write: its span is the child of the first
// message's consumer span and links to the consumer span of the other trace, once — not once
// per message.
func TestProjectionWriteSpanLinksEveryOtherTraceOfItsBatch(t *testing.T) {
	t.Parallel()
	_, js := platformtest.Bus(t)
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	pub, err := bus.NewPublisher(js, bus.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	publish := func(request string, ids ...string) trace.TraceID {
		ctx, span := tp.Tracer("test").Start(context.Background(), request)
		defer span.End()
		var batch []bus.Outgoing
		for _, id := range ids {
			e, err := events.New("/test/traces", instA, "c-"+id, &events.CampaignLinkClicked{CampaignID: "camp", LinkID: "l", ClickedAt: at}, events.WithID(id))
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, bus.Outgoing{Subject: bus.ActivitySubject(instA, e.Type()), Event: e})
		}
		if err := pub.PublishBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		return span.SpanContext().TraceID()
	}
	traceA := publish("request A", "ev-a1", "ev-a2")
	traceB := publish("request B", "ev-b1")

	d := platformtest.Deps(t, js, backendtest.Pebble(t), config.File{})
	d.TracerProvider = tp
	rec, err := recency.New(d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("recency Run: %v", err)
		}
	})

	var project tracetest.SpanStub
	consumers := map[trace.SpanID]tracetest.SpanStub{}
	testkit.Eventually(t, "the batch's spans", func() error {
		clear(consumers)
		var projects []tracetest.SpanStub
		for _, sp := range spans.GetSpans() {
			switch sp.Name {
			case "recency project":
				projects = append(projects, sp)
			case "process " + bus.StreamActivity:
				consumers[sp.SpanContext.SpanID()] = sp
			}
		}
		if len(consumers) < 3 || len(projects) == 0 {
			return fmt.Errorf("%d consumer spans, %d write spans", len(consumers), len(projects))
		}
		if len(projects) != 1 {
			return fmt.Errorf("the three events were folded in %d batches, want 1", len(projects))
		}
		project = projects[0]
		return nil
	})

	parent, ok := consumers[project.Parent.SpanID()]
	if !ok {
		t.Fatalf("the write span's parent %s is no consumer span", project.Parent.SpanID())
	}
	if project.SpanContext.TraceID() != parent.SpanContext.TraceID() {
		t.Errorf("the write span is not in its parent's trace")
	}
	other := traceB
	if parent.SpanContext.TraceID() == traceB {
		other = traceA
	}
	if len(project.Links) != 1 {
		t.Fatalf("%d links, want 1 (the one other trace): %v", len(project.Links), project.Links)
	}
	linked, ok := consumers[project.Links[0].SpanContext.SpanID()]
	if !ok || linked.SpanContext.TraceID() != other {
		t.Errorf("the link goes to %v, want a consumer span of the other trace %s", project.Links[0].SpanContext, other)
	}
	for k, want := range map[string]string{"lethe.events": "3", "lethe.traces": "2"} {
		got := ""
		for _, kv := range project.Attributes {
			if string(kv.Key) == k {
				got = kv.Value.Emit()
			}
		}
		if got != want {
			t.Errorf("%s = %q, want %s", k, got, want)
		}
	}
}
