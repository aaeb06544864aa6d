package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// TestMain lets a test run the real main, exit code and all, in a child process: with
// LETHE_TEST_MAIN=1 the test binary is the lethe binary.
func TestMain(m *testing.M) {
	if os.Getenv("LETHE_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runLethe runs `lethe …` as main would, in-process, with the given environment.
func runLethe(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// execLethe runs the lethe binary (this test binary, see TestMain) with only env as its
// environment, and returns its exit code.
func execLethe(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{"LETHE_TEST_MAIN=1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("exec lethe %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

const runsInst = "inst-runs"

// seedRunsInstitution posts four contacts and waits until the projection holds them whole:
// an old prospect (deleted by a run), an old customer (anonymised), an old debtor (skipped:
// debt) and a recent prospect (not in a run).
func seedRunsInstitution(t *testing.T, s served) {
	t.Helper()
	old := time.Date(2019, 3, 1, 10, 0, 0, 0, time.UTC)
	recent := time.Now().UTC().Truncate(time.Second).AddDate(0, -1, 0)
	mk := func(contact string, d events.Data) event.Event {
		e, err := events.New("/test/runs", runsInst, contact, d)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	email := func(v string) events.Profile { return events.Profile{Email: events.String(v)} }
	order := func(id string) *events.OrderPlaced {
		return &events.OrderPlaced{OrderID: id, OrderedAt: old, ContactRole: events.ContactRoleBuyer,
			Items: []events.Item{{ProductID: "membership"}}}
	}
	postEvents(t, s.http, s.token,
		mk("c-old-prospect", &events.ContactCreated{Role: events.RoleIndividual, CreatedAt: old, Profile: email("p@example.net")}),
		mk("c-old-customer", &events.ContactCreated{Role: events.RoleIndividual, CreatedAt: old, Profile: email("c@example.net")}),
		mk("c-old-customer", order("o-1")),
		mk("c-old-debtor", &events.ContactCreated{Role: events.RoleIndividual, CreatedAt: old}),
		mk("c-old-debtor", order("o-2")),
		mk("c-old-debtor", &events.BalanceChanged{Balance: -500, Currency: "EUR", At: old}),
		mk("c-recent", &events.ContactCreated{Role: events.RoleIndividual, CreatedAt: recent, Profile: email("r@example.net")}),
	)
	folded := map[string]func(map[string]any) bool{
		"c-old-prospect": func(v map[string]any) bool { return v["recency"] != nil },
		"c-old-customer": func(v map[string]any) bool { return v["kind"] == "customer" },
		"c-old-debtor":   func(v map[string]any) bool { b, _ := v["blockers"].([]any); return len(b) > 0 },
		"c-recent":       func(v map[string]any) bool { return v["recency"] != nil },
	}
	for contact, ok := range folded {
		testkit.Eventually(t, contact+" folded", func() error {
			if code, v := get(t, s.http+"/v1/institutions/"+runsInst+"/contacts/"+contact, s.token); code != http.StatusOK || !ok(v) {
				return fmt.Errorf("%d %v", code, v)
			}
			return nil
		})
	}
}

// wantPlan is what a run as of now with 36 months plans for seedRunsInstitution.
var wantPlan = map[string]string{
	"c-old-prospect": "delete/",
	"c-old-customer": "anonymise/",
	"c-old-debtor":   "skip/debt",
}

var countLines = []string{`(?m)^delete +1$`, `(?m)^anonymise +1$`, `(?m)^skip +1$`, `(?m)^  debt +1$`, `(?m)^total +3$`}

func assertLines(t *testing.T, what, out string, res ...string) {
	t.Helper()
	for _, re := range res {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("%s does not match %s:\n%s", what, re, out)
		}
	}
}

// The operator's whole path with the client commands only: a simulation, its report and
// items in every format, apply, and an on-demand erasure.
func TestRunsStartShowItemsApply(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir())
	seedRunsInstitution(t, s)
	env := map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": s.token}
	asOf := time.Now().UTC().Truncate(time.Second)

	// start --wait: the id first, then the finished run's counts.
	out, stderr, err := runLethe(t, env, "runs", "start", runsInst, "--wait", "--inactivity-months", "36", "--as-of", asOf.Format(time.RFC3339))
	if err != nil {
		t.Fatalf("runs start: %v\n%s", err, stderr)
	}
	sim, report, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(sim, "run-") || cliflags.CheckSegment("run", sim) != nil {
		t.Fatalf("runs start printed %q first, want the run id", sim)
	}
	assertLines(t, "runs start --wait", report, append([]string{`(?m)^mode +simulation$`, `(?m)^state +planned$`,
		`(?m)^as of +` + regexp.QuoteMeta(asOf.Format(time.RFC3339)) + `$`, `(?m)^inactivity +36 months`}, countLines...)...)

	// show: the same report; --json: the server's run.
	shown, _, err := runLethe(t, env, "runs", "show", runsInst, sim)
	if err != nil {
		t.Fatalf("runs show: %v", err)
	}
	if shown != report {
		t.Errorf("runs show:\n%s\nwant the report of runs start --wait:\n%s", shown, report)
	}
	out, _, err = runLethe(t, env, "runs", "show", "--json", runsInst, sim)
	if err != nil {
		t.Fatalf("runs show --json: %v", err)
	}
	var rv api.RunView
	if err := json.Unmarshal([]byte(out), &rv); err != nil {
		t.Fatalf("runs show --json printed %q: %v", out, err)
	}
	if rv.ID != sim || rv.Mode != "simulation" || rv.State != "planned" || rv.InactivityMonths != 36 || !rv.AsOf.Equal(asOf) ||
		!maps.Equal(rv.Counts, map[string]int{"delete": 1, "anonymise": 1, "skip": 1}) || !maps.Equal(rv.Reasons, map[string]int{"debt": 1}) {
		t.Errorf("runs show --json = %+v", rv)
	}

	// items as CSV: one row per planned contact, as planned.
	out, _, err = runLethe(t, env, "runs", "items", runsInst, sim, "--format", "csv")
	if err != nil {
		t.Fatalf("runs items --format csv: %v", err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) == 0 || rows[0][0] != "contact_id" || rows[0][1] != "outcome" || rows[0][2] != "reason" {
		t.Fatalf("csv (%v):\n%s", err, out)
	}
	got := map[string]string{}
	for _, r := range rows[1:] {
		got[r[0]] = r[1] + "/" + r[2]
	}
	if len(rows) != 4 || !maps.Equal(got, wantPlan) {
		t.Errorf("csv items %v (%d rows), want %v", got, len(rows)-1, wantPlan)
	}
	csvFile := filepath.Join(t.TempDir(), "items.csv")
	said, _, err := runLethe(t, env, "runs", "items", runsInst, sim, "--format", "csv", "--output", csvFile)
	if kept, _ := os.ReadFile(csvFile); err != nil || said != fmt.Sprintf("wrote 3 items of run %s to %s\n", sim, csvFile) || string(kept) != out {
		t.Errorf("runs items --format csv --output = %v %q, file:\n%s", err, said, kept)
	}

	// items as JSON, one item per page: the pages are followed into one array.
	out, _, err = runLethe(t, env, "runs", "items", runsInst, sim, "--format", "json", "--page-size", "1")
	if err != nil {
		t.Fatalf("runs items --format json: %v", err)
	}
	var items []api.ItemView
	if err := json.Unmarshal([]byte(out), &items); err != nil {
		t.Fatalf("json items %q: %v", out, err)
	}
	got = map[string]string{}
	for _, it := range items {
		got[it.ContactID] = it.Outcome + "/" + it.Reason
		if it.Recency.IsZero() || it.RecencySource.Type == "" {
			t.Errorf("json item without its recency and source: %+v", it)
		}
	}
	if len(items) != 3 || !maps.Equal(got, wantPlan) {
		t.Errorf("json items %v (%d), want %v", got, len(items), wantPlan)
	}

	// items as NDJSON into a file.
	file := filepath.Join(t.TempDir(), "items.ndjson")
	out, _, err = runLethe(t, env, "runs", "items", runsInst, sim, "--format", "ndjson", "--output", file)
	if err != nil {
		t.Fatalf("runs items --format ndjson: %v", err)
	}
	if want := fmt.Sprintf("wrote 3 items of run %s to %s\n", sim, file); out != want {
		t.Errorf("runs items --output said %q, want %q", out, want)
	}
	got = ndjsonItems(t, file)
	if !maps.Equal(got, wantPlan) {
		t.Errorf("ndjson items %v, want %v", got, wantPlan)
	}

	// items as a table, two per page.
	out, _, err = runLethe(t, env, "runs", "items", runsInst, sim, "--page-size", "2")
	if err != nil {
		t.Fatalf("runs items: %v", err)
	}
	if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "CONTACT ") {
		t.Errorf("table of %d lines, want a header and 3 items:\n%s", len(lines), out)
	}
	assertLines(t, "the items table", out, `(?m)^c-old-debtor +skip +debt +individual +yes +2019-03-01T10:00:00Z +lethe\.\S+ +-$`,
		`(?m)^c-old-prospect +delete +- +individual +no +2019-03-01T10:00:00Z +lethe\.contact\.created\.v1 +-$`)

	// list: the simulation, newest first.
	out, _, err = runLethe(t, env, "runs", "list", runsInst)
	if err != nil {
		t.Fatalf("runs list: %v", err)
	}
	assertLines(t, "runs list", out, `^RUN +MODE +STATE`, `(?m)^`+sim+` +simulation +planned +\S+ +1 +1 +1 `)

	// apply --wait: a new run, executing the simulation's set.
	out, stderr, err = runLethe(t, env, "runs", "apply", runsInst, sim, "--wait")
	if err != nil {
		t.Fatalf("runs apply: %v\n%s", err, stderr)
	}
	applied, report, _ := strings.Cut(out, "\n")
	if applied == "" || applied == sim || cliflags.CheckSegment("run", applied) != nil {
		t.Fatalf("runs apply printed %q first, want a new run id", applied)
	}
	// --wait returns once every item has its result: the counts are what happened, beside
	// the plan's.
	assertLines(t, "runs apply --wait", report, `(?m)^mode +apply of `+sim+`$`, `(?m)^state +completed$`,
		`(?m)^results +3 of 3 items$`, `(?m)^outcome +contacts +planned$`, `(?m)^delete +1 +1$`, `(?m)^anonymise +1 +1$`,
		`(?m)^skip +1 +1$`, `(?m)^  debt +1 +1$`, `(?m)^total +3 +3$`)
	// The apply run's items carry what the anonymiser did, skips included, by then.
	wantResults := map[string]string{"c-old-prospect": "deleted", "c-old-customer": "anonymised", "c-old-debtor": "skipped:debt"}
	out, _, err = runLethe(t, env, "runs", "items", runsInst, applied, "--format", "csv")
	if err != nil {
		t.Fatalf("items of the apply run: %v", err)
	}
	rows, _ = csv.NewReader(strings.NewReader(out)).ReadAll()
	results := map[string]string{}
	for _, r := range rows[1:] {
		results[r[0]] = r[9]
	}
	if !maps.Equal(results, wantResults) {
		t.Fatalf("apply results %v right after runs apply --wait, want %v", results, wantResults)
	}
	// A simulation is applied once.
	_, _, err = runLethe(t, env, "runs", "apply", runsInst, sim)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict || !strings.Contains(err.Error(), applied) {
		t.Errorf("second apply = %v, want a 409 naming %s", err, applied)
	}

	// An on-demand erasure of the recent prospect, waited for.
	out, stderr, err = runLethe(t, env, "contacts", "erase", runsInst, "c-recent", "--wait")
	if err != nil {
		t.Fatalf("contacts erase: %v\n%s", err, stderr)
	}
	req, report, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(req, "req_") {
		t.Fatalf("contacts erase printed %q first, want the request id", req)
	}
	assertLines(t, "contacts erase --wait", report, `(?m)^contact +c-recent of `+runsInst+`$`, `(?m)^state +completed$`, `(?m)^outcome +deleted$`)
	if code, v := get(t, s.http+"/v1/institutions/"+runsInst+"/contacts/c-recent", s.token); code != http.StatusOK || v["status"] != "deleted" {
		t.Errorf("c-recent after the erasure: %d %v", code, v)
	}
}

func ndjsonItems(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var it api.ItemView
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatalf("ndjson line %q: %v", sc.Text(), err)
		}
		got[it.ContactID] = it.Outcome + "/" + it.Reason
	}
	return got
}

// What the server refuses reaches the operator as the server's reason, and the binary exits 1.
func TestRunsServerRefusals(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir())
	env := map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": s.token}
	var apiErr *client.APIError

	for _, args := range [][]string{
		{"runs", "show", runsInst, "run-nope"},
		{"runs", "items", runsInst, "run-nope"},
		{"runs", "items", runsInst, "run-nope", "--format", "csv"},
		{"runs", "apply", runsInst, "run-nope", "--wait"},
	} {
		out, _, err := runLethe(t, env, args...)
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound ||
			!strings.HasSuffix(err.Error(), ": no run run-nope in institution "+runsInst) || out != "" {
			t.Errorf("%v = %v, stdout %q; want the server's 404 and nothing printed", args, err, out)
		}
	}
	// No file is left behind by an export that failed.
	dir := t.TempDir()
	if _, _, err := runLethe(t, env, "runs", "items", runsInst, "run-nope", "--format", "csv", "--output", filepath.Join(dir, "x.csv")); err == nil {
		t.Error("an export of an unknown run succeeded")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("a failed export left %v", left)
	}

	// The server's invalid fields are listed under its summary.
	_, _, err := runLethe(t, env, "runs", "start", runsInst, "--as-of", "1850-01-01")
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest ||
		!strings.Contains(err.Error(), "the run request is invalid (1 invalid field)\n  /as_of: must be on or after 1900-01-01") {
		t.Errorf("start as of 1850 = %v", err)
	}
	// A wrong token.
	_, _, err = runLethe(t, map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": "not-a-token"}, "runs", "list", runsInst)
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Errorf("list with a wrong token = %v", err)
	}
	// An institution with no run.
	if out, _, err := runLethe(t, env, "runs", "list", runsInst); err != nil || out != "no run in institution "+runsInst+"\n" {
		t.Errorf("list of an institution without runs = %v %q", err, out)
	}

	// The real binary: the reason on stderr, exit code 1; and 0 when all is well.
	_, stderr, code := execLethe(t, env, "runs", "show", runsInst, "run-nope")
	if code != 1 || stderr != "lethe: server answered 404 Not Found: no run run-nope in institution "+runsInst+"\n" {
		t.Errorf("lethe runs show of an unknown run: exit %d, stderr %q", code, stderr)
	}
	if out, stderr, code := execLethe(t, env, "runs", "list", runsInst, "--json"); code != 0 || !strings.Contains(out, `"runs": []`) {
		t.Errorf("lethe runs list --json: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

func TestRunsUsage(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LETHE_SERVER": "http://127.0.0.1:1", "LETHE_TOKEN": "t"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want error
		text string // on stderr, or in the error when want is nil
	}{
		{"no subcommand", env, nil, errUsage, "Usage: lethe runs"},
		{"unknown subcommand", env, []string{"delete", "inst-a"}, errUsage, `unknown subcommand "delete"`},
		{"start without institution", env, []string{"start"}, errUsage, "name the INSTITUTION\n"},
		{"start with a run", env, []string{"start", "inst-a", "run-1"}, errUsage, "name the INSTITUTION\n"},
		{"show without run", env, []string{"show", "inst-a"}, errUsage, "name the INSTITUTION and the RUN"},
		{"items without run", env, []string{"items", "inst-a", "--format", "csv"}, errUsage, "name the INSTITUTION and the RUN"},
		{"apply without run", env, []string{"apply", "inst-a"}, errUsage, "name the INSTITUTION and the RUN"},
		{"show has no --wait", env, []string{"show", "--wait", "inst-a", "run-1"}, errUsage, "flag provided but not defined: -wait"},
		{"help", env, []string{"items", "-h"}, errUsage, "-page-size"},
		{"bad mode", env, []string{"start", "inst-a", "--mode", "apply"}, nil, `--mode: want simulation or execute, not "apply"`},
		{"bad mode from the environment", map[string]string{"LETHE_TOKEN": "t", "LETHE_MODE": "dry"}, []string{"start", "inst-a"}, nil, `not "dry"`},
		{"bad as-of", env, []string{"start", "inst-a", "--as-of", "yesterday"}, nil, `--as-of "yesterday"`},
		{"negative months", env, []string{"start", "inst-a", "--inactivity-months", "-1"}, nil, "--inactivity-months: want a whole number of months from 1 to 1200"},
		{"bad format", env, []string{"items", "inst-a", "run-1", "--format", "xml"}, nil, `--format: want table, csv, ndjson or json, not "xml"`},
		{"bad page size", env, []string{"items", "inst-a", "run-1", "--page-size", "0"}, nil, "--page-size must be between 1 and 1000"},
		{"bad timeout", env, []string{"show", "inst-a", "run-1", "--timeout", "0s"}, nil, "--timeout must be positive"},
		{"a run id that is not one path segment", env, []string{"show", "inst-a", "../runs"}, nil, "cannot be sent in a URL path"},
		{"no token", map[string]string{}, []string{"list", "inst-a"}, errNoToken, ""},
		{"unreachable server", env, []string{"start", "inst-a", "--wait"}, client.ErrUnreachable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := runLethe(t, tc.env, append([]string{"runs"}, tc.args...)...)
			if err == nil {
				t.Fatal("no error")
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			where := stderr
			if tc.want == nil {
				where = err.Error()
			}
			if tc.text != "" && !strings.Contains(where, tc.text) {
				t.Errorf("%q does not say %q", where, tc.text)
			}
		})
	}
	// The binary exits 1 on a usage error, after explaining it.
	_, stderr, code := execLethe(t, env, "runs", "show", "inst-a")
	if code != 1 || !strings.Contains(stderr, "lethe runs show: name the INSTITUTION and the RUN") || !strings.Contains(stderr, "-timeout") {
		t.Errorf("lethe runs show inst-a: exit %d, stderr %q", code, stderr)
	}
	if _, stderr, code := execLethe(t, nil, "runs", "list", "inst-a"); code != 1 || stderr != "lethe: "+errNoToken.Error()+"\n" {
		t.Errorf("lethe runs list without a token: exit %d, stderr %q", code, stderr)
	}
}
