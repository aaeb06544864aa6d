package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/server"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/mongostore"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
	"github.com/lethe-gdpr/lethe/services/recency"
)

// The scale-out test (issue 15): the microservice topology in one test process — a
// three-node NATS cluster on loopback with R3 streams, one ingest+scheduler, two recency and
// two anonymiser processes (each a `lethe serve --target …` built by server.Run, as the binary
// does) on one MongoDB — a backfill through `lethe send` with the node that leads
// LETHE_ACTIVITY, and holds ingest's only configured connection, killed midway; the node back,
// a simulation and its apply spread over both anonymisers, with the node that leads
// LETHE_COMMANDS killed a quarter into it. What it must show: 0 events lost and
// none stored twice, the projection equal to the pure fold of the same events, the plan equal
// to pkg/retention's decision on that fold, no contact erased twice (one audit entry and one
// outcome per contact) and an intact audit chain.

// instance is one `lethe serve --target …` of the topology.
type instance struct {
	name  string
	http  string
	spans *tracetest.InMemoryExporter
	logs  *testkit.SyncBuffer
	stop  func() error
}

// startInstance runs server.Run with args (after serve's own flags) as its own process would,
// and waits until it listens and is ready.
func startInstance(t *testing.T, name string, args ...string) *instance {
	t.Helper()
	args = append([]string{"--http", "127.0.0.1:0", "--data", t.TempDir(), "--log-level", "info"}, args...)
	c, err := server.Parse(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	in := &instance{name: name, spans: tracetest.NewInMemoryExporter()}
	c.Spans = keepSpans{in.spans}
	ctx, cancel := context.WithCancel(context.Background())
	out := newLineWriter()
	logs := &testkit.SyncBuffer{}
	in.logs = logs
	done := make(chan error, 1)
	ended := make(chan struct{})
	var runErr error
	go func() { runErr = server.Run(ctx, c, out, logs); close(ended) }()
	go func() { <-ended; done <- runErr }()
	var once sync.Once
	in.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				err = fmt.Errorf("%s did not stop within a minute", name)
			}
			if err != nil {
				t.Logf("%s's log:\n%s", name, logs.String())
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := in.stop(); err == nil && t.Failed() {
			t.Logf("%s's log:\n%s", name, logs.String())
		}
	})
	// Ready: listening, and /readyz says every consumer runs; a serve that gave up is a
	// failure with its own words, not a minute of waiting for a line.
	testkit.Eventually(t, name+" ready", func() error {
		select {
		case <-ended:
			t.Fatalf("%s stopped: %v\n%s", name, runErr, logs.String())
		default:
		}
		if in.http == "" {
			out.mu.Lock()
			for _, line := range out.lines {
				if m := reHTTP.FindStringSubmatch(line); m != nil {
					in.http = m[1]
				}
			}
			out.mu.Unlock()
			if in.http == "" {
				return errors.New("not listening yet")
			}
		}
		resp, err := http.Get(in.http + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("/readyz %d %s", resp.StatusCode, b)
		}
		return nil
	})
	return in
}

// warnings are the lines of a log above info.
func warnings(log string) string {
	var out []string
	for line := range strings.Lines(log) {
		if !strings.Contains(line, "level=INFO") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// processed counts the consumer spans of stream this instance ended: one per delivery it
// handled.
func (in *instance) processed(stream string) int {
	n := 0
	for _, s := range in.spans.GetSpans() {
		if s.Name == "process "+stream {
			n++
		}
	}
	return n
}

// foldOracle folds the NDJSON history at path with the projection's own pure fold
// (recency.Fold), one contact at a time, in file order: what the projection must hold
// whatever the order, repetition or spread over instances of the deliveries.
func foldOracle(t *testing.T, path string) map[string]*store.Contact {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*store.Contact{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		e, err := events.ParseStructured(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		d, err := events.Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		c := out[e.Subject()]
		if c == nil {
			c = &store.Contact{Institution: events.Institution(e), ID: e.Subject()}
			out[e.Subject()] = c
		}
		recency.Fold(c, recency.Activity{ID: e.ID(), Type: e.Type(), Institution: events.Institution(e),
			Organisation: events.Organisation(e), Contact: e.Subject(), Data: d})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// streamMsgCount is how many messages stream holds; 0 while its leader is being elected.
func streamMsgCount(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		return 0
	}
	info, err := s.Info(context.Background())
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// projectionView is what of a contact the oracle decides: every non-personal fact the rules
// read, with times in UTC (MongoDB gives them back in UTC, at millisecond precision; the
// history's dates are whole seconds).
func projectionView(c store.Contact) string {
	utc := func(s store.Source) store.Source { s.At = s.At.UTC(); return s }
	b, _ := json.Marshal(struct {
		Created                       bool
		Role                          string
		Status                        store.Status
		Recency                       time.Time
		RecencySource, CustomerSource store.Source
		Customer, InScope             bool
		Blockers                      []string
	}{c.Created, c.Role, c.Status, c.Recency.UTC(), utc(c.RecencySource), utc(c.CustomerSource), c.Customer,
		retention.InScope(c), retention.Blockers(c)})
	return string(b)
}

func TestScaleOutClusterTwoRecencyTwoAnonymisers(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a three-node cluster and five services")
	}
	contacts := 1000
	if v := os.Getenv("SCALE_CONTACTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			t.Fatalf("SCALE_CONTACTS=%q: want an integer of 10 or more", v)
		}
		contacts = n
	}
	started := time.Now()
	mongoURI := testkit.MongoURI(t)
	db := "lethe_scale_" + randomHex(6)
	ctx := context.Background()
	st, err := mongostore.Open(ctx, mongoURI, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The harness keeps everything in memory, shared by every test: leave nothing behind.
		_ = st.Database().Drop(context.Background())
		_ = st.Close(context.Background())
	})

	// The history and the two oracles: chaosHistory's own, from the rules of DESIGN.md, and
	// the pure fold of the same file.
	root := t.TempDir()
	file := filepath.Join(root, "history.ndjson")
	seed := chaosSeed
	rules, total := chaosHistory(t, file, seed, contacts, time.Now().UTC())
	folded := foldOracle(t, file)
	if len(folded) != len(rules) {
		t.Fatalf("the fold has %d contacts, the history %d", len(folded), len(rules))
	}

	// One configuration for every process, as a deployment mounts it: the operator's token,
	// the shared master key (several processes on one MongoDB), the services' bus password.
	token := "tok_" + randomHex(16)
	sum := sha256.Sum256([]byte(token))
	cfgPath := filepath.Join(root, "lethe.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, "tokens:\n  - name: operator\n    sha256: %q\n    institutions: [%s]\n    scopes: [ingest, read, admin, erase, export]\n",
		hex.EncodeToString(sum[:]), chaosInst), 0o600); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	copy(key, randomHex(16))
	password := randomHex(16)
	cluster := bustest.RunCluster(t, 3, password)
	common := func(natsURL string, target string) []string {
		return []string{"--config", cfgPath, "--target", target, "--nats-url", natsURL, "--nats-user", bus.ServiceUser,
			"--nats-password", password, "--mongo-uri", mongoURI, "--mongo-database", db,
			"--master-key", base64.StdEncoding.EncodeToString(key)}
	}

	// The first recency creates the streams: R3, chosen because the server is a cluster.
	recencyA := startInstance(t, "recency-a", common(cluster.URL(), "recency")...)
	nc, err := nats.Connect(cluster.URL(), nats.UserInfo(bus.ServiceUser, password), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js := bustest.JetStream(t, nc)
	for _, sc := range bus.StreamConfigs(bus.StreamsConfig{}) {
		s, err := js.Stream(ctx, sc.Name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Fatalf("%s has %d replicas, want 3 (serve on a cluster)", sc.Name, r)
		}
	}
	// The node to kill is the one that matters most to the backfill: the leader of
	// LETHE_ACTIVITY, where every accepted event is written, and the only node ingest is
	// configured with (it must find the others itself, from the cluster's gossip).
	leader := cluster.StreamLeader(js, bus.StreamActivity)
	front := startInstance(t, "ingest+scheduler", common(cluster.Servers[leader].ClientURL(), "ingest,scheduler")...)
	recencyB := startInstance(t, "recency-b", common(cluster.URL(), "recency")...)
	anonA := startInstance(t, "anonymiser-a", common(cluster.URL(), "anonymiser")...)
	anonB := startInstance(t, "anonymiser-b", common(cluster.URL(), "anonymiser")...)
	t.Logf("topology up in %s; killing n%d (leader of LETHE_ACTIVITY, ingest's node) during the backfill", time.Since(started).Round(time.Millisecond), leader)

	// The backfill: `lethe send` in small batches, one at a time, so that the kill lands in
	// the middle of it; it retries a batch on 503 with the same event ids.
	sendOut := &testkit.SyncBuffer{}
	sendDone := make(chan error, 1)
	go func() {
		sendDone <- run(ctx, []string{"send", "--server", front.http, "--token", token, "--progress", "none",
			"--batch", strconv.Itoa(max(1, total/100)), "--concurrency", "1", "--retries", "30", file},
			func(string) string { return "" }, strings.NewReader(""), sendOut, sendOut)
	}()
	killAt := int64(total / 5)
	var sendErr error
	finished := false
	testkit.Eventually(t, "the backfill to reach the kill point", func() error {
		select {
		case sendErr = <-sendDone:
			finished = true
			return nil
		default:
		}
		if n := sentSoFar(file); n < killAt {
			return fmt.Errorf("%d of %d events acknowledged, waiting for %d", n, total, killAt)
		}
		return nil
	})
	if finished {
		t.Fatalf("the backfill ended (%v) before the kill point: nothing was proven; output:\n%s", sendErr, sendOut.String())
	}
	atKill := sentSoFar(file)
	cluster.Kill(leader)
	t.Logf("killed n%d at %d of %d events acknowledged", leader, atKill, total)
	select {
	case sendErr = <-sendDone:
	case <-time.After(5 * time.Minute):
		t.Fatalf("the backfill did not end; output:\n%s", sendOut.String())
	}
	if sendErr != nil {
		t.Fatalf("lethe send: %v\n%s", sendErr, sendOut.String())
	}
	newLeader := cluster.StreamLeader(js, bus.StreamActivity)
	phase := time.Now()
	t.Logf("backfill done at %s", time.Since(started).Round(time.Millisecond))
	retried := strings.Count(sendOut.String(), "retrying a batch")

	// 0 lost, 0 twice: LETHE_ACTIVITY holds each sent event once, and the projection is the
	// fold of them all.
	s, err := js.Stream(ctx, bus.StreamActivity)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(total) {
		t.Errorf("LETHE_ACTIVITY holds %d events, want each of the %d sent exactly once", info.State.Msgs, total)
	}
	ids := slices.Sorted(mapKeys(folded))
	todo := ids
	testkit.Eventually(t, "the projection to equal the fold of every event", func() error {
		var bad []string
		for _, id := range todo {
			got, err := st.Contacts().Get(ctx, chaosInst, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if projectionView(got) != projectionView(*folded[id]) {
				bad = append(bad, id)
			}
		}
		todo = bad
		if len(bad) > 0 {
			got, _ := st.Contacts().Get(ctx, chaosInst, bad[0])
			return fmt.Errorf("%d contacts differ, e.g. %s: %s, want %s", len(bad), bad[0], projectionView(got), projectionView(*folded[bad[0]]))
		}
		return nil
	})
	bustest.WaitCaughtUp(t, js, bus.StreamActivity, bus.DurableRecency)
	t.Logf("projection caught up %s after the backfill", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()

	// The simulation plans what pkg/retention decides on the fold (and what the rules say).
	api := &apiClient{t: t, base: front.http, token: token}
	sim := api.post("/v1/institutions/"+chaosInst+"/runs", `{"mode":"simulation","inactivity_months":36}`)
	simID := strOr(sim["id"])
	testkit.Eventually(t, "the simulation planned", func() error {
		if st := runState(api, simID); st != store.RunPlanned {
			return fmt.Errorf("state %q", st)
		}
		return nil
	})
	_, simRun := api.get("/v1/institutions/" + chaosInst + "/runs/" + simID)
	asOf, err := time.Parse(time.RFC3339Nano, strOr(simRun["as_of"]))
	if err != nil {
		t.Fatalf("the simulation's as_of: %v (%v)", err, simRun)
	}
	want := map[string]string{}
	for id, c := range folded {
		d := retention.Decide(*c, asOf, 36)
		x := rules[id]
		if x.plan != "" {
			want[id] = x.plan + "/" + x.reason
		}
		if d.Candidate != (x.plan != "") {
			t.Errorf("contact %s: pkg/retention on the fold says candidate=%v, the rules plan %q", id, d.Candidate, x.plan)
		}
	}
	planned := map[string]string{}
	for _, it := range allItems(t, api, simID) {
		planned[it.ContactID] = it.Outcome + "/" + it.Reason
	}
	if fmt.Sprint(planned) != fmt.Sprint(want) {
		for id, w := range want {
			if planned[id] != w {
				t.Errorf("plan: contact %s is %q, want %q", id, planned[id], w)
			}
		}
		for id, p := range planned {
			if _, ok := want[id]; !ok {
				t.Errorf("plan: contact %s is %q, not a candidate", id, p)
			}
		}
		t.FailNow()
	}

	t.Logf("simulation planned and checked in %s", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	// The killed node comes back and catches up; then the apply, spread over both
	// anonymisers, loses the node that leads LETHE_COMMANDS, where the commands are queued
	// and their consumer's deliveries come from, once a quarter of the outcomes are out.
	cluster.Restart(leader)
	for _, sc := range bus.StreamConfigs(bus.StreamsConfig{}) {
		cluster.StreamLeader(js, sc.Name)
	}
	cmdLeader := cluster.StreamLeader(js, bus.StreamCommands)
	resultsBefore := streamMsgCount(t, js, bus.StreamResults)
	apply := api.post("/v1/institutions/"+chaosInst+"/runs/"+simID+"/apply", `{}`)
	applyID := strOr(apply["id"])
	var outcomesAtKill uint64
	testkit.Eventually(t, "a quarter of the apply's outcomes", func() error {
		if st := runState(api, applyID); st == store.RunCompleted {
			t.Fatalf("the apply completed before the kill point: nothing was proven")
		}
		outcomesAtKill = streamMsgCount(t, js, bus.StreamResults) - resultsBefore
		return testkit.AtLeast("outcomes", outcomesAtKill, uint64(len(want)/4))
	})
	cluster.Kill(cmdLeader)
	t.Logf("killed n%d (leader of LETHE_COMMANDS) at %d of %d outcomes", cmdLeader, outcomesAtKill, len(want))
	testkit.Eventually(t, "the apply completed", func() error {
		switch st := runState(api, applyID); st {
		case store.RunCompleted:
			return nil
		case store.RunFailed:
			t.Fatalf("apply %s failed", applyID)
		default:
			return fmt.Errorf("state %q", st)
		}
		return nil
	})

	t.Logf("apply completed in %s", time.Since(phase).Round(time.Millisecond))
	// Every planned contact has one outcome on LETHE_RESULTS (applyResults fails on a second),
	// the erased ones one audit entry each and the state the plan said; the chain verifies.
	results, completed := applyResults(t, js, applyID)
	if len(results) != len(want) {
		t.Errorf("%d outcomes on LETHE_RESULTS for %d planned contacts", len(results), len(want))
	}
	erased := 0
	for id, w := range want {
		outcome, _, _ := strings.Cut(w, "/")
		c, err := st.Contacts().Get(ctx, chaosInst, id)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := st.Audit().ForContact(ctx, chaosInst, id)
		if err != nil {
			t.Fatal(err)
		}
		var erasures int
		for _, e := range entries {
			if e.Action == "anonymised" || e.Action == "deleted" {
				erasures++
			}
		}
		wantStatus, wantErasures := store.StatusActive, 0
		switch outcome {
		case store.OutcomeDelete:
			wantStatus, wantErasures = store.StatusDeleted, 1
		case store.OutcomeAnonymise:
			wantStatus, wantErasures = store.StatusAnonymised, 1
		}
		erased += wantErasures
		if c.Status != wantStatus || erasures != wantErasures {
			t.Errorf("contact %s (%s): status %s with %d erasure entries, want %s with %d", id, w, c.Status, erasures, wantStatus, wantErasures)
		}
		if _, ok := results[id]; !ok {
			t.Errorf("contact %s (%s): no outcome on LETHE_RESULTS", id, w)
		}
	}
	report, err := audit.Verify(ctx, st.Audit())
	if err != nil || !report.Intact {
		t.Errorf("audit chain: %+v, %v", report, err)
	}

	// A double command is harmless: every command of the apply sent again — from another
	// source, so that JetStream does not deduplicate it — is executed again by the two
	// anonymisers, side by side, and changes nothing: no second erasure, audit entry or outcome.
	run, err := st.Runs().Get(ctx, chaosInst, applyID)
	if err != nil {
		t.Fatal(err)
	}
	var replay []bus.Outgoing
	for _, it := range allItems(t, api, applyID) {
		cmd := retention.Command{Institution: chaosInst, ContactID: it.ContactID, RunID: run.ID,
			Planned: it.Outcome, AsOf: run.AsOf, InactivityMonths: run.InactivityMonths, RequestedBy: run.RequestedBy}
		e, err := cmd.Event("/scale-test/replay", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		replay = append(replay, bus.Outgoing{Subject: bus.CommandSubject(chaosInst, retention.CommandKind), Event: e})
	}
	perAnon := [2]int{anonA.processed(bus.StreamCommands), anonB.processed(bus.StreamCommands)} // the apply's
	executedBefore := perAnon[0] + perAnon[1]
	resultsAfterApply := streamMsgCount(t, js, bus.StreamResults)
	pub, err := bus.NewPublisher(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.PublishBatch(ctx, replay); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the replayed commands executed", func() error {
		return testkit.AtLeast("commands executed", anonA.processed(bus.StreamCommands)+anonB.processed(bus.StreamCommands), executedBefore+len(replay))
	})
	bustest.WaitCaughtUp(t, js, bus.StreamCommands, bus.DurableCommands)
	if n := streamMsgCount(t, js, bus.StreamResults); n != resultsAfterApply {
		t.Errorf("LETHE_RESULTS holds %d messages after the replay, %d before: a double command published again", n, resultsAfterApply)
	}
	again, err := audit.Verify(ctx, st.Audit())
	if err != nil || !again.Intact || again.Entries != report.Entries {
		t.Errorf("audit after the replay: %+v (%v), before %d entries: a double command left a trace", again, err, report.Entries)
	}
	for id, w := range want {
		c, err := st.Contacts().Get(ctx, chaosInst, id)
		if err != nil {
			t.Fatal(err)
		}
		if outcome, _, _ := strings.Cut(w, "/"); (outcome == store.OutcomeSkip) != (c.Status == store.StatusActive) {
			t.Errorf("contact %s (%s) is %s after the replay", id, w, c.Status)
		}
	}

	perRecency := [2]int{recencyA.processed(bus.StreamActivity), recencyB.processed(bus.StreamActivity)}
	if perAnon[0] == 0 || perAnon[1] == 0 {
		t.Errorf("commands executed per anonymiser %v: both must have taken part", perAnon)
	}
	if perAnon[0]+perAnon[1] < len(want) {
		t.Errorf("commands executed per anonymiser %v, fewer than the %d planned", perAnon, len(want))
	}
	if perRecency[0] == 0 || perRecency[1] == 0 {
		t.Errorf("events folded per recency %v: both must have taken part", perRecency)
	}
	t.Logf("scale-out: seed=%d contacts=%d events=%d killed n%d at %d acknowledged (new LETHE_ACTIVITY leader n%d, batches retried %d); "+
		"killed n%d at %d outcomes of the apply; folded per recency %v, commands per anonymiser %v of the apply; replayed %d; planned %d, erased %d, completed counts %v; audit entries %d; %s",
		seed, contacts, total, leader, atKill, newLeader, retried, cmdLeader, outcomesAtKill, perRecency, perAnon, len(replay), len(want), erased, completed.Counts, report.Entries,
		time.Since(started).Round(time.Millisecond))
	for _, in := range []*instance{front, recencyA, recencyB, anonA, anonB} {
		if err := in.stop(); err != nil {
			t.Errorf("%s: %v", in.name, err)
		}
		t.Logf("%s's warnings:\n%s", in.name, warnings(in.logs.String()))
	}
}
