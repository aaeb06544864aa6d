package scheduler_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/mongostore"
	"github.com/lethe-gdpr/lethe/pkg/store/pebblestore"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
	"github.com/lethe-gdpr/lethe/services/scheduler"
)

func openPebble(t *testing.T) store.Store {
	t.Helper()
	s, err := pebblestore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// TestPebble runs the scheduler's behaviour suite on the embedded store.
func TestPebble(t *testing.T) {
	t.Parallel()
	runSuite(t, openPebble)
}

// TestMongo runs the same suite on MongoDB when MONGODB_URI is set (`make test` sets it,
// starting the harness if need be); in CI it must never be skipped.
func TestMongo(t *testing.T) {
	t.Parallel()
	uri := testkit.MongoURI(t)
	var n atomic.Int64
	runSuite(t, func(t *testing.T) store.Store {
		t.Helper()
		db := fmt.Sprintf("lethe_scheduler_%d_%d", time.Now().UnixNano(), n.Add(1))
		s, err := mongostore.Open(t.Context(), uri, db)
		if err != nil {
			t.Fatalf("mongostore.Open: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = s.Close(ctx)
			if c, err := mongo.Connect(options.Client().ApplyURI(uri)); err == nil {
				_ = c.Database(db).Drop(ctx)
				_ = c.Disconnect(ctx)
			}
		})
		return s
	})
}

// runSuite is the scheduler's behaviour against any store.Store: open returns a fresh, empty
// store closed when the test ends.
func runSuite(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("SimulationReport", func(t *testing.T) { testSimulationReport(t, open) })
	t.Run("ExecutePublishesTheErasures", func(t *testing.T) { testExecute(t, open) })
	t.Run("ApplyPublishesThePlanDespiteDrift", func(t *testing.T) { testApply(t, open) })
	t.Run("ResumedPublishDoesNotRepublish", func(t *testing.T) { testResume(t, open) })
	t.Run("Exports", func(t *testing.T) { testExports(t, open) })
	t.Run("FilteredItems", func(t *testing.T) { testFilteredItems(t, open) })
	t.Run("Scopes", func(t *testing.T) { testScopes(t, open) })
	t.Run("Validation", func(t *testing.T) { testValidation(t, open) })
	t.Run("ScheduledOccurrenceRunsOnce", func(t *testing.T) { testScheduledOnce(t, open) })
	t.Run("ExecutingUntilEveryResult", func(t *testing.T) { testExecutingUntilEveryResult(t, open) })
	t.Run("DatesAreBounded", func(t *testing.T) { testDatesAreBounded(t, open) })
	t.Run("ResumeFindsUndeclaredInstitutions", func(t *testing.T) { testResumeFindsUndeclaredInstitutions(t, open) })
	t.Run("RunWaitsForTheProjection", func(t *testing.T) { testRunWaitsForTheProjection(t, open) })
	t.Run("RunFailsWhenTheProjectionStaysBehind", func(t *testing.T) { testRunFailsWhenTheProjectionStaysBehind(t, open) })
}

// pages reads every item of a run through JSON pagination, checking each comes once.
func pages(t *testing.T, h *harness, runID string, limit int) []api.ItemView {
	t.Helper()
	var all []api.ItemView
	seen := map[string]bool{}
	after := ""
	for range 1000 {
		path := fmt.Sprintf("/v1/institutions/%s/runs/%s/items?limit=%d", inst, runID, limit)
		if after != "" {
			path += "&after=" + after
		}
		res := h.do(t, http.MethodGet, path, tokRead, "", "application/json")
		if res.status != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, res.status, res.body)
		}
		var p api.ItemsPage
		res.json(t, &p)
		if len(p.Items) > limit {
			t.Fatalf("page of %d items, limit %d", len(p.Items), limit)
		}
		for _, it := range p.Items {
			if seen[it.ContactID] {
				t.Fatalf("contact %s listed twice", it.ContactID)
			}
			seen[it.ContactID] = true
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		if len(p.Items) != limit || p.Next != p.Items[len(p.Items)-1].ContactID {
			t.Fatalf("next %q after a page of %d", p.Next, len(p.Items))
		}
		after = p.Next
	}
	t.Fatal("pagination does not end")
	return nil
}

func itemSet(items []api.ItemView) map[string]planned {
	out := map[string]planned{}
	for _, it := range items {
		out[it.ContactID] = planned{it.Outcome, it.Reason}
	}
	return out
}

func contactsNow(t *testing.T, st store.Store, f fixture) map[string]store.Contact {
	t.Helper()
	out := map[string]store.Contact{}
	for _, c := range f.contacts {
		got, err := st.Contacts().Get(t.Context(), c.Institution, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[c.Institution+"/"+c.ID] = got
	}
	return out
}

func runCompleted(t *testing.T, h *harness) []events.RunCompleted {
	t.Helper()
	var out []events.RunCompleted
	for _, m := range streamEvents(t, h.js, bus.StreamResults) {
		if m.event.Type() != events.TypeRunCompleted {
			continue
		}
		if m.subject != bus.ResultSubject(inst, scheduler.ResultRunCompleted) {
			t.Fatalf("run.completed on %s", m.subject)
		}
		if err := events.Validate(m.event); err != nil {
			t.Fatalf("run.completed breaks the contract: %v", err)
		}
		var d events.RunCompleted
		if err := m.event.DataAs(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func testSimulationReport(t *testing.T, open func(t *testing.T) store.Store) {
	h := newHarness(t, open)
	f := newFixture()
	f.load(t, h.store)
	before := contactsNow(t, h.store, f)

	run := h.startRun(t, tokAdmin, `{"mode": "simulation"}`, http.StatusCreated)
	if run.State != store.RunPlanned || run.Mode != store.ModeSimulation {
		t.Fatalf("simulation answered in state %s mode %s, want planned simulation", run.State, run.Mode)
	}
	if !run.AsOf.Equal(asOf) || run.InactivityMonths != 36 || !run.Threshold.Equal(threshold) {
		t.Fatalf("as_of %s, months %d, threshold %s: want the clock, the policy's 36 and %s", run.AsOf, run.InactivityMonths, run.Threshold, threshold)
	}
	wantCounts, wantReasons := f.counts()
	if !reflect.DeepEqual(run.Counts, wantCounts) || !reflect.DeepEqual(run.Reasons, wantReasons) {
		t.Fatalf("counts %v reasons %v, want %v %v", run.Counts, run.Reasons, wantCounts, wantReasons)
	}

	// The report holds exactly the inactive contacts in scope, with outcome and reason…
	items := pages(t, h, run.ID, 5)
	if got := itemSet(items); !reflect.DeepEqual(got, f.expected) {
		t.Fatalf("simulation items:\n got  %v\n want %v", got, f.expected)
	}
	// …and for each, the recency and the event that set it.
	byID := f.byID()
	for _, it := range items {
		c := byID[it.ContactID]
		if !it.Recency.Equal(c.Recency) || it.RecencySource.EventID != c.RecencySource.EventID ||
			it.RecencySource.Type != c.RecencySource.Type || !it.RecencySource.At.Equal(c.RecencySource.At) {
			t.Fatalf("item %s: recency %s from %+v, contact has %s from %+v", it.ContactID, it.Recency, it.RecencySource, c.Recency, c.RecencySource)
		}
		if it.Role != c.Role || it.Customer != c.Customer {
			t.Fatalf("item %s: role %s customer %t, contact %s %t", it.ContactID, it.Role, it.Customer, c.Role, c.Customer)
		}
	}

	// A simulation changes nothing: no command, no contact write.
	if cmds := streamEvents(t, h.js, bus.StreamCommands); len(cmds) != 0 {
		t.Fatalf("a simulation published %d commands", len(cmds))
	}
	if after := contactsNow(t, h.store, f); !reflect.DeepEqual(after, before) {
		t.Fatal("a simulation changed contacts")
	}

	// It is announced on LETHE_RESULTS with its counts.
	done := runCompleted(t, h)
	want := events.RunCompleted{Institution: inst, RunID: run.ID, Mode: store.ModeSimulation,
		Counts: events.RunCounts{Anonymised: int64(wantCounts["anonymise"]), Deleted: int64(wantCounts["delete"]), Skipped: int64(wantCounts["skip"])}}
	if len(done) != 1 || done[0].RunID != want.RunID || done[0].Mode != want.Mode || done[0].Counts != want.Counts || done[0].Institution != inst {
		t.Fatalf("run.completed = %+v, want one like %+v", done, want)
	}
	for r, n := range wantReasons {
		if done[0].SkippedByReason[r] != int64(n) {
			t.Fatalf("run.completed skipped_by_reason %v, want %v", done[0].SkippedByReason, wantReasons)
		}
	}

	// The run reads back alone and in the list.
	var got api.RunView
	h.do(t, http.MethodGet, "/v1/institutions/"+inst+"/runs/"+run.ID, tokRead, "", "").json(t, &got)
	if got.ID != run.ID || got.State != store.RunPlanned || !reflect.DeepEqual(got.Counts, wantCounts) {
		t.Fatalf("GET run = %+v", got)
	}
	var list api.RunsList
	h.do(t, http.MethodGet, "/v1/institutions/"+inst+"/runs", tokRead, "", "").json(t, &list)
	if len(list.Runs) != 1 || list.Runs[0].ID != run.ID {
		t.Fatalf("GET runs = %+v", list)
	}
}

// commandsOn reads LETHE_COMMANDS and checks each command's envelope against the contract.
func commandsOn(t *testing.T, h *harness) map[string]retention.Command {
	t.Helper()
	out := map[string]retention.Command{}
	for _, m := range streamEvents(t, h.js, bus.StreamCommands) {
		var cmd retention.Command
		if err := m.event.DataAs(&cmd); err != nil {
			t.Fatal(err)
		}
		e := m.event
		if e.Type() != retention.CommandType || e.ID() != cmd.CommandID() || e.Subject() != cmd.ContactID ||
			e.Extensions()["institution"] != inst || m.subject != bus.CommandSubject(inst, retention.CommandKind) ||
			m.msgID != bus.MsgID(e) || e.Source() != scheduler.Source {
			t.Fatalf("command envelope: subject %s, %s", m.subject, e)
		}
		if _, dup := out[cmd.ContactID]; dup {
			t.Fatalf("two commands for %s", cmd.ContactID)
		}
		out[cmd.ContactID] = cmd
	}
	return out
}

func plannedOf(cmds map[string]retention.Command) map[string]string {
	out := map[string]string{}
	for id, c := range cmds {
		out[id] = c.Planned
	}
	return out
}

func testExecute(t *testing.T, open func(t *testing.T) store.Store) {
	h := newHarness(t, open)
	f := newFixture()
	f.load(t, h.store)
	before := contactsNow(t, h.store, f)

	run := h.startRun(t, tokErase, `{"mode": "execute", "as_of": "2026-11-23T00:00:00Z", "inactivity_months": 36}`, http.StatusAccepted)
	done := awaitRun(t, h.store, run.ID, store.RunCompleted)
	if done.Cursor == "" || done.FinishedAt.IsZero() || done.Mode != store.ModeExecute {
		t.Fatalf("completed execute run = %+v", done)
	}
	cmds := commandsOn(t, h)
	if got, want := plannedOf(cmds), f.commanded(); !reflect.DeepEqual(got, want) {
		t.Fatalf("execute commanded\n got  %v\n want %v", got, want)
	}
	for _, c := range cmds {
		if c.RunID != run.ID || !c.AsOf.Equal(asOf) || c.InactivityMonths != 36 || c.Institution != inst || c.RequestedBy != "token:dpo" {
			t.Fatalf("command = %+v", c)
		}
	}
	// Its report is the same as a simulation's would be.
	if got := itemSet(pages(t, h, run.ID, 100)); !reflect.DeepEqual(got, f.expected) {
		t.Fatalf("execute items %v, want %v", got, f.expected)
	}
	// The scheduler itself never writes a contact: the anonymiser does.
	if after := contactsNow(t, h.store, f); !reflect.DeepEqual(after, before) {
		t.Fatal("an execute run changed contacts")
	}
	if rc := runCompleted(t, h); len(rc) != 1 || rc[0].RunID != run.ID || rc[0].Mode != store.ModeExecute {
		t.Fatalf("run.completed = %+v", rc)
	}
}

func testApply(t *testing.T, open func(t *testing.T) store.Store) {
	h := newHarness(t, open)
	f := newFixture()
	stored := f.load(t, h.store)
	sim := h.startRun(t, tokAdmin, "", http.StatusCreated)

	// Drift after the plan: a planned delete becomes active, a planned anonymisation gets a
	// debt, and a new inactive prospect appears. Apply still sends exactly the reviewed set;
	// the anonymiser re-checks each contact.
	p1 := stored[inst+"/prospect-1"]
	setRecency(asOf.AddDate(0, 0, -1), "lethe.campaign.link.clicked.v1")(&p1)
	c1 := stored[inst+"/customer-1"]
	balance(-900)(&c1)
	for _, c := range []store.Contact{p1, c1, contact(inst, "late-prospect", prospect)} {
		if _, err := h.store.Contacts().Put(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}

	path := "/v1/institutions/" + inst + "/runs/" + sim.ID + "/apply"
	if res := h.do(t, http.MethodPost, path, tokAdmin, "", ""); res.status != http.StatusForbidden {
		t.Fatalf("apply with admin only = %d, want 403", res.status)
	}
	res := h.do(t, http.MethodPost, path, tokErase, "", "")
	if res.status != http.StatusAccepted {
		t.Fatalf("apply = %d %s", res.status, res.body)
	}
	var apply api.RunView
	res.json(t, &apply)
	if apply.ID == sim.ID || apply.Mode != store.ModeApply || apply.SourceRun != sim.ID ||
		!apply.AsOf.Equal(sim.AsOf) || apply.InactivityMonths != sim.InactivityMonths {
		t.Fatalf("apply run = %+v", apply)
	}
	done := awaitRun(t, h.store, apply.ID, store.RunCompleted)

	cmds := commandsOn(t, h)
	if got, want := plannedOf(cmds), f.commanded(); !reflect.DeepEqual(got, want) {
		t.Fatalf("apply commanded\n got  %v\n want %v (the simulation's set)", got, want)
	}
	for _, c := range cmds {
		if c.RunID != apply.ID || !c.AsOf.Equal(sim.AsOf) || c.InactivityMonths != sim.InactivityMonths {
			t.Fatalf("command = %+v", c)
		}
	}
	if got := itemSet(pages(t, h, apply.ID, 3)); !reflect.DeepEqual(got, f.expected) {
		t.Fatalf("apply items %v, want the simulation's %v", got, f.expected)
	}
	if want, _ := f.counts(); !reflect.DeepEqual(done.Counts, want) {
		t.Fatalf("apply counts %v, want %v", done.Counts, want)
	}

	// A plan is applied once; only a planned simulation can be applied.
	again := h.do(t, http.MethodPost, path, tokErase, "", "")
	if again.status != http.StatusConflict || again.header.Get("Location") != "/v1/institutions/"+inst+"/runs/"+apply.ID {
		t.Fatalf("second apply = %d %s (Location %q), want 409 naming the first", again.status, again.body, again.header.Get("Location"))
	}
	if res := h.do(t, http.MethodPost, "/v1/institutions/"+inst+"/runs/"+apply.ID+"/apply", tokErase, "", ""); res.status != http.StatusConflict {
		t.Fatalf("applying an apply run = %d, want 409", res.status)
	}
	if res := h.do(t, http.MethodPost, "/v1/institutions/"+inst+"/runs/nope/apply", tokErase, "", ""); res.status != http.StatusNotFound {
		t.Fatalf("applying a missing run = %d, want 404", res.status)
	}
	if got := len(commandsOn(t, h)); got != len(f.commanded()) {
		t.Fatalf("%d commands after refused applies, want %d", got, len(f.commanded()))
	}
	rc := runCompleted(t, h)
	if len(rc) != 2 || rc[1].RunID != apply.ID || rc[1].Mode != store.ModeApply {
		t.Fatalf("run.completed = %+v, want the simulation's then the apply's", rc)
	}
}

func testResume(t *testing.T, open func(t *testing.T) store.Store) {
	// Every publish, duplicates included, as a plain subscriber sees it before JetStream
	// deduplicates: the proof that nothing is published twice.
	var interrupted *scheduler.Service
	var batches atomic.Int32
	h := newHarness(t, open, scheduler.WithAfterBatch(func(store.Run) {
		if batches.Add(1) == 2 {
			interrupted.Interrupt()
		}
	}))
	interrupted = h.svc
	f := newFixture()
	f.load(t, h.store)
	sub, err := h.nc.SubscribeSync("lethe.command.>")
	if err != nil {
		t.Fatal(err)
	}

	run, err := h.svc.StartRun(t.Context(), scheduler.RunRequest{Institution: inst, Mode: store.ModeExecute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Wait(t.Context(), inst, run.ID); err != nil {
		t.Fatal(err)
	}
	h.svc.Close()
	stopped, err := h.store.Runs().Get(t.Context(), inst, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stopped.State != store.RunExecuting || stopped.Queued || stopped.Cursor == "" {
		t.Fatalf("interrupted run is %s (queued %v) at cursor %q, want executing, still queueing, with a cursor", stopped.State, stopped.Queued, stopped.Cursor)
	}
	if err := h.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	first, _, _ := sub.Pending()
	want := len(f.commanded())
	if first == 0 || first >= want {
		t.Fatalf("%d commands published before the interruption, want some but not all %d", first, want)
	}

	// A new process starts: Run resumes the run from its cursor and serves the routes.
	next, err := scheduler.New(platformtest.Deps(t, h.js, h.store, h.cfg))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	next.Register(mux)
	if got := next.NotRunning(); len(got) != 1 {
		t.Fatalf("before Run the scheduler says %v does not run, want its runs", got)
	}
	ctx, cancel := contextWithCancel(t)
	exited := make(chan error, 1)
	go func() { exited <- next.Run(ctx) }()
	awaitRun(t, h.store, run.ID, store.RunCompleted)
	testkit.Eventually(t, "the scheduler running", func() error {
		if got := next.NotRunning(); len(got) != 0 {
			return fmt.Errorf("not running: %v", got)
		}
		return nil
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var view api.RunView
	do(t, srv, http.MethodGet, "/v1/institutions/"+inst+"/runs/"+run.ID, tokRead, "", "").json(t, &view)
	if view.State != store.RunCompleted {
		t.Fatalf("the resumed run reads %s through Run's routes", view.State)
	}

	cmds := commandsOn(t, h)
	if got := plannedOf(cmds); !reflect.DeepEqual(got, f.commanded()) {
		t.Fatalf("after resume the stream holds %v, want %v", got, f.commanded())
	}
	if err := h.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	total, _, _ := sub.Pending()
	if total != want {
		t.Fatalf("%d publishes in all for %d commands: the resume republished %d", total, want, total-want)
	}
	ids := map[string]bool{}
	for range total {
		m, err := sub.NextMsg(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ids[m.Header.Get(bus.HeaderMsgID)] = true
	}
	if len(ids) != want {
		t.Fatalf("%d distinct Nats-Msg-Id for %d commands", len(ids), want)
	}
	if rc := runCompleted(t, h); len(rc) != 1 || rc[0].RunID != run.ID {
		t.Fatalf("run.completed = %+v", rc)
	}
	cancel()
	if err := <-exited; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if got := next.NotRunning(); len(got) != 1 {
		t.Fatalf("after Run the scheduler says only %v does not run, want its runs", got)
	}
}

func testExports(t *testing.T, open func(t *testing.T) store.Store) {
	h := newHarness(t, open)
	f := newFixture()
	f.load(t, h.store)
	run := h.startRun(t, tokAdmin, "{}", http.StatusCreated)
	path := "/v1/institutions/" + inst + "/runs/" + run.ID + "/items"

	for _, limit := range []int{1, 5, len(f.expected), 1000} {
		if got := itemSet(pages(t, h, run.ID, limit)); !reflect.DeepEqual(got, f.expected) {
			t.Fatalf("pages of %d: %v", limit, got)
		}
	}

	res := h.do(t, http.MethodGet, path, tokRead, "", "text/csv")
	if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV export = %d %s", res.status, res.header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows[0], scheduler.CSVHeader) {
		t.Fatalf("CSV header %v", rows[0])
	}
	got := map[string]planned{}
	for _, r := range rows[1:] {
		if _, dup := got[r[0]]; dup {
			t.Fatalf("CSV lists %s twice", r[0])
		}
		got[r[0]] = planned{r[1], r[2]}
		if want := f.byID()[r[0]].Recency.Format(time.RFC3339Nano); r[5] != want {
			t.Fatalf("CSV recency of %s = %s, want %s", r[0], r[5], want)
		}
	}
	if !reflect.DeepEqual(got, f.expected) {
		t.Fatalf("CSV items %v", got)
	}

	res = h.do(t, http.MethodGet, path, tokRead, "", "application/x-ndjson")
	if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "application/x-ndjson") {
		t.Fatalf("NDJSON export = %d %s", res.status, res.header.Get("Content-Type"))
	}
	var lines []api.ItemView
	sc := bufio.NewScanner(bytes.NewReader(res.body))
	for sc.Scan() {
		var it api.ItemView
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatalf("NDJSON line %q: %v", sc.Text(), err)
		}
		lines = append(lines, it)
	}
	if len(lines) != len(f.expected) || !reflect.DeepEqual(itemSet(lines), f.expected) {
		t.Fatalf("NDJSON holds %d lines: %v", len(lines), itemSet(lines))
	}

	if res := h.do(t, http.MethodGet, "/v1/institutions/"+inst+"/runs/missing/items", tokRead, "", "text/csv"); res.status != http.StatusNotFound ||
		res.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("export of a missing run = %d %s", res.status, res.header.Get("Content-Type"))
	}
}

func testScopes(t *testing.T, open func(t *testing.T) store.Store) {
	h := newHarness(t, open)
	newFixture().load(t, h.store)
	sim := h.startRun(t, tokAdmin, "", http.StatusCreated)
	runs := "/v1/institutions/" + inst + "/runs"
	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", http.MethodGet, runs, "", "", http.StatusUnauthorized},
		{"unknown token", http.MethodGet, runs, "nope", "", http.StatusUnauthorized},
		{"read lists runs", http.MethodGet, runs, tokRead, "", http.StatusOK},
		{"read reads a run", http.MethodGet, runs + "/" + sim.ID, tokRead, "", http.StatusOK},
		{"read reads items", http.MethodGet, runs + "/" + sim.ID + "/items", tokRead, "", http.StatusOK},
		{"read cannot simulate", http.MethodPost, runs, tokRead, `{}`, http.StatusForbidden},
		{"erase alone cannot simulate", http.MethodPost, runs, tokErase, `{"mode": "simulation"}`, http.StatusForbidden},
		{"admin simulates", http.MethodPost, runs, tokAdmin, `{"mode": "simulation"}`, http.StatusCreated},
		{"admin cannot execute", http.MethodPost, runs, tokAdmin, `{"mode": "execute"}`, http.StatusForbidden},
		{"admin cannot apply", http.MethodPost, runs + "/" + sim.ID + "/apply", tokAdmin, "", http.StatusForbidden},
		{"read cannot apply", http.MethodPost, runs + "/" + sim.ID + "/apply", tokRead, "", http.StatusForbidden},
		{"erase executes", http.MethodPost, runs, tokErase, `{"mode": "execute"}`, http.StatusAccepted},
		{"erase applies", http.MethodPost, runs + "/" + sim.ID + "/apply", tokErase, "", http.StatusAccepted},
		{"another institution's token cannot list", http.MethodGet, runs, tokOther, "", http.StatusForbidden},
		{"another institution's token cannot read", http.MethodGet, runs + "/" + sim.ID + "/items", tokOther, "", http.StatusForbidden},
		{"another institution's token cannot simulate", http.MethodPost, runs, tokOther, `{}`, http.StatusForbidden},
		{"another institution's token cannot execute", http.MethodPost, runs, tokOther, `{"mode": "execute"}`, http.StatusForbidden},
		{"another institution's token cannot apply", http.MethodPost, runs + "/" + sim.ID + "/apply", tokOther, "", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.do(t, tt.method, tt.path, tt.token, tt.body, "")
			if res.status != tt.want {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, res.status, res.body, tt.want)
			}
			if res.status >= 400 && res.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("error as %s, want application/problem+json", res.header.Get("Content-Type"))
			}
		})
	}
	// Nothing a refused request asked for was published: only the erase token's two runs.
	list, err := h.store.Runs().List(t.Context(), inst, 0)
	if err != nil {
		t.Fatal(err)
	}
	erasing := 0
	for _, run := range list {
		if run.Mode != store.ModeSimulation {
			awaitRun(t, h.store, run.ID, store.RunCompleted)
			erasing++
		}
	}
	if erasing != 2 {
		t.Fatalf("%d execute or apply runs, want the erase token's 2", erasing)
	}
	for _, m := range streamEvents(t, h.js, bus.StreamCommands) {
		var c retention.Command
		if err := m.event.DataAs(&c); err != nil {
			t.Fatal(err)
		}
		if c.RequestedBy != "token:dpo" {
			t.Fatalf("command requested by %s", c.RequestedBy)
		}
	}
}

func testValidation(t *testing.T, open func(t *testing.T) store.Store) {
	h := newHarness(t, open)
	runs := "/v1/institutions/" + inst + "/runs"
	tests := []struct {
		name, body string
		want       int
		pointers   []string
	}{
		{"unknown mode", `{"mode": "apply"}`, http.StatusUnprocessableEntity, []string{"/mode"}},
		{"empty mode", `{"mode": ""}`, http.StatusUnprocessableEntity, []string{"/mode"}},
		{"bad date", `{"as_of": "23/11/2026"}`, http.StatusBadRequest, []string{"/as_of"}},
		{"zero period", `{"inactivity_months": 0}`, http.StatusUnprocessableEntity, []string{"/inactivity_months"}},
		{"negative period and bad mode", `{"inactivity_months": -3, "mode": "x"}`, http.StatusUnprocessableEntity, []string{"/mode", "/inactivity_months"}},
		{"period of the wrong type", `{"inactivity_months": "36"}`, http.StatusUnprocessableEntity, []string{"/inactivity_months"}},
		{"unknown field", `{"mode": "simulation", "dry": true}`, http.StatusUnprocessableEntity, []string{"/dry"}},
		{"not JSON", `{"mode": `, http.StatusBadRequest, nil},
		{"too large", `{"mode": "simulation", "pad": "` + strings.Repeat("x", 1<<17) + `"}`, http.StatusRequestEntityTooLarge, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.do(t, http.MethodPost, runs, tokAdmin, tt.body, "")
			if res.status != tt.want || res.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("POST %.60s = %d %s %s, want %d problem", tt.body, res.status, res.header.Get("Content-Type"), res.body, tt.want)
			}
			var p httpapi.Problem
			res.json(t, &p)
			var got []string
			for _, e := range p.Errors {
				got = append(got, e.Pointer)
			}
			if !reflect.DeepEqual(got, tt.pointers) {
				t.Fatalf("pointers %v, want %v", got, tt.pointers)
			}
		})
	}
	if res := h.do(t, http.MethodGet, runs+"/missing", tokRead, "", ""); res.status != http.StatusNotFound {
		t.Fatalf("missing run = %d", res.status)
	}
	if res := h.do(t, http.MethodGet, runs+"?limit=0", tokRead, "", ""); res.status != http.StatusBadRequest {
		t.Fatalf("limit=0 = %d", res.status)
	}
	var list api.RunsList
	h.do(t, http.MethodGet, runs, tokRead, "", "").json(t, &list)
	if len(list.Runs) != 0 {
		t.Fatalf("refused requests created runs: %+v", list.Runs)
	}
}

func testScheduledOnce(t *testing.T, open func(t *testing.T) store.Store) {
	h := newHarness(t, open)
	newFixture().load(t, h.store)
	h.cfg.Institutions[0].Schedule = "0 3 * * *"
	clock := time.Date(2026, 11, 23, 2, 59, 30, 0, time.UTC)
	occurrence := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)

	type fired struct {
		run store.Run
		won bool
	}
	firings := make(chan fired, 4)
	// The first wait returns at once, as if the occurrence had come; the next ones wait for
	// the end of the test.
	sleeper := func() scheduler.Option {
		var once sync.Once
		return scheduler.WithSleep(func(ctx context.Context, until time.Time) error {
			first := false
			once.Do(func() { first = true })
			if first {
				if !until.Equal(occurrence) {
					t.Errorf("waiting for %s, want the occurrence %s", until, occurrence)
				}
				return nil
			}
			<-ctx.Done()
			return ctx.Err()
		})
	}
	ctx, cancel := contextWithCancel(t)
	var wg sync.WaitGroup
	for range 2 {
		svc, _ := h.serve(t, scheduler.WithClock(func() time.Time { return clock }), sleeper(),
			scheduler.WithOnFire(func(run store.Run, won bool) { firings <- fired{run, won} }))
		wg.Go(func() { svc.Schedule(ctx) })
	}
	a, b := <-firings, <-firings
	if a.won == b.won {
		t.Fatalf("both instances won=%t: the store must elect exactly one", a.won)
	}
	if a.run.ID != b.run.ID || a.run.ID != "scheduled-20261123T030000Z" {
		t.Fatalf("runs %s and %s, want both scheduled-20261123T030000Z", a.run.ID, b.run.ID)
	}
	run := awaitRun(t, h.store, a.run.ID, store.RunPlanned)
	if run.Trigger != scheduler.TriggerSchedule || !run.AsOf.Equal(occurrence) || run.Mode != store.ModeSimulation || run.InactivityMonths != 36 {
		t.Fatalf("scheduled run = %+v", run)
	}
	cancel()
	wg.Wait()
	list, err := h.store.Runs().List(t.Context(), inst, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d runs for one occurrence", len(list))
	}
	if rc := runCompleted(t, h); len(rc) != 1 {
		t.Fatalf("%d run.completed for one occurrence", len(rc))
	}
}
