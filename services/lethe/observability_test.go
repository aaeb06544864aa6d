package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/server"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// One `lethe serve` with every span kept: an event's trace from POST /v1/events to the
// projection write, an apply run's trace from its start through each command to its outcome,
// then /metrics after that traffic, and the Grafana dashboard against what /metrics exports.
func TestObservabilityEndToEnd(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	// A destination follows the institution, so that its backlog gauges are exported (and
	// checked against the API below) and the dashboard's destination panels query something real.
	token := randomHex(16)
	yaml := fmt.Sprintf(`destinations:
  - {name: crm-obs, institutions: [%s]}
tokens:
  - {name: ops, sha256: %q, institutions: ["*"], scopes: [ingest, read, admin, erase, export]}
`, runsInst, hashHex(token))
	cfg := filepath.Join(t.TempDir(), "lethe.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServeAs(t, t.TempDir(), false, func(c *server.Config) { c.Spans = keepSpans{spans} }, "--config", cfg)
	s.token = token
	api := &apiClient{t: t, base: s.http, token: s.token}

	t.Run("an event's trace reaches the projection write", func(t *testing.T) { eventTrace(t, s, spans) })

	// One invalid event, so that rejections are counted too.
	if st, b := api.do(http.MethodPost, "/v1/events", events.MediaTypeBatch,
		[]byte(`[{"specversion":"1.0","id":"bad-1","source":"/test","type":"`+events.TypeContactCreated+`","subject":"c-bad","institution":"`+runsInst+`","datacontenttype":"application/json","data":{"role":"emperor"}}]`)); st != http.StatusBadRequest {
		t.Fatalf("an invalid event: %d %s", st, b)
	}

	// A simulation, then its apply: one delete, one anonymisation, one skip (debt).
	seedRunsInstitution(t, s)
	runs := "/v1/institutions/" + runsInst + "/runs"
	sim := api.post(runs, `{"mode":"simulation"}`)["id"].(string)
	api.waitJSON(runs+"/"+sim, func(v map[string]any) bool { return v["state"] == "planned" })
	apply := api.post(runs+"/"+sim+"/apply", "")["id"].(string)
	api.waitJSON(runs+"/"+apply, func(v map[string]any) bool { return v["state"] == "completed" })

	t.Run("an apply's trace runs from its start through each command to its outcome", func(t *testing.T) {
		// The run span ends once every result is recorded; a consumer span ends after its
		// message's ack, which may come a moment later.
		var root tracetest.SpanStub
		var all tracetest.SpanStubs
		testkit.Eventually(t, "the apply's spans", func() error {
			all = spans.GetSpans()
			var ok bool
			if root, ok = findSpan(all, func(sp tracetest.SpanStub) bool {
				return sp.Name == "scheduler.run" && attrOf(sp, "lethe.run_id") == apply
			}); !ok {
				return fmt.Errorf("the run span has not ended yet")
			}
			n := 0
			for _, sp := range all {
				if sp.Name == "process LETHE_COMMANDS" && sp.SpanContext.TraceID() == root.SpanContext.TraceID() {
					n++
				}
			}
			if n < 3 {
				return fmt.Errorf("%d command consumer spans ended in the run's trace", n)
			}
			return nil
		})
		inTrace := slices.DeleteFunc(slices.Clone(all), func(sp tracetest.SpanStub) bool {
			return sp.SpanContext.TraceID() != root.SpanContext.TraceID()
		})
		// The trace begins with the request that started the apply.
		request, ok := findSpan(inTrace, func(sp tracetest.SpanStub) bool {
			return sp.SpanContext.SpanID() == root.Parent.SpanID()
		})
		switch {
		case !ok:
			t.Errorf("the run span's parent is not in its trace (parent %s)", root.Parent.SpanID())
		case request.Name != "POST /v1/institutions/{inst}/runs/{run}/apply" || request.SpanKind != trace.SpanKindServer ||
			attrOf(request, "lethe.run_id") != apply || attrOf(request, "lethe.simulation_id") != sim ||
			attrOf(request, "lethe.institution") != runsInst || request.Parent.IsValid():
			t.Errorf("the run span's parent: %s %v %v (parent %v)", request.Name, request.SpanKind, request.Attributes, request.Parent)
		}
		children := func(parent tracetest.SpanStub, name string) []tracetest.SpanStub {
			var out []tracetest.SpanStub
			for _, sp := range inTrace {
				if sp.Name == name && sp.Parent.SpanID() == parent.SpanContext.SpanID() {
					out = append(out, sp)
				}
			}
			return out
		}
		commands := children(root, "send lethe.command")
		if len(commands) != 3 {
			t.Fatalf("%d command publish spans under the run's span, want 3 (one per item)", len(commands))
		}
		outcomes := map[string]string{} // contact → the outcome's event type
		for _, cmd := range commands {
			contact := attrOf(cmd, "cloudevents.event_subject")
			procs := children(cmd, "process LETHE_COMMANDS")
			if len(procs) != 1 {
				t.Errorf("command for %s: %d consumer spans under it, want 1", contact, len(procs))
				continue
			}
			if procs[0].SpanKind != trace.SpanKindConsumer || attrOf(procs[0], "cloudevents.event_id") != attrOf(cmd, "cloudevents.event_id") {
				t.Errorf("command for %s: consumer span %v %v", contact, procs[0].SpanKind, procs[0].Attributes)
			}
			results := children(procs[0], "send lethe.result")
			if len(results) != 1 {
				t.Errorf("command for %s: %d outcome publish spans under its consumer span, want 1", contact, len(results))
				continue
			}
			if attrOf(results[0], "cloudevents.event_subject") != contact {
				t.Errorf("outcome of %s names %q", contact, attrOf(results[0], "cloudevents.event_subject"))
			}
			outcomes[contact] = attrOf(results[0], "cloudevents.event_type")
		}
		want := map[string]string{
			"c-old-prospect": events.TypeContactDeleted,
			"c-old-customer": events.TypeContactAnonymised,
			"c-old-debtor":   events.TypeContactSkipped,
		}
		if !mapsEqual(outcomes, want) {
			t.Errorf("outcomes in the run's trace %v, want %v", outcomes, want)
		}
		completed := children(root, "send lethe.result")
		if len(completed) != 1 || attrOf(completed[0], "cloudevents.event_type") != events.TypeRunCompleted {
			t.Errorf("the run's completion under its span: %d spans", len(completed))
		}
		// seedRunsInstitution's e-mail addresses are nowhere on a span.
		if leaks := spanLeaks([]string{"p@example.net", "c@example.net", "r@example.net"}, all); len(leaks) > 0 {
			t.Errorf("a personal value on a span: %v", leaks)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		// Consumer lag: a downstream CRM's durable that has read nothing yet lags by every
		// result on the stream; the services' durables all come back to 0 once the apply has
		// completed (their last acks may still be on their way when it is marked so).
		nc, err := nats.Connect(s.bus)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js := bustest.JetStream(t, nc)
		if _, err := js.CreateConsumer(t.Context(), bus.StreamResults, jetstream.ConsumerConfig{Durable: "crm-test", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Fatal(err)
		}
		results := streamState(t, js, bus.StreamResults).Msgs
		if results < 4 {
			t.Fatalf("%d messages on LETHE_RESULTS, want the apply's 3 outcomes and its completion at least", results)
		}
		crm := map[string]string{"stream": bus.StreamResults, "consumer": "crm-test"}
		testkit.Eventually(t, "consumer lag", func() error {
			fams := scrape(t, s.http)
			if v, ok := sample(fams, "lethe_bus_consumer_pending", crm); !ok || v != float64(results) {
				return fmt.Errorf("lethe_bus_consumer_pending%v = %v (present %v), want %d", crm, v, ok, results)
			}
			for _, c := range [][2]string{{bus.StreamActivity, bus.DurableRecency}, {bus.StreamActivity, bus.DurableErasureRequests},
				{bus.StreamCommands, bus.DurableCommands}, {bus.StreamInbox, bus.DurableInbox}} {
				labels := map[string]string{"stream": c[0], "consumer": c[1]}
				for _, name := range []string{"lethe_bus_consumer_pending", "lethe_bus_consumer_ack_pending"} {
					if v, ok := sample(fams, name, labels); !ok || v != 0 {
						return fmt.Errorf("%s%v = %v (present %v), want 0", name, labels, v, ok)
					}
				}
			}
			return nil
		})
		fams := scrape(t, s.http)
		// Ingest-to-projection latency: one observation per folded event (8 were posted).
		if h := histogram(fams, "lethe_recency_ingest_to_projection_seconds"); h == nil || h.GetSampleCount() < 8 || h.GetSampleSum() < 0 {
			t.Errorf("ingest-to-projection histogram %v, want at least 8 observations", h)
		}
		for labels, want := range map[string]float64{
			"reason=debt": 1, "reason=credit": 0, "reason=active_subscription": 0, "reason=legal_hold": 0,
		} {
			l := map[string]string{"institution": runsInst, "reason": strings.TrimPrefix(labels, "reason=")}
			if v, ok := sample(fams, "lethe_contacts_overdue", l); !ok || v != want {
				t.Errorf("lethe_contacts_overdue%v = %v (present %v), want %v", l, v, ok, want)
			}
		}
		for reason, want := range map[[2]string]float64{
			{"deleted", ""}: 1, {"anonymised", ""}: 1, {"skipped", "debt"}: 1,
		} {
			l := map[string]string{"outcome": reason[0], "reason": reason[1]}
			if v, ok := sample(fams, "lethe_anonymiser_outcomes_total", l); !ok || v != want {
				t.Errorf("lethe_anonymiser_outcomes_total%v = %v (present %v), want %v", l, v, ok, want)
			}
		}
		// The destination's backlog: the apply's outcomes await crm-obs's confirmation, the
		// gauge says as many as GET …/destinations, and the requests' gauges are out.
		var dests struct {
			Destinations []struct {
				Name        string `json:"name"`
				Unconfirmed int64  `json:"unconfirmed"`
			} `json:"destinations"`
		}
		if st, b := api.do(http.MethodGet, "/v1/institutions/"+runsInst+"/destinations", "", nil); st != http.StatusOK || json.Unmarshal(b, &dests) != nil {
			t.Fatalf("GET …/destinations: %d %s", st, b)
		}
		if len(dests.Destinations) != 1 || dests.Destinations[0].Name != "crm-obs" || dests.Destinations[0].Unconfirmed == 0 {
			t.Errorf("GET …/destinations %+v, want crm-obs with the apply's outcomes unconfirmed", dests)
		} else {
			d := map[string]string{"destination": "crm-obs"}
			if v, ok := sample(fams, "lethe_destination_unconfirmed", d); !ok || v != float64(dests.Destinations[0].Unconfirmed) {
				t.Errorf("lethe_destination_unconfirmed%v = %v (present %v), want %d as the API says", d, v, ok, dests.Destinations[0].Unconfirmed)
			}
			if _, ok := sample(fams, "lethe_destination_oldest_unconfirmed_age_seconds", d); !ok {
				t.Errorf("lethe_destination_oldest_unconfirmed_age_seconds%v is not exported", d)
			}
		}
		for _, name := range []string{"lethe_requests", "lethe_requests_overdue", "lethe_request_failures_total"} {
			if _, ok := fams[exportedFamily(name)]; !ok {
				t.Errorf("%s is not exported", name)
			}
		}
		l := map[string]string{"transport": "http", "type": events.TypeContactCreated}
		if v, ok := sample(fams, "lethe_ingest_events_accepted_total", l); !ok || v != 5 {
			t.Errorf("lethe_ingest_events_accepted_total%v = %v, want 5", l, v)
		}
		l["reason"] = "invalid"
		if v, ok := sample(fams, "lethe_ingest_events_rejected_total", l); !ok || v != 1 {
			t.Errorf("lethe_ingest_events_rejected_total%v = %v, want 1", l, v)
		}
	})

	t.Run("the Grafana dashboard queries only what /metrics exports", func(t *testing.T) {
		fams := scrape(t, s.http)
		queries := dashboardQueries(t, filepath.Join("..", "..", "deploy", "grafana", "dashboards", "lethe.json"))
		seen := map[string]bool{}
		for _, q := range queries {
			for _, name := range q.metrics {
				seen[name] = true
				f, ok := fams[exportedFamily(name)]
				if !ok {
					t.Errorf("%s queries %s, which /metrics does not export", q.where, name)
					continue
				}
				for _, l := range q.labels {
					if !hasLabel(f, l) {
						t.Errorf("%s groups %s by %q, a label it does not carry", q.where, name, l)
					}
				}
			}
		}
		// DESIGN.md's metrics, each on the dashboard.
		for _, name := range []string{"lethe_ingest_events_accepted_total", "lethe_ingest_events_rejected_total",
			"lethe_bus_consumer_pending", "lethe_recency_ingest_to_projection_seconds_bucket",
			"lethe_contacts_overdue", "lethe_anonymiser_outcomes_total",
			"lethe_requests", "lethe_requests_overdue", "lethe_request_failures_total",
			"lethe_destination_unconfirmed", "lethe_destination_oldest_unconfirmed_age_seconds"} {
			if !seen[name] {
				t.Errorf("the dashboard does not query %s", name)
			}
		}
	})
}

// eventTrace posts one event with a personal value and checks its trace: the request span,
// the publish, recency's consumer span and the projection write under it, all in one trace,
// with the event's id, type, source and subject and never the value. It returns the write span.
func eventTrace(t *testing.T, s served, spans *tracetest.InMemoryExporter) tracetest.SpanStub {
	t.Helper()
	const canary = "trace-canary@mail.example"
	e, err := events.New("/test/traces", runsInst, "c-traced", &events.ContactCreated{Role: events.RoleIndividual,
		CreatedAt: time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC), Profile: events.Profile{Email: events.String(canary)}},
		events.WithID("ev-traced-1"))
	if err != nil {
		t.Fatal(err)
	}
	postEvents(t, s.http, s.token, e)

	var request, send, process, project tracetest.SpanStub
	testkit.Eventually(t, "the event's spans", func() error {
		all := spans.GetSpans()
		var ok bool
		if request, ok = findSpan(all, func(sp tracetest.SpanStub) bool {
			return sp.Name == "ingest POST /v1/events" && attrOf(sp, "lethe.ingest.events") == "1"
		}); !ok {
			return fmt.Errorf("no request span among %d", len(all))
		}
		if send, ok = findSpan(all, func(sp tracetest.SpanStub) bool {
			return sp.Name == "send lethe.activity" && attrOf(sp, "cloudevents.event_id") == "ev-traced-1"
		}); !ok {
			return fmt.Errorf("no publish span")
		}
		if process, ok = findSpan(all, func(sp tracetest.SpanStub) bool {
			return sp.Name == "process LETHE_ACTIVITY" && attrOf(sp, "cloudevents.event_id") == "ev-traced-1" &&
				attrOf(sp, "messaging.destination.subscription.name") == "recency"
		}); !ok {
			return fmt.Errorf("no recency consumer span")
		}
		if project, ok = findSpan(all, func(sp tracetest.SpanStub) bool {
			return sp.Name == "recency project" && sp.Parent.SpanID() == process.SpanContext.SpanID()
		}); !ok {
			return fmt.Errorf("no projection write span under the consumer span")
		}
		return nil
	})
	traceID := request.SpanContext.TraceID()
	for _, c := range []struct {
		name         string
		span, parent tracetest.SpanStub
		kind         trace.SpanKind
	}{
		{"publish", send, request, trace.SpanKindProducer},
		{"recency consumer", process, send, trace.SpanKindConsumer},
		{"projection write", project, process, trace.SpanKindInternal},
	} {
		if c.span.SpanContext.TraceID() != traceID {
			t.Errorf("%s span in trace %s, want the request's %s", c.name, c.span.SpanContext.TraceID(), traceID)
		}
		if c.span.Parent.SpanID() != c.parent.SpanContext.SpanID() {
			t.Errorf("%s span's parent is %s, want %s (%s)", c.name, c.span.Parent.SpanID(), c.parent.SpanContext.SpanID(), c.parent.Name)
		}
		if c.span.SpanKind != c.kind {
			t.Errorf("%s span kind %v, want %v", c.name, c.span.SpanKind, c.kind)
		}
	}
	for _, sp := range []tracetest.SpanStub{send, process} {
		for k, v := range map[string]string{"cloudevents.event_id": "ev-traced-1", "cloudevents.event_type": events.TypeContactCreated,
			"cloudevents.event_source": "/test/traces", "cloudevents.event_subject": "c-traced"} {
			if got := attrOf(sp, k); got != v {
				t.Errorf("%s: %s = %q, want %q", sp.Name, k, got, v)
			}
		}
	}
	if got := attrOf(project, "lethe.events"); got == "" || got == "0" {
		t.Errorf("projection write span without its event count: %v", project.Attributes)
	}
	if leaks := spanLeaks([]string{canary}, spans.GetSpans()); len(leaks) > 0 {
		t.Errorf("a personal value on a span: %v", leaks)
	}
	return project
}

// The event's trace with MongoDB as the store: the driver's client spans of the projection
// write (the read and the compare-and-swap put of the contact) are children of its span.
func TestEventTraceReachesTheMongoWrite(t *testing.T) {
	t.Parallel()
	uri := testkit.MongoURI(t)
	spans := tracetest.NewInMemoryExporter()
	s := startServeAs(t, t.TempDir(), true, func(c *server.Config) { c.Spans = keepSpans{spans} },
		"--mongo-uri", uri, "--mongo-database", "lethe_traces_"+randomHex(6), "--master-key", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	project := eventTrace(t, s, spans)
	var ops []string
	for _, sp := range spans.GetSpans() {
		if sp.Parent.SpanID() == project.SpanContext.SpanID() && sp.SpanKind == trace.SpanKindClient && attrOf(sp, "db.system.name") == "mongodb" {
			ops = append(ops, sp.Name)
		}
	}
	slices.Sort(ops)
	if !slices.Contains(ops, "mongostore.contacts.get") || !slices.Contains(ops, "mongostore.contacts.put") {
		t.Errorf("MongoDB spans under the projection write: %v, want the contact's get and put", ops)
	}
}

// findSpan returns the first span ok accepts.
func findSpan(spans tracetest.SpanStubs, ok func(tracetest.SpanStub) bool) (tracetest.SpanStub, bool) {
	for _, sp := range spans {
		if ok(sp) {
			return sp, true
		}
	}
	return tracetest.SpanStub{}, false
}

func attrOf(sp tracetest.SpanStub, key string) string {
	for _, kv := range sp.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// scrape reads /metrics (no token: it is open like /healthz) as metric families.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// sample is the value of the series of family name whose labels include want.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func histogram(fams map[string]*dto.MetricFamily, name string) *dto.Histogram {
	f, ok := fams[name]
	if !ok || len(f.GetMetric()) == 0 {
		return nil
	}
	return f.GetMetric()[0].GetHistogram()
}

// reMetricName finds the metric names of a PromQL expression: every metric Lethe exports
// starts with lethe_, and no PromQL function or label of the dashboard does. reBy finds the
// labels an expression aggregates by.
var (
	reMetricName = regexp.MustCompile(`\blethe_[a-zA-Z0-9_]+`)
	reBy         = regexp.MustCompile(`\bby \(([^)]*)\)`)
)

// dashboardQuery is one query of the dashboard: the metrics it reads and the labels it
// groups them by.
type dashboardQuery struct {
	where   string
	metrics []string
	labels  []string
}

// dashboardQueries lists every query of the dashboard at path: the panels' targets and the
// template variables' queries.
func dashboardQueries(t *testing.T, path string) []dashboardQuery {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	parse := func(where, expr string) dashboardQuery {
		q := dashboardQuery{where: where, metrics: reMetricName.FindAllString(expr, -1)}
		for _, m := range reBy.FindAllStringSubmatch(expr, -1) {
			for _, l := range strings.Split(m[1], ",") {
				if l = strings.TrimSpace(l); l != "" && l != "le" {
					q.labels = append(q.labels, l)
				}
			}
		}
		if len(q.metrics) == 0 {
			t.Errorf("%s: expression %q queries no lethe metric", where, expr)
		}
		return q
	}
	var out []dashboardQuery
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, parse("panel "+p.Title, tg.Expr))
		}
	}
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			out = append(out, parse("variable "+v.Name, v.Definition))
		}
	}
	return out
}

// hasLabel reports whether some series of the family carries the label.
func hasLabel(f *dto.MetricFamily, label string) bool {
	for _, m := range f.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				return true
			}
		}
	}
	return false
}

// exportedFamily maps a series name a query uses to its family: a histogram's _bucket,
// _sum and _count series belong to the family without the suffix.
func exportedFamily(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if strings.HasSuffix(name, suffix) {
			return strings.TrimSuffix(name, suffix)
		}
	}
	return name
}
