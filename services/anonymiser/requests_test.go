package anonymiser

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/ledger"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// requestsRig is the whole anonymiser running (its consumers and its sweep) on a real store
// and an embedded JetStream, with its routes served, a clock the test moves and its metrics
// read by hand.
type requestsRig struct {
	*rig
	srv     *httptest.Server
	clock   atomic.Pointer[time.Time]
	metrics *sdkmetric.ManualReader
}

var exportToken = config.Token{Name: "dpo-export", SHA256: sha256hex("export-token"), Institutions: []string{inst},
	Scopes: []string{config.ScopeErase, config.ScopeRead, config.ScopeExport}}

func newRequestsRig(t *testing.T, st store.Store, opts ...Option) *requestsRig {
	t.Helper()
	_, js := platformtest.Bus(t)
	if err := bus.EnsureStreams(t.Context(), js, bus.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	d := platformtest.Deps(t, js, st, config.File{Tokens: append([]config.Token{exportToken}, rigTokens...)})
	reader := sdkmetric.NewManualReader()
	d.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	r := &requestsRig{metrics: reader}
	start := now
	r.clock.Store(&start)
	svc, err := New(d, append([]Option{WithClock(func() time.Time { return *r.clock.Load() }), WithSweepEvery(20 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	r.rig = &rig{t: t, st: st, sealer: d.Sealer, js: js, svc: svc}
	mux := http.NewServeMux()
	svc.Register(mux)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func (r *requestsRig) call(method, path, token, body string, out any) int {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func (r *requestsRig) request(id string) api.RequestView {
	r.t.Helper()
	var v api.RequestView
	if st := r.call(http.MethodGet, "/v1/requests/"+id, "read-token", "", &v); st != http.StatusOK {
		r.t.Fatalf("GET request %s: %d", id, st)
	}
	return v
}

func (r *requestsRig) list(query string) []api.RequestView {
	r.t.Helper()
	var l api.RequestList
	if st := r.call(http.MethodGet, "/v1/institutions/"+inst+"/requests"+query, "read-token", "", &l); st != http.StatusOK {
		r.t.Fatalf("GET requests%s: %d", query, st)
	}
	return l.Items
}

func (r *requestsRig) erase(contact string) api.RequestView {
	r.t.Helper()
	var v api.RequestView
	if st := r.call(http.MethodPost, "/v1/institutions/"+inst+"/contacts/"+contact+"/erasure", "dpo-token", "", &v); st != http.StatusAccepted {
		r.t.Fatalf("POST erasure %s: %d", contact, st)
	}
	return v
}

func (r *requestsRig) waitState(id, want string) api.RequestView {
	r.t.Helper()
	var v api.RequestView
	testkit.Eventually(r.t, "request "+id+" "+want, func() error {
		v = r.request(id)
		return testkit.Equal("state", v.State, want)
	})
	return v
}

// gauge reads lethe.requests (or another gauge) as attribute value → value.
func (r *requestsRig) gauge(name, attr string) map[string]int64 {
	r.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.metrics.Collect(context.Background(), &rm); err != nil {
		r.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					v, _ := dp.Attributes.Value(attrKey(attr))
					out[v.Emit()] = dp.Value
				}
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					out[""] += dp.Value
				}
			}
		}
	}
	return out
}

func TestBlockedErasureStaysOpenAndResumesWhenItsBlockerGoes(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		r := newRequestsRig(t, st)
		r.contact("c-owes", true, func(c *store.Contact) { c.Balance = store.Balance{Amount: -5, Currency: "EUR"} })
		first := r.erase("c-owes")
		blocked := r.waitState(first.ID, store.RequestBlocked)
		if blocked.Blocker != retention.ReasonDebt || !blocked.DueAt.Equal(retention.DueAt(now)) || blocked.CompletedAt != nil {
			t.Fatalf("blocked request %+v: want the blocker debt, due a month after receipt, not completed", blocked)
		}
		if c, _ := st.Contacts().Get(t.Context(), inst, "c-owes"); c.Status != store.StatusActive {
			t.Fatal("a contact who owes money was erased")
		}

		// Past its deadline while blocked: reported overdue, with the blocker.
		late := blocked.DueAt.Add(time.Hour)
		r.clock.Store(&late)
		testkit.Eventually(t, "the blocked request reported overdue", func() error {
			got := r.list("?overdue=true")
			if len(got) != 1 || got[0].ID != first.ID || got[0].Blocker != retention.ReasonDebt || !got[0].Overdue {
				return errors.New("overdue list: " + mustJSON(got))
			}
			return testkit.Equal("lethe.requests.overdue{blocker=debt}", r.gauge("lethe.requests.overdue", "blocker")["debt"], int64(1))
		})
		if n := r.gauge("lethe.requests", "state")[store.RequestBlocked]; n != 1 {
			t.Fatalf("lethe.requests{state=blocked} = %d, want 1", n)
		}

		// The balance comes back to zero in the projection (recency folding a
		// lethe.balance.changed.v1): the erasure resumes by itself, with the original deadline.
		c, err := st.Contacts().Get(t.Context(), inst, "c-owes")
		if err != nil {
			t.Fatal(err)
		}
		c.Balance = store.Balance{Amount: 0, Currency: "EUR"}
		if _, err := st.Contacts().Put(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		done := r.waitState(first.ID, store.RequestCompleted)
		if done.Outcome != OutcomeAnonymised || done.Attempt != 1 || !done.DueAt.Equal(blocked.DueAt) || done.Blocker != "" {
			t.Fatalf("resumed request %+v: want anonymised at attempt 1, the original deadline, no blocker", done)
		}
		if c, _ := st.Contacts().Get(t.Context(), inst, "c-owes"); c.Status != store.StatusAnonymised {
			t.Fatalf("contact after the resumed erasure: %s, want anonymised", c.Status)
		}
		// Downstream saw the skip and then the erasure; the ledger holds the erasure only.
		var outcomes []string
		for _, e := range r.results() {
			outcomes = append(outcomes, e.Type())
		}
		if strings.Join(outcomes, ",") != "lethe.contact.skipped.v1,lethe.contact.anonymised.v1" {
			t.Fatalf("outcomes %v, want the skip (debt) then the anonymisation", outcomes)
		}
		entries := bustest.Stored(t, r.js, bus.StreamErasures)
		var e ledger.Entry
		if len(entries) != 1 || json.Unmarshal(entries[0].Data, &e) != nil || e.RequestID != first.ID || e.Kind != ledger.KindAnonymised {
			t.Fatalf("ledger %d entries (%+v), want the one anonymisation of request %s", len(entries), e, first.ID)
		}
		if strings.Contains(string(entries[0].Data), "@mail.example") {
			t.Fatal("the ledger holds a personal value")
		}
		testkit.Eventually(t, "the gauges recounted", func() error {
			return testkit.Equal("lethe.requests{state=completed}", r.gauge("lethe.requests", "state")[store.RequestCompleted], int64(1))
		})
	})
}

// faultyKeys fails every Destroy while failing is set: a store fault at the crypto-shredding
// step, injected through the port (the store and the bus are real).
type faultyKeys struct {
	KeyDestroyer
	failing atomic.Bool
	calls   atomic.Int64
}

var errInjected = errors.New("injected: key store unavailable")

func (k *faultyKeys) Destroy(ctx context.Context, institution, contact string) error {
	k.calls.Add(1)
	if k.failing.Load() {
		return errInjected
	}
	return k.KeyDestroyer.Destroy(ctx, institution, contact)
}

func TestFailingErasureIsRetriedThenFailedCountedListedAndRetriedByAnOperator(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		keys := &faultyKeys{}
		keys.failing.Store(true)
		var once sync.Once
		r := newRequestsRig(t, st,
			WithKeyDestroyer(func(k KeyDestroyer) KeyDestroyer { once.Do(func() { keys.KeyDestroyer = k }); return keys }),
			WithCommandRetries(3, 10*time.Millisecond))
		r.contact("c-1", false, nil)
		req := r.erase("c-1")
		failed := r.waitState(req.ID, store.RequestFailed)
		if !strings.Contains(failed.Error, errInjected.Error()) || failed.CompletedAt != nil {
			t.Fatalf("failed request %+v: want the injected error as its reason", failed)
		}
		if n := keys.calls.Load(); n != 3 {
			t.Fatalf("the key was tried %d times, want 3 (the retries)", n)
		}
		if got := r.list("?state=failed"); len(got) != 1 || got[0].ID != req.ID {
			t.Fatalf("failed requests listed: %s", mustJSON(got))
		}
		if n := r.gauge("lethe.request.failures", "")[""]; n != 1 {
			t.Fatalf("lethe.request.failures = %d, want 1", n)
		}
		// Nothing was half-done in a way a retry cannot finish: the store fault goes, and an
		// operator retries.
		keys.failing.Store(false)
		var v api.RequestView
		if st := r.call(http.MethodPost, "/v1/requests/"+req.ID+"/retry", "read-token", "", &v); st != http.StatusForbidden {
			t.Fatalf("retry with a read-only token: %d, want 403", st)
		}
		if st := r.call(http.MethodPost, "/v1/requests/"+req.ID+"/retry", "dpo-token", "", &v); st != http.StatusOK || v.Attempt != 1 {
			t.Fatalf("retry: %d %+v", st, v)
		}
		done := r.waitState(req.ID, store.RequestCompleted)
		if done.Outcome != OutcomeDeleted || done.Error != "" {
			t.Fatalf("retried request %+v, want deleted", done)
		}
		if _, err := st.Keys().Get(t.Context(), inst, "c-1"); !errors.Is(err, store.ErrKeyDestroyed) {
			t.Fatalf("key after the retried erasure: %v, want destroyed", err)
		}
		if st := r.call(http.MethodPost, "/v1/requests/"+req.ID+"/retry", "dpo-token", "", nil); st != http.StatusConflict {
			t.Fatalf("retry of a completed request: %d, want 409", st)
		}
		var retried bool
		for _, e := range r.auditEntries() {
			retried = retried || (e.Action == ActionRequestRetried && e.Actor == "token:dpo")
		}
		if !retried {
			t.Fatal("the operator's retry is not in the audit trail")
		}
	})
}

func TestExtensionAndRefusalOnTheLegalClock(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		r := newRequestsRig(t, st)
		r.contact("c-held", true, func(c *store.Contact) { c.LegalHold = store.LegalHold{Held: true} })
		req := r.erase("c-held")
		r.waitState(req.ID, store.RequestBlocked)
		path := "/v1/requests/" + req.ID
		latest := retention.LatestDue(req.ReceivedAt)
		for _, tc := range []struct {
			body, pointer string
		}{
			{`{"due_at":"` + latest.Add(time.Second).Format(time.RFC3339) + `","reason":"complex case"}`, "/due_at"},
			{`{"due_at":"` + req.DueAt.Add(-time.Hour).Format(time.RFC3339) + `","reason":"complex case"}`, "/due_at"},
			{`{"due_at":"` + latest.Format(time.RFC3339) + `","reason":""}`, "/reason"},
			{`{"due_at":"next month","reason":"complex case"}`, "/due_at"},
		} {
			var p struct {
				Errors []struct{ Pointer string } `json:"errors"`
			}
			if st := r.call(http.MethodPost, path+"/extend", "dpo-token", tc.body, &p); st != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Pointer != tc.pointer {
				t.Fatalf("extend %s: %d %+v, want 422 at %s", tc.body, st, p, tc.pointer)
			}
		}
		var v api.RequestView
		body := `{"due_at":"` + latest.Format(time.RFC3339) + `","reason":"the hold must be lifted by a court first"}`
		if st := r.call(http.MethodPost, path+"/extend", "dpo-token", body, &v); st != http.StatusOK {
			t.Fatalf("extend to three months: %d", st)
		}
		last := v.Actions[len(v.Actions)-1]
		if !v.DueAt.Equal(latest) || v.State != store.RequestBlocked || last.By != "token:dpo" || last.Action != store.RequestExtended ||
			last.DueAt == nil || !last.DueAt.Equal(latest) {
			t.Fatalf("extended request %+v: want due %s, still blocked, the extension by token:dpo", v, latest)
		}
		// The reason is personal: sealed in the store, shown to an export token only.
		if v.DecisionReason != "" || !v.DecisionReasonSealed {
			t.Fatalf("an erase/read token sees the reason %q", v.DecisionReason)
		}
		stored, _ := st.Requests().Get(t.Context(), req.ID)
		if strings.Contains(mustJSON(stored), "court") {
			t.Fatal("the reason is stored in clear")
		}
		var full api.RequestView
		r.call(http.MethodGet, path, "export-token", "", &full)
		if full.DecisionReason != "the hold must be lifted by a court first" {
			t.Fatalf("export token reads the reason %q", full.DecisionReason)
		}

		if st := r.call(http.MethodPost, path+"/refuse", "dpo-token", `{}`, nil); st != http.StatusUnprocessableEntity {
			t.Fatalf("refuse without a reason: %d, want 422", st)
		}
		if st := r.call(http.MethodPost, path+"/refuse", "dpo-token", `{"reason":"legal obligation to keep the records"}`, &v); st != http.StatusOK || v.State != store.RequestRefused || v.CompletedAt == nil {
			t.Fatalf("refuse: %d %+v", st, v)
		}
		if st := r.call(http.MethodPost, path+"/extend", "dpo-token", body, nil); st != http.StatusConflict {
			t.Fatalf("extend a refused request: %d, want 409", st)
		}
		// A refused request does not resume, even once its blocker goes.
		c, _ := st.Contacts().Get(t.Context(), inst, "c-held")
		c.LegalHold = store.LegalHold{}
		if _, err := st.Contacts().Put(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, "a sweep after the hold went", func() error {
			return testkit.Equal("lethe.requests{state=refused}", r.gauge("lethe.requests", "state")[store.RequestRefused], int64(1))
		})
		if got := r.request(req.ID); got.State != store.RequestRefused {
			t.Fatalf("refused request is now %s", got.State)
		}
		actions := map[string]string{}
		for _, e := range r.auditEntries() {
			actions[e.Action] = e.Actor
		}
		if actions[ActionRequestExtended] != "token:dpo" || actions[ActionRequestRefused] != "token:dpo" {
			t.Fatalf("audit actions %v: want the extension and the refusal by token:dpo", actions)
		}
		// Filters: bad ones are 400 with a pointer.
		for _, q := range []string{"?state=pending", "?due_within=soon", "?overdue=maybe", "?colour=red", "?kind=other"} {
			if st := r.call(http.MethodGet, "/v1/institutions/"+inst+"/requests"+q, "read-token", "", nil); st != http.StatusBadRequest {
				t.Fatalf("GET requests%s: %d, want 400", q, st)
			}
		}
		if got := r.list("?state=refused&due_within=P4M"); len(got) != 0 {
			t.Fatalf("due_within lists answered requests: %s", mustJSON(got))
		}
		// An access request is on the clock too.
		var a api.RequestView
		if st := r.call(http.MethodPost, "/v1/institutions/"+inst+"/contacts/c-held/access", "dpo-token", "", nil); st != http.StatusForbidden {
			t.Fatalf("access request without the export scope: %d, want 403", st)
		}
		if st := r.call(http.MethodPost, "/v1/institutions/"+inst+"/contacts/c-held/access", "export-token", "", &a); st != http.StatusAccepted ||
			a.Kind != store.KindAccess || a.State != store.RequestReceived || !a.DueAt.Equal(retention.DueAt(a.ReceivedAt)) {
			t.Fatalf("access request: %d %+v", st, a)
		}
		if got := r.list("?kind=access&due_within=P1M"); len(got) != 1 || got[0].ID != a.ID {
			t.Fatalf("access requests due within a month: %s", mustJSON(got))
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func attrKey(name string) attribute.Key { return attribute.Key(name) }
