package bus

import (
	"context"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const instrumentationName = "github.com/lethe-gdpr/lethe/pkg/bus"

// tracing wraps the injected provider with the W3C TraceContext propagator; no global otel
// state is read or written.
type tracing struct {
	tracer trace.Tracer
	prop   propagation.TraceContext
}

func newTracing(tp trace.TracerProvider) tracing {
	return tracing{tracer: tp.Tracer(instrumentationName)}
}

// traceCarrier adapts two header values to the propagator.
type traceCarrier struct{ parent, state string }

func (c *traceCarrier) Get(key string) string {
	switch key {
	case extTraceParent:
		return c.parent
	case extTraceState:
		return c.state
	}
	return ""
}

func (c *traceCarrier) Set(key, value string) {
	switch key {
	case extTraceParent:
		c.parent = value
	case extTraceState:
		c.state = value
	}
}

func (c *traceCarrier) Keys() []string { return []string{extTraceParent, extTraceState} }

// eventTraceContext returns ctx carrying the remote span context found in the event's
// traceparent/tracestate extensions, or ctx unchanged.
func (t tracing) eventTraceContext(ctx context.Context, e *event.Event) context.Context {
	ext := extensionsOf(e)
	parent, _ := ext[extTraceParent].(string)
	if parent == "" {
		return ctx
	}
	state, _ := ext[extTraceState].(string)
	return t.prop.Extract(ctx, &traceCarrier{parent: parent, state: state})
}

// startPublish starts a producer span. Its parent is the caller's span, or else the trace
// the event already carries (an upstream's), so one trace runs from upstream to projection.
// It returns the traceparent/tracestate to put on the wire ("" when there is no valid span
// context to propagate).
func (t tracing) startPublish(ctx context.Context, subject string, e *event.Event) (trace.Span, string, string) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = t.eventTraceContext(ctx, e)
	}
	ctx, span := t.tracer.Start(ctx, "send "+subjectRoot(subject), trace.WithSpanKind(trace.SpanKindProducer))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", e.ID()),
		)
		setEventAttributes(span, e)
	}
	sc := span.SpanContext()
	if !sc.IsValid() {
		return span, "", ""
	}
	var c traceCarrier
	t.prop.Inject(ctx, &c)
	return span, c.parent, c.state
}

// startProcess starts a consumer span, child of the producer span named by the event's
// traceparent.
func (t tracing) startProcess(ctx context.Context, m *Message) (context.Context, trace.Span) {
	ctx = t.eventTraceContext(ctx, &m.Event)
	ctx, span := t.tracer.Start(ctx, "process "+m.Stream, trace.WithSpanKind(trace.SpanKindConsumer))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", m.Subject),
			attribute.String("messaging.destination.subscription.name", m.Consumer),
			attribute.String("messaging.nats.stream", m.Stream),
			attribute.Int64("messaging.nats.stream_sequence", int64(m.Sequence)),
			attribute.Int64("messaging.nats.deliveries", int64(m.Deliveries)),
			attribute.String("messaging.message.id", m.Event.ID()),
		)
		setEventAttributes(span, &m.Event)
	}
	return ctx, span
}

// setEventAttributes records identifying attributes only: the event's data may hold
// personal values and never goes on a span.
func setEventAttributes(span trace.Span, e *event.Event) {
	span.SetAttributes(
		attribute.String("cloudevents.event_id", e.ID()),
		attribute.String("cloudevents.event_type", e.Type()),
		attribute.String("cloudevents.event_source", e.Source()),
		attribute.String("cloudevents.event_spec_version", e.SpecVersion()),
	)
	if s := e.Subject(); s != "" {
		span.SetAttributes(attribute.String("cloudevents.event_subject", s))
	}
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// subjectRoot keeps a span name low in cardinality: "lethe.activity" rather than the full
// subject with its institution and type.
func subjectRoot(subject string) string {
	i := strings.IndexByte(subject, '.')
	if i < 0 {
		return subject
	}
	j := strings.IndexByte(subject[i+1:], '.')
	if j < 0 {
		return subject
	}
	return subject[:i+1+j]
}
