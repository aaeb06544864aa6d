package scheduler_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// An execute run is not completed when its commands are queued: it stays executing until
// every item has its result, and then its counts — and lethe.run.completed.v1's — are what
// happened, not what was planned (issue 12, finding 3).
func testExecutingUntilEveryResult(t *testing.T, open func(t *testing.T) store.Store) {
	h := newBareHarness(t, open)
	f := newFixture()
	f.load(t, h.store)
	run := h.startRun(t, tokErase, `{"mode": "execute"}`, http.StatusAccepted)

	var queued store.Run
	testkit.Eventually(t, "every command queued", func() error {
		var err error
		if queued, err = h.store.Runs().Get(t.Context(), inst, run.ID); err != nil {
			t.Fatal(err)
		}
		return testkit.Equal("queued", queued.Queued, true)
	})
	if queued.State != store.RunExecuting {
		t.Fatalf("run with every command queued and no result is %s, want executing", queued.State)
	}
	if got, want := plannedOf(commandsOn(t, h)), f.commanded(); !reflect.DeepEqual(got, want) {
		t.Fatalf("commands %v, want one per item, skips included: %v", got, want)
	}
	if rc := runCompleted(t, h); len(rc) != 0 {
		t.Fatalf("run.completed published before any result: %+v", rc)
	}

	// Every item gets its result but one; one planned delete turned out active since.
	var drifted, last string
	for id, p := range f.expected {
		if drifted == "" && p.outcome == store.OutcomeDelete {
			drifted = id
		} else if last == "" {
			last = id
		}
	}
	for id := range f.expected {
		switch id {
		case last:
		case drifted:
			setResult(t, h.store, run.ID, id, "skipped:became_active")
		default:
			setResult(t, h.store, run.ID, id, "")
		}
	}
	testkit.Eventually(t, "results counted on the run", func() error {
		r, err := h.store.Runs().Get(t.Context(), inst, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != store.RunExecuting {
			t.Fatalf("run is %s with an item still without result", r.State)
		}
		return testkit.Equal("results", r.Results, len(f.expected)-1)
	})
	if rc := runCompleted(t, h); len(rc) != 0 {
		t.Fatalf("run.completed published with an item still without result: %+v", rc)
	}
	var view api.RunView
	h.do(t, http.MethodGet, "/v1/institutions/"+inst+"/runs/"+run.ID, tokRead, "", "").json(t, &view)
	if view.State != store.RunExecuting || view.Results != len(f.expected)-1 || view.Items != len(f.expected) {
		t.Fatalf("executing run reads %s, %d of %d results", view.State, view.Results, view.Items)
	}

	setResult(t, h.store, run.ID, last, "")
	done := awaitRun(t, h.store, run.ID, store.RunCompleted)

	plan, planReasons := f.counts()
	wantCounts, wantReasons := maps2(plan), maps2(planReasons)
	wantCounts[store.OutcomeDelete]--
	wantCounts[store.OutcomeSkip]++
	wantReasons["became_active"]++
	if !reflect.DeepEqual(done.Counts, wantCounts) || !reflect.DeepEqual(done.Reasons, wantReasons) {
		t.Fatalf("completed counts %v %v, want what happened %v %v", done.Counts, done.Reasons, wantCounts, wantReasons)
	}
	if !reflect.DeepEqual(done.Planned, plan) || !reflect.DeepEqual(done.PlannedReasons, planReasons) {
		t.Fatalf("plan kept as %v %v, want %v %v", done.Planned, done.PlannedReasons, plan, planReasons)
	}
	rc := runCompleted(t, h)
	if len(rc) != 1 {
		t.Fatalf("run.completed = %+v, want one", rc)
	}
	got := rc[0]
	if got.Counts.Deleted != int64(wantCounts[store.OutcomeDelete]) || got.Counts.Anonymised != int64(wantCounts[store.OutcomeAnonymise]) ||
		got.Counts.Skipped != int64(wantCounts[store.OutcomeSkip]) || got.SkippedByReason["became_active"] != 1 {
		t.Fatalf("run.completed carries %+v, want what happened %v %v", got, wantCounts, wantReasons)
	}
}

func maps2(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Dates a run may use (issue 12, finding 2): never a future as_of for what erases, never a
// date before 1900 or one that is not RFC 3339, a look ahead marked as a forecast that cannot
// be applied, and a listing that survives a record stored before these rules.
func testDatesAreBounded(t *testing.T, open func(t *testing.T) store.Store) {
	h := newHarness(t, open)
	runs := "/v1/institutions/" + inst + "/runs"
	future := asOf.AddDate(0, 0, 1).Format(time.RFC3339)
	refused := []struct{ name, token, body string }{
		{"execute in the future", tokErase, `{"mode": "execute", "as_of": "2999-01-01T00:00:00Z"}`},
		{"execute tomorrow", tokErase, `{"mode": "execute", "as_of": "` + future + `"}`},
		{"year 2", tokAdmin, `{"as_of": "0002-01-01T00:00:00Z"}`},
		{"year 1, Go's zero time", tokAdmin, `{"as_of": "0001-01-01T00:00:00Z"}`},
		{"1899", tokAdmin, `{"as_of": "1899-12-31T23:59:59Z"}`},
		{"not RFC 3339", tokAdmin, `{"as_of": "2026-11-23"}`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			res := h.do(t, http.MethodPost, runs, tt.token, tt.body, "")
			if res.status != http.StatusBadRequest || res.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("POST %s = %d %s, want a 400 problem", tt.body, res.status, res.body)
			}
			var p httpapi.Problem
			res.json(t, &p)
			if len(p.Errors) != 1 || p.Errors[0].Pointer != "/as_of" {
				t.Fatalf("problem %+v, want one error at /as_of", p)
			}
		})
	}
	// Within the clock skew an execute run is as of now.
	skewed := asOf.Add(time.Minute).Format(time.RFC3339)
	if run := h.startRun(t, tokErase, `{"mode": "execute", "as_of": "`+skewed+`"}`, http.StatusAccepted); run.Forecast {
		t.Fatal("an execute run a minute ahead is marked as a forecast")
	}

	// A simulation may look ahead: a forecast, which cannot be applied.
	sim := h.startRun(t, tokAdmin, `{"as_of": "`+future+`"}`, http.StatusCreated)
	if !sim.Forecast || sim.State != store.RunPlanned {
		t.Fatalf("simulation as of tomorrow = %+v, want a planned forecast", sim)
	}
	res := h.do(t, http.MethodPost, runs+"/"+sim.ID+"/apply", tokErase, "", "")
	if res.status != http.StatusConflict || res.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("apply of a forecast = %d %s, want a 409 problem", res.status, res.body)
	}
	if now := h.startRun(t, tokAdmin, "", http.StatusCreated); now.Forecast {
		t.Fatal("a simulation as of now is marked as a forecast")
	}

	// A record stored before dates were bounded does not break the listing.
	bad := store.Run{ID: "run-year-2", Institution: inst, Mode: store.ModeSimulation, State: store.RunPlanned,
		AsOf: time.Date(2, 1, 1, 0, 0, 0, 0, time.UTC), InactivityMonths: 36, CreatedAt: asOf, UpdatedAt: asOf}
	if err := h.store.Runs().Create(t.Context(), bad); err != nil {
		t.Fatal(err)
	}
	list := h.do(t, http.MethodGet, runs, tokRead, "", "")
	if list.status != http.StatusOK {
		t.Fatalf("GET runs with a bad record = %d %s", list.status, list.body)
	}
	var l api.RunsList
	list.json(t, &l)
	ids := map[string]string{}
	for _, r := range l.Runs {
		ids[r.ID] = r.Error
	}
	if len(l.Runs) != 4 || ids[sim.ID] != "" || ids[bad.ID] == "" {
		t.Fatalf("listing %+v, want the 3 good runs and the bad one named with an error", l.Runs)
	}
	if res := h.do(t, http.MethodGet, runs+"/"+bad.ID, tokRead, "", ""); res.status != http.StatusInternalServerError ||
		res.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("GET the bad run = %d %s, want a 500 problem, never a 200 with an empty body", res.status, res.body)
	}
}

// A run of an institution that lethe.yaml does not declare — started with a token for every
// institution, as the development token is — is resumed after a restart like any other
// (make chaos found an apply left planning for good).
func testResumeFindsUndeclaredInstitutions(t *testing.T, open func(t *testing.T) store.Store) {
	h := newHarness(t, open)
	const undeclared = "inst-undeclared"
	if err := h.store.Runs().Create(t.Context(), store.Run{ID: "run-left", Institution: undeclared, Mode: store.ModeSimulation,
		AsOf: asOf, InactivityMonths: 36, State: store.RunPlanning, CreatedAt: asOf, UpdatedAt: asOf}); err != nil {
		t.Fatal(err)
	}
	n, err := h.svc.Resume(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Resume = %d, %v; want the one run left planning", n, err)
	}
	testkit.Eventually(t, "the undeclared institution's run planned", func() error {
		r, err := h.store.Runs().Get(t.Context(), undeclared, "run-left")
		if err != nil {
			t.Fatal(err)
		}
		return testkit.Equal("state", r.State, store.RunPlanned)
	})
}
