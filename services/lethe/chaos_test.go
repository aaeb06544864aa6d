package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// The fault-injection suite: a real `lethe serve` process is killed with SIGKILL in the middle
// of a backfill and in the middle of an apply, restarted on the same --data, and what it then
// holds is compared with an oracle computed from the input alone. The server is only reached
// the way an operator reaches it (HTTP and the lethe CLI, never a raw NATS connection), so
// the suite holds whatever the bus's credentials become.
//
// Sizes: CHAOS_CONTACTS (default 300) and CHAOS_KILLS (default 1) — `make test` runs the
// small default, `make chaos` a large one. CHAOS_SEED replays a run: the generated history
// and the kill points all come from it, and it is printed. LETHE_BIN names the lethe binary
// (make chaos builds bin/lethe); without it this test binary is re-executed as lethe (see
// TestMain), which is the same main without a second link. Every wait is testkit.Eventually:
// make chaos gives it a longer deadline (LETHE_TEST_WAIT) for its larger sizes.

// chaosSettings are the suite's knobs, read once from the environment.
type chaosSettings struct {
	seed     uint64
	contacts int
	kills    int
	bin      string
	env      []string // the children's whole environment: nothing of the caller's LETHE_*
}

// chaosSeed is the default seed, one per test process so that the printed seed replays
// every test of the run.
var chaosSeed = uint64(time.Now().UnixNano())

func chaosConfig(t *testing.T) chaosSettings {
	t.Helper()
	c := chaosSettings{seed: chaosSeed, contacts: 300, kills: 1, bin: os.Getenv("LETHE_BIN")}
	for name, dst := range map[string]*int{"CHAOS_CONTACTS": &c.contacts, "CHAOS_KILLS": &c.kills} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive integer", name, v)
			}
			*dst = n
		}
	}
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: want an unsigned integer", v)
		}
		c.seed = n
	}
	c.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	if c.bin == "" {
		c.bin = os.Args[0]
		c.env = append(c.env, "LETHE_TEST_MAIN=1")
	}
	t.Logf("chaos: CHAOS_SEED=%d CHAOS_CONTACTS=%d CHAOS_KILLS=%d (binary %s)", c.seed, c.contacts, c.kills, c.bin)
	return c
}

// proc is a child process whose stdout is kept line by line and whose stderr goes to a file.
type proc struct {
	cmd  *exec.Cmd
	out  *lineWriter
	done chan struct{}
	err  error
}

func startProc(t *testing.T, cfg chaosSettings, logPath string, args ...string) *proc {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: exec.Command(cfg.bin, args...), out: newLineWriter(), done: make(chan struct{})}
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = cfg.env, p.out, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start lethe %v: %v", args, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		logf.Close()
		p.out.pw.Close()
		close(p.done)
	}()
	// A failed test still leaves no process behind.
	t.Cleanup(func() { p.signal(syscall.SIGKILL); <-p.done })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// kill is the fault: SIGKILL, no chance to flush, close or drain anything.
func (p *proc) kill() { p.signal(syscall.SIGKILL); <-p.done }

// wait returns the exit error once the process ends, or an error after timeout.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("still running after %s", timeout)
	}
}

// chaosServer is one life of `lethe serve` on a data directory: each start prints a new
// development token and listens on new ports.
type chaosServer struct {
	*proc
	api  *apiClient
	logs string
}

// It runs as `make run` does: no lethe.yaml, the development token for every institution, so
// the institution is declared nowhere and a restarted scheduler must find its runs in the store
// (an apply killed before its commands were all queued once stayed "planning" for ever).
func startChaosServer(t *testing.T, cfg chaosSettings, dir string, life int, extra ...string) *chaosServer {
	t.Helper()
	logs := filepath.Join(filepath.Dir(dir), fmt.Sprintf("serve-%d.log", life))
	args := append([]string{"serve", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--data", dir}, extra...)
	p := startProc(t, cfg, logs, args...)
	s := &chaosServer{proc: p, logs: logs}
	s.api = &apiClient{t: t, base: p.out.find(t, reHTTP), token: p.out.find(t, reToken)}
	testkit.Eventually(t, fmt.Sprintf("lethe serve (life %d, log %s) to be ready", life, logs), func() error {
		if code, body := s.api.get("/readyz"); code != http.StatusOK {
			return fmt.Errorf("/readyz = %d %v", code, body)
		}
		return nil
	})
	return s
}

// stop is a clean stop (SIGTERM), as an operator's restart would do.
func (s *chaosServer) stop(t *testing.T) {
	t.Helper()
	s.signal(syscall.SIGTERM)
	if err := s.wait(time.Minute); err != nil {
		t.Fatalf("lethe serve did not stop cleanly: %v (log %s)", err, s.logs)
	}
}

// startSend runs `lethe send` against s as its own process, in batches of total/500 events,
// one at a time: the checkpoint is written every 250ms, so a small input sent in the default
// batches of 1000 would be over before a kill could land in the middle of it.
func startSend(t *testing.T, cfg chaosSettings, s *chaosServer, file string, n, total int) *proc {
	t.Helper()
	return startProc(t, cfg, fmt.Sprintf("%s.send-%d.log", file, n), "send", "--server", s.api.base, "--token", s.api.token,
		"--progress", "none", "--batch", strconv.Itoa(max(1, total/500)), "--concurrency", "1", "--retries", "3", file)
}

// sentSoFar reads the checkpoint `lethe send` keeps beside its input: how many events the
// server acknowledged.
func sentSoFar(file string) int64 {
	b, err := os.ReadFile(file + ".send-progress")
	if err != nil {
		return 0
	}
	var cp struct {
		Sent int64 `json:"sent"`
	}
	_ = json.Unmarshal(b, &cp)
	return cp.Sent
}

// The history and its oracle.

const chaosInst = "inst-chaos"

// expect is what the projection must hold for one contact, and what a run as of now must
// plan for it, computed from the generated events with the rules of DESIGN.md.
type expect struct {
	recency  time.Time
	customer bool
	inScope  bool
	blockers []string
	plan     string // "" (not a candidate), delete, anonymise or skip
	reason   string // for skip: the first blocker
}

// chaosHistory writes n contacts' events as NDJSON to path and returns the oracle and the
// number of events. Dates stay far (six months or more) from the 36-month threshold so that
// the run's own clock cannot move a contact across it, and no activity precedes its
// contact's creation, where the fold and the contract may disagree (a migrated contact).
func chaosHistory(t *testing.T, path string, seed uint64, n int, now time.Time) (map[string]expect, int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x1e7e))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	threshold := retention.Threshold(now, 36)
	day := func(t time.Time) time.Time { return t.Truncate(time.Second) }
	// old: between 4 and 8 years ago; recent: within the last 2 years.
	old := func() time.Time { return day(threshold.AddDate(0, -6, -rng.IntN(4*365))) }
	oracle := map[string]expect{}
	count := 0
	for i := range n {
		contact := fmt.Sprintf("c-%05d", i)
		var evs []events.Data
		role := events.RoleIndividual
		switch r := rng.IntN(100); {
		case r < 6:
			role = "supplier"
		case r < 14:
			role = events.RoleRelay
		}
		created := old()
		evs = append(evs, &events.ContactCreated{Role: role, CreatedAt: created,
			Profile: events.Profile{Email: events.String(contact + "@example.org")}})
		recency, customer := created, false
		after := func(from time.Time, maxDays int) time.Time {
			return day(from.Add(time.Duration(1+rng.IntN(maxDays)) * 24 * time.Hour))
		}
		recent := func() time.Time { return day(now.AddDate(0, 0, -1-rng.IntN(2*365))) }
		counts := func(at time.Time) {
			if at.After(recency) {
				recency = at
			}
		}
		// Activities, each dated after the creation.
		for range rng.IntN(4) {
			at := after(created, 400)
			if at.After(threshold.AddDate(0, -6, 0)) {
				at = created.Add(time.Hour)
			}
			if rng.IntN(5) == 0 {
				at = recent() // an active contact
			}
			switch rng.IntN(7) {
			case 0:
				evs = append(evs, &events.OrderPlaced{OrderID: fmt.Sprintf("o-%d-%d", i, len(evs)), OrderedAt: at,
					ContactRole: events.ContactRoleBuyer, Items: []events.Item{{ProductID: "p-undated"}}})
				counts(at)
				customer = true
			case 1:
				// A dated product: the performance date counts, possibly in the future.
				valid := day(at.AddDate(0, rng.IntN(3), 0))
				if rng.IntN(8) == 0 {
					valid = day(now.AddDate(0, 6+rng.IntN(12), 0))
				}
				evs = append(evs, &events.OrderPlaced{OrderID: fmt.Sprintf("o-%d-%d", i, len(evs)), OrderedAt: at,
					ContactRole: events.ContactRoleAttendee, Items: []events.Item{{ProductID: "p-dated", Dated: true, ValidAt: valid}}})
				counts(valid)
				customer = true
			case 2:
				evs = append(evs, &events.OptionAcquired{OptionID: fmt.Sprintf("opt-%d-%d", i, len(evs)), At: at,
					Items: []events.Item{{ProductID: "p-undated"}}})
				counts(at)
			case 3:
				evs = append(evs, &events.WaitlistJoined{WaitlistID: "w-1", JoinedAt: at})
				counts(at)
			case 4:
				// A change counts when an authorisation is yes after it: with one
				// authorisation, when its own value is yes, in whatever order they fold.
				v := []string{"yes", "no"}[rng.IntN(2)]
				evs = append(evs, &events.ConsentChanged{Authorisations: map[string]string{"marketing": v}, ChangedAt: at})
				if v == "yes" {
					counts(at)
				}
			case 5:
				evs = append(evs, &events.PaymentRecorded{Amount: 1200, Currency: "EUR", PaidAt: at}) // never counts
			case 6:
				evs = append(evs, &events.CampaignLinkClicked{CampaignID: "camp-1", LinkID: "l-1", ClickedAt: at})
				counts(at)
			}
		}
		// Blockers, some raised and then released (the later fact wins).
		var blockers []string
		switch r := rng.IntN(100); {
		case r < 6:
			evs = append(evs, &events.BalanceChanged{Balance: -500, Currency: "EUR", At: after(created, 30)})
			blockers = append(blockers, retention.ReasonDebt)
		case r < 10:
			evs = append(evs, &events.BalanceChanged{Balance: 300, Currency: "EUR", At: after(created, 30)})
			blockers = append(blockers, retention.ReasonCredit)
		case r < 14:
			at := after(created, 30)
			evs = append(evs, &events.BalanceChanged{Balance: -500, Currency: "EUR", At: at},
				&events.BalanceChanged{Balance: 0, Currency: "EUR", At: at.Add(time.Hour)})
		case r < 18:
			evs = append(evs, &events.SubscriptionChanged{SubscriptionID: "s-1", Status: "active", At: after(created, 30)})
			blockers = append(blockers, retention.ReasonActiveSubscription)
		case r < 21:
			at := after(created, 30)
			evs = append(evs, &events.SubscriptionChanged{SubscriptionID: "s-1", Status: "active", At: at},
				&events.SubscriptionChanged{SubscriptionID: "s-1", Status: "terminated", At: at.Add(time.Hour)})
		case r < 25:
			evs = append(evs, &events.LegalHoldChanged{Held: true, Reason: "litigation", At: after(created, 30)})
			blockers = append(blockers, retention.ReasonLegalHold)
		case r < 27:
			at := after(created, 30)
			evs = append(evs, &events.LegalHoldChanged{Held: true, Reason: "audit", At: at},
				&events.LegalHoldChanged{Held: false, At: at.Add(time.Hour)})
		}
		x := expect{recency: recency, customer: customer, inScope: role != "supplier", blockers: blockers}
		if x.inScope && recency.Before(threshold) {
			switch {
			case len(blockers) > 0:
				x.plan, x.reason = store.OutcomeSkip, blockers[0]
			case customer:
				x.plan = store.OutcomeAnonymise
			default:
				x.plan = store.OutcomeDelete
			}
		}
		oracle[contact] = x
		for j, d := range evs {
			e, err := events.New("/chaos/backfill", chaosInst, contact, d, events.WithID(fmt.Sprintf("chaos-%d-%05d-%02d", seed, i, j)))
			if err != nil {
				t.Fatal(err)
			}
			b, err := events.MarshalStructured(e)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(b)
			w.WriteByte('\n')
			count++
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return oracle, count
}

// projectionMismatches returns, for each contact of todo whose projection is not yet what
// the oracle says, why; an empty map when the projection holds every one of them.
func projectionMismatches(api *apiClient, oracle map[string]expect, todo []string) map[string]string {
	bad := map[string]string{}
	for _, id := range todo {
		x := oracle[id]
		code, v := api.get("/v1/institutions/" + chaosInst + "/contacts/" + url.PathEscape(id))
		if code != http.StatusOK {
			bad[id] = fmt.Sprintf("GET = %d", code)
			continue
		}
		rec, _ := time.Parse(time.RFC3339Nano, strOr(v["recency"]))
		var blockers []string
		for _, b := range v["blockers"].([]any) {
			blockers = append(blockers, fmt.Sprint(b))
		}
		kind := "prospect"
		if x.customer {
			kind = "customer"
		}
		switch {
		case !rec.Equal(x.recency):
			bad[id] = fmt.Sprintf("recency %v, want %v", v["recency"], x.recency.Format(time.RFC3339))
		case v["kind"] != kind:
			bad[id] = fmt.Sprintf("kind %v, want %s", v["kind"], kind)
		case !slices.Equal(blockers, x.blockers):
			bad[id] = fmt.Sprintf("blockers %v, want %v", blockers, x.blockers)
		case v["in_scope"] != x.inScope:
			bad[id] = fmt.Sprintf("in_scope %v, want %v", v["in_scope"], x.inScope)
		}
	}
	return bad
}

// awaitProjection polls until the projection holds every contact as the oracle says, and
// returns the contacts it still gets wrong at the deadline (each one an event lost). The wait
// is a subtest named name, so that a timeout fails the test without ending it: what the run
// measured is still counted and printed.
func awaitProjection(t *testing.T, name string, api *apiClient, oracle map[string]expect) map[string]string {
	t.Helper()
	todo := slices.Sorted(mapKeys(oracle))
	var bad map[string]string
	t.Run(name, func(t *testing.T) {
		testkit.Eventually(t, "the projection to hold every contact as the oracle says", func() error {
			bad = projectionMismatches(api, oracle, todo)
			todo = slices.Sorted(mapKeys(bad))
			if len(bad) > 0 {
				return fmt.Errorf("%d contacts not as the oracle says", len(bad))
			}
			return nil
		})
	})
	return bad
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var reRebuilt = regexp.MustCompile(`projection rebuilt: (\d+) events`)

// storedEvents restarts the server with --rebuild-projection, which folds LETHE_ACTIVITY
// from its start and prints how many events it holds: the count of events stored, seen
// through the CLI only. It returns the new server.
func storedEvents(t *testing.T, cfg chaosSettings, s *chaosServer, dir string, life int) (*chaosServer, int) {
	t.Helper()
	s.stop(t)
	s = startChaosServer(t, cfg, dir, life, "--rebuild-projection")
	n, err := strconv.Atoi(s.out.find(t, reRebuilt))
	if err != nil {
		t.Fatal(err)
	}
	return s, n
}

// sendWithKills backfills file into the server on dir, killing the server (and the sender
// with it) with SIGKILL at cfg.kills random points of the send, restarting it each time and
// resuming the send from its checkpoint; it returns the server of the last life, how many
// kills landed while the send was still going, and the next life number.
func sendWithKills(t *testing.T, cfg chaosSettings, rng *rand.Rand, s *chaosServer, dir, file string, total, kills int) (*chaosServer, int, int) {
	t.Helper()
	life, midway := 1, 0
	for k := range kills {
		// Each kill falls 10% to 60% into what is left to send, so that every life of the
		// server, the resumed ones too, dies with the send under way.
		cur := sentSoFar(file)
		at := cur + int64((0.1+0.5*rng.Float64())*float64(int64(total)-cur))
		send := startSend(t, cfg, s, file, k, total)
		testkit.Eventually(t, fmt.Sprintf("the point of kill %d", k+1), func() error {
			if sentSoFar(file) >= at || send.exited() {
				return nil
			}
			return fmt.Errorf("%d of %d events acknowledged, waiting for %d", sentSoFar(file), total, at)
		})
		finished := send.exited()
		s.kill()
		send.kill()
		if !finished {
			midway++
		}
		t.Logf("kill %d: SIGKILL at %d of %d events acknowledged (aimed at %d; send still going: %v)", k+1, sentSoFar(file), total, at, !finished)
		life++
		s = startChaosServer(t, cfg, dir, life)
	}
	send := startSend(t, cfg, s, file, kills, total)
	if err := send.wait(10 * time.Minute); err != nil {
		t.Fatalf("the last lethe send: %v (log %s.send-%d.log)", err, file, kills)
	}
	return s, midway, life + 1
}

// TestChaosKillDuringBackfill: SIGKILL of lethe serve while `lethe send` backfills; after the
// restarts and the resumed send, every contact is in the projection as the oracle computes
// it (0 events lost), and LETHE_ACTIVITY holds each input event exactly once (0 applied
// twice: the send's checkpoint and JetStream's dedupe of resent ids).
func TestChaosKillDuringBackfill(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills real processes")
	}
	cfg := chaosConfig(t)
	rng := rand.New(rand.NewPCG(cfg.seed, 1))
	root := t.TempDir()
	dir, file := filepath.Join(root, "data"), filepath.Join(root, "history.ndjson")
	oracle, total := chaosHistory(t, file, cfg.seed, cfg.contacts, time.Now().UTC())

	s := startChaosServer(t, cfg, dir, 0)
	s, midway, life := sendWithKills(t, cfg, rng, s, dir, file, total, cfg.kills)
	lost := awaitProjection(t, "projection", s.api, oracle)
	s, stored := storedEvents(t, cfg, s, dir, life)
	lostAfterRebuild := awaitProjection(t, "projection after the rebuild", s.api, oracle)

	t.Logf("chaos backfill: seed=%d contacts=%d events sent=%d kills=%d (during the send: %d) lost=%d duplicated=%d stored=%d lost after rebuild=%d",
		cfg.seed, len(oracle), total, cfg.kills, midway, len(lost), stored-total, stored, len(lostAfterRebuild))
	for id, why := range lost {
		t.Errorf("lost: contact %s: %s", id, why)
	}
	if stored != total {
		t.Errorf("LETHE_ACTIVITY holds %d events, want each of the %d sent exactly once", stored, total)
	}
	for id, why := range lostAfterRebuild {
		t.Errorf("after the rebuild: contact %s: %s", id, why)
	}
}

// auditReport is GET /v1/audit/verify.
func auditReport(t *testing.T, api *apiClient) (entries int, intact bool) {
	t.Helper()
	code, v := api.get("/v1/audit/verify")
	if code != http.StatusOK && code != http.StatusConflict {
		t.Fatalf("GET /v1/audit/verify = %d %v", code, v)
	}
	n, _ := v["entries"].(float64)
	return int(n), code == http.StatusOK && v["intact"] == true
}

// allItems follows the pages of a run's items.
func allItems(t *testing.T, c *apiClient, run string) []api.ItemView {
	t.Helper()
	var out []api.ItemView
	after := ""
	for {
		path := "/v1/institutions/" + chaosInst + "/runs/" + run + "/items?limit=1000"
		if after != "" {
			path += "&after=" + url.QueryEscape(after)
		}
		code, b := c.do(http.MethodGet, path, "", nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, code, b)
		}
		var page api.ItemsPage
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Items...)
		if page.Next == "" || page.Next == after {
			return out
		}
		after = page.Next
	}
}

func runState(api *apiClient, run string) string {
	_, v := api.get("/v1/institutions/" + chaosInst + "/runs/" + run)
	return strOr(v["state"])
}

// resultsOf counts the items with a result, and says whether the apply is over: the run is
// completed — which it is only once every item, planned skips included, has its result — and
// every planned item is there with one.
func resultsOf(items []api.ItemView, planned int, state string) (results int, over bool) {
	for _, it := range items {
		if it.Result != "" {
			results++
		}
	}
	return results, state == store.RunCompleted && len(items) == planned && results == planned
}

// TestChaosKillDuringApply: SIGKILL of lethe serve while the outcomes of an apply arrive;
// after the restarts every item has exactly one result, no contact is erased twice (one audit
// entry per result), the audit chain verifies, and the erased set is the oracle's: inactive,
// in scope and unblocked contacts.
func TestChaosKillDuringApply(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills real processes")
	}
	cfg := chaosConfig(t)
	rng := rand.New(rand.NewPCG(cfg.seed, 2))
	root := t.TempDir()
	dir, file := filepath.Join(root, "data"), filepath.Join(root, "history.ndjson")
	oracle, total := chaosHistory(t, file, cfg.seed, cfg.contacts, time.Now().UTC())

	s := startChaosServer(t, cfg, dir, 0)
	send := startSend(t, cfg, s, file, 0, total)
	if err := send.wait(10 * time.Minute); err != nil {
		t.Fatalf("lethe send: %v", err)
	}
	if bad := awaitProjection(t, "projection", s.api, oracle); len(bad) > 0 {
		t.Fatalf("before any fault, %d contacts are not as the oracle says, e.g. %v", len(bad), bad)
	}

	// The simulation as of now must plan exactly the oracle's set.
	sim := strOr(s.api.post("/v1/institutions/"+chaosInst+"/runs", `{"mode":"simulation","inactivity_months":36}`)["id"])
	testkit.Eventually(t, "the simulation planned", func() error {
		switch st := runState(s.api, sim); st {
		case store.RunPlanned:
			return nil
		case store.RunFailed:
			t.Fatalf("simulation %s failed", sim)
		default:
			return fmt.Errorf("simulation %s is %s", sim, st)
		}
		return nil
	})
	want := map[string]string{} // contact → planned outcome/reason
	erasures := 0
	for id, x := range oracle {
		if x.plan != "" {
			want[id] = x.plan + "/" + x.reason
			if x.plan != store.OutcomeSkip {
				erasures++
			}
		}
	}
	got := map[string]string{}
	for _, it := range allItems(t, s.api, sim) {
		got[it.ContactID] = it.Outcome + "/" + it.Reason
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("simulation plans %s for %s, the oracle %s", got[id], id, w)
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("simulation plans %s for %s, the oracle nothing", g, id)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	auditBefore, _ := auditReport(t, s.api)

	apply := strOr(s.api.post("/v1/institutions/"+chaosInst+"/runs/"+sim+"/apply", "")["id"])
	life, midway := 1, 0
	for k := range cfg.kills {
		// The k-th kill falls in the k-th of kills equal slices of the erasures.
		// With several kills the first falls as soon as the apply run exists, while its
		// items are still being copied from the simulation.
		at := int(float64(erasures) * (float64(k) + rng.Float64()) / float64(cfg.kills))
		if k == 0 && cfg.kills > 1 {
			at = 0
		}
		var results int
		var over bool
		testkit.Eventually(t, fmt.Sprintf("the point of kill %d", k+1), func() error {
			results, over = resultsOf(allItems(t, s.api, apply), len(want), runState(s.api, apply))
			if results >= at || over {
				return nil
			}
			return fmt.Errorf("%d results of %d erasures, waiting for %d", results, erasures, at)
		})
		s.kill()
		if !over {
			midway++
		}
		t.Logf("kill %d: SIGKILL at %d results of %d erasures (aimed at %d; apply still going: %v)", k+1, results, erasures, at, !over)
		s = startChaosServer(t, cfg, dir, life)
		life++
	}
	// A subtest, so that an apply that never finishes fails the test without ending it: the
	// checks below still count and print what the run left.
	var items []api.ItemView
	t.Run("apply finished", func(t *testing.T) {
		testkit.Eventually(t, "the apply to finish", func() error {
			items = allItems(t, s.api, apply)
			state := runState(s.api, apply)
			if n, over := resultsOf(items, len(want), state); !over {
				return fmt.Errorf("run %s is %s: %d items of %d planned, %d with their result", apply, state, len(items), len(want), n)
			}
			return nil
		})
	})

	// Every item exactly once, with the result the oracle expects.
	results, withoutResult, wrong := 0, 0, 0
	seen := map[string]int{}
	for _, it := range items {
		seen[it.ContactID]++
		x := oracle[it.ContactID]
		wantResult := map[string]string{store.OutcomeDelete: "deleted", store.OutcomeAnonymise: "anonymised", store.OutcomeSkip: "skipped:" + x.reason}[x.plan]
		switch {
		case it.Result == "":
			withoutResult++
			t.Errorf("item %s (%s) has no result", it.ContactID, it.Outcome)
		case it.Result != wantResult:
			wrong++
			t.Errorf("item %s: result %s, the oracle %s", it.ContactID, it.Result, wantResult)
		}
		if it.Result != "" {
			results++
		}
	}
	twice := 0
	for id, n := range seen {
		if n > 1 {
			twice++
			t.Errorf("contact %s is %d items of the apply run", id, n)
		}
	}
	if len(items) != len(want) {
		t.Errorf("the apply run has %d items, the simulation planned %d", len(items), len(want))
	}

	// The audit trail: one entry per result (a contact erased twice would add a second), and
	// an intact chain.
	auditAfter, intact := auditReport(t, s.api)
	erasedTwice := max(0, auditAfter-auditBefore-results)
	if auditAfter-auditBefore != results {
		t.Errorf("the audit trail grew by %d entries for %d results", auditAfter-auditBefore, results)
	}
	if !intact {
		t.Error("the audit chain does not verify")
	}

	// The erased set, read from the projection, is the oracle's.
	erasedWrong := 0
	for id, x := range oracle {
		_, v := s.api.get("/v1/institutions/" + chaosInst + "/contacts/" + url.PathEscape(id))
		status, by := strOr(v["status"]), strOr(v["erased_by"])
		wantStatus := map[string]string{store.OutcomeDelete: "deleted", store.OutcomeAnonymise: "anonymised"}[x.plan]
		if wantStatus == "" {
			wantStatus = "active"
		}
		if status != wantStatus || (wantStatus != "active" && by != "run:"+apply) {
			erasedWrong++
			t.Errorf("contact %s: status %s by %q, the oracle %s by run:%s", id, status, by, wantStatus, apply)
		}
	}
	t.Logf("chaos apply: seed=%d contacts=%d events sent=%d items=%d erasures=%d kills=%d (during the apply: %d) results=%d items without result=%d wrong results=%d contacts in two items=%d erased twice=%d audit entries +%d chain ok=%v erased set differs for %d",
		cfg.seed, len(oracle), total, len(items), erasures, cfg.kills, midway, results, withoutResult, wrong, twice, erasedTwice, auditAfter-auditBefore, intact, erasedWrong)
}
