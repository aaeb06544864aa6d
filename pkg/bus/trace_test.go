package bus_test

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/lethe-gdpr/lethe/pkg/bus"
)

func TestTraceContextTravelsFromPublishToConsume(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	for _, tc := range []struct {
		name  string
		batch bool
	}{{"Publish then Consume", false}, {"PublishBatch then ConsumeBatch", true}} {
		t.Run(tc.name, func(t *testing.T) {
			exp.Reset()
			p := publisher(t, js, bus.WithTracerProvider(tp))
			// The request span of, say, ingest's HTTP handler.
			ctx, parent := tp.Tracer("test").Start(context.Background(), "POST /v1/events")
			id := "traced-" + strings.ReplaceAll(tc.name, " ", "-")
			e := newEvent(id)
			subject := bus.ActivitySubject(testInst, e.Type())
			var err error
			if tc.batch {
				err = p.PublishBatch(ctx, []bus.Outgoing{{Subject: subject, Event: e}})
			} else {
				err = p.Publish(ctx, subject, e)
			}
			if err != nil {
				t.Fatal(err)
			}
			parent.End()

			seen := make(chan trace.SpanContext, 1)
			durable := "trace-batch"
			if !tc.batch {
				durable = "trace-single"
			}
			cfg := fastConsumer(durable)
			cfg.FilterSubjects = []string{subject}
			stop := running(t, func(ctx context.Context) error {
				if tc.batch {
					return bus.ConsumeBatch(ctx, js, cfg, func(ctx context.Context, msgs []*bus.Message) []error {
						for _, m := range msgs {
							if m.Event.ID() == id {
								seen <- trace.SpanContextFromContext(m.Context(ctx))
							}
						}
						return nil
					}, bus.WithTracerProvider(tp))
				}
				return bus.Consume(ctx, js, cfg, func(ctx context.Context, m *bus.Message) error {
					if m.Event.ID() == id {
						seen <- trace.SpanContextFromContext(ctx)
					}
					return nil
				}, bus.WithTracerProvider(tp))
			})
			handlerSC := <-seen
			if err := stop(); err != nil {
				t.Fatal(err)
			}

			var producer, consumer *tracetest.SpanStub
			spans := exp.GetSpans()
			for i := range spans {
				if !hasAttr(spans[i], "cloudevents.event_id", id) {
					continue // an event of the other subtest, on the same subject
				}
				switch spans[i].SpanKind {
				case trace.SpanKindProducer:
					producer = &spans[i]
				case trace.SpanKindConsumer:
					consumer = &spans[i]
				}
			}
			if producer == nil || consumer == nil {
				t.Fatalf("want a producer and a consumer span, got %d spans", len(spans))
			}
			if producer.Parent.SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("producer span is not a child of the caller's span")
			}
			if consumer.SpanContext.TraceID() != parent.SpanContext().TraceID() {
				t.Errorf("consumer span in trace %s, want %s", consumer.SpanContext.TraceID(), parent.SpanContext().TraceID())
			}
			if consumer.Parent.SpanID() != producer.SpanContext.SpanID() {
				t.Errorf("consumer span's parent %s, want the producer span %s", consumer.Parent.SpanID(), producer.SpanContext.SpanID())
			}
			if handlerSC.SpanID() != consumer.SpanContext.SpanID() {
				t.Errorf("the handler's context does not carry the consumer span")
			}
			for _, s := range []*tracetest.SpanStub{producer, consumer} {
				attrs := map[string]string{}
				for _, kv := range s.Attributes {
					attrs[string(kv.Key)] = kv.Value.Emit()
					if strings.Contains(kv.Value.Emit(), `"role"`) || strings.Contains(kv.Value.Emit(), "individual") {
						t.Errorf("span %s carries event data in %s", s.Name, kv.Key)
					}
				}
				for k, want := range map[string]string{
					"cloudevents.event_id":       id,
					"cloudevents.event_type":     "lethe.contact.created.v1",
					"cloudevents.event_source":   "/test/ticketing",
					"messaging.destination.name": subject,
				} {
					if attrs[k] != want {
						t.Errorf("span %s: %s = %q, want %q", s.Name, k, attrs[k], want)
					}
				}
			}
		})
	}
}

// With no span in the caller's context, an event that arrives already carrying an
// upstream's traceparent keeps that trace.
func TestPublishContinuesTheEventsOwnTrace(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	const upstream = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	e := newEvent("upstream-traced")
	e.SetExtension("traceparent", upstream)
	if err := publisher(t, js, bus.WithTracerProvider(tp)).Publish(context.Background(), bus.ActivitySubject(testInst, e.Type()), e); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	if got := spans[0].SpanContext.TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("trace %s, want the upstream's", got)
	}
	if got := spans[0].Parent.SpanID().String(); got != "00f067aa0ba902b7" {
		t.Fatalf("parent %s, want the upstream span", got)
	}
}

func hasAttr(s tracetest.SpanStub, key, value string) bool {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key && kv.Value.Emit() == value {
			return true
		}
	}
	return false
}
