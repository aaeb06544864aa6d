package ingest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/lethe-gdpr/lethe/events"
)

// counts reads a counter's points as "attr=value,…" → value.
func counts(t *testing.T, s *stack, name string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				var parts []string
				for _, kv := range dp.Attributes.ToSlice() {
					parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
				}
				out[strings.Join(parts, ",")] = dp.Value
			}
		}
	}
	return out
}

func TestMetricsCountByTypeAndReasonWithoutValues(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	const email = "metric-canary@mail.example"
	good := []event.Event{
		mustEvent(t, instA, "c-1", profileCreated(email, "A", "B")),
		mustEvent(t, instA, "c-1", click("camp-1")),
		mustEvent(t, instA, "c-2", click("camp-1")),
	}
	if r := s.postBatch(tokenA, good); r.status != http.StatusAccepted {
		t.Fatalf("status %d", r.status)
	}
	bad := []event.Event{
		mustEvent(t, instA, "c-3", click("camp-1")),
		rawEvent("e-x", "lethe."+email, instA, "c-3", map[string]any{}),
	}
	if r := s.postBatch(tokenA, bad); r.status != http.StatusBadRequest {
		t.Fatalf("status %d", r.status)
	}
	if r := s.postStructured(tokenA, mustEvent(t, instB, "c-4", click("camp-1"))); r.status != http.StatusForbidden {
		t.Fatalf("status %d", r.status)
	}

	acc := counts(t, s, "lethe.ingest.events.accepted")
	want := map[string]int64{
		"transport=http,type=" + events.TypeContactCreated:      1,
		"transport=http,type=" + events.TypeCampaignLinkClicked: 2,
	}
	for k, v := range want {
		if acc[k] != v {
			t.Errorf("accepted[%s] = %d, want %d (all: %v)", k, acc[k], v, acc)
		}
	}
	rej := counts(t, s, "lethe.ingest.events.rejected")
	for k, v := range map[string]int64{
		"reason=batch,transport=http,type=" + events.TypeCampaignLinkClicked:     1,
		"reason=invalid,transport=http,type=other":                               1,
		"reason=forbidden,transport=http,type=" + events.TypeCampaignLinkClicked: 1,
	} {
		if rej[k] != v {
			t.Errorf("rejected[%s] = %d, want %d (all: %v)", k, rej[k], v, rej)
		}
	}
	for k := range rej {
		if strings.Contains(k, email) {
			t.Errorf("a value became a metric attribute: %s", k)
		}
	}
}

func TestOneProducerSpanPerRequestParentsEveryPublish(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	es := []event.Event{mustEvent(t, instA, "c-1", click("camp-1")), mustEvent(t, instA, "c-2", click("camp-1"))}
	if r := s.postBatch(tokenA, es); r.status != http.StatusAccepted {
		t.Fatalf("status %d", r.status)
	}
	var req trace.SpanContext
	var sends int
	for _, sp := range s.spans.Ended() {
		if sp.Name() == "ingest "+Route {
			if sp.SpanKind() != trace.SpanKindProducer {
				t.Errorf("request span kind %v", sp.SpanKind())
			}
			if !hasAttr(sp.Attributes(), "lethe.ingest.events", "2") {
				t.Errorf("request span attributes %v", sp.Attributes())
			}
			req = sp.SpanContext()
		}
	}
	if !req.IsValid() {
		t.Fatalf("no request span among %d", len(s.spans.Ended()))
	}
	for _, sp := range s.spans.Ended() {
		if strings.HasPrefix(sp.Name(), "send ") && sp.Parent().SpanID() == req.SpanID() {
			sends++
		}
	}
	if sends != 2 {
		t.Errorf("%d publish spans under the request span, want 2", sends)
	}
	// The traceparent on the bus continues the request's trace.
	for _, g := range s.activity() {
		if tp, _ := g.event.Extensions()["traceparent"].(string); !strings.Contains(tp, req.TraceID().String()) {
			t.Errorf("traceparent %q is not in the request's trace", tp)
		}
	}
}

func hasAttr(kvs []attribute.KeyValue, key, value string) bool {
	for _, kv := range kvs {
		if string(kv.Key) == key && kv.Value.Emit() == value {
			return true
		}
	}
	return false
}
