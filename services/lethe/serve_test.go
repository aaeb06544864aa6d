package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/server"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// lineWriter collects a command's stdout so the test can wait for a line.
type lineWriter struct {
	mu    sync.Mutex
	lines []string
	pw    *io.PipeWriter
}

func newLineWriter() *lineWriter {
	pr, pw := io.Pipe()
	lw := &lineWriter{pw: pw}
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			lw.mu.Lock()
			lw.lines = append(lw.lines, s.Text())
			lw.mu.Unlock()
		}
	}()
	return lw
}

func (l *lineWriter) Write(p []byte) (int, error) { return l.pw.Write(p) }

func (l *lineWriter) find(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	var found string
	testkit.Eventually(t, "a line matching "+re.String(), func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, line := range l.lines {
			if m := re.FindStringSubmatch(line); m != nil {
				found = m[1]
				return nil
			}
		}
		return fmt.Errorf("none in the %d lines so far", len(l.lines))
	})
	return found
}

type served struct {
	http, nats, token string
	// bus is nats with the services' credentials (serviceURL).
	bus  string
	stop func() error
}

var (
	reHTTP  = regexp.MustCompile(`lethe listening on (http://\S+)`)
	reNATS  = regexp.MustCompile(`NATS listening on (nats://\S+)`)
	reToken = regexp.MustCompile(`LETHE_TOKEN=(\S+)`)
)

// startServe runs `lethe serve` in-process exactly as main would, on dir.
func startServe(t *testing.T, dir string, extra ...string) served {
	t.Helper()
	return startServeTokens(t, dir, true, extra...)
}

// startServeTokens is startServe for a --config that may declare tokens: then serve prints
// no development token (devToken false) and the served token is empty.
func startServeTokens(t *testing.T, dir string, devToken bool, extra ...string) served {
	t.Helper()
	return startServeAs(t, dir, devToken, nil, extra...)
}

// startServeAs is startServeTokens with the parsed configuration changed by edit, when set,
// before serve starts: how a test sets server.Config's test hooks.
func startServeAs(t *testing.T, dir string, devToken bool, edit func(*server.Config), extra ...string) served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := newLineWriter()
	done := make(chan error, 1)
	args := append([]string{"serve", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--data", dir}, extra...)
	getenv := func(string) string { return "" }
	go func() {
		if edit == nil {
			done <- run(ctx, args, getenv, strings.NewReader(""), out, io.Discard)
			return
		}
		c, err := server.Parse(args[1:], getenv, io.Discard)
		if err != nil {
			done <- err
			return
		}
		edit(&c)
		done <- server.Run(ctx, c, out, io.Discard)
	}()
	s := served{http: out.find(t, reHTTP), nats: out.find(t, reNATS)}
	if devToken {
		s.token = out.find(t, reToken)
	}
	s.bus = serviceURL(t, s.nats, dir)
	var once sync.Once
	var err error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				err = fmt.Errorf("serve did not stop within 60s")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = s.stop() })
	return s
}

// serviceURL is natsURL carrying the services' credentials, read from the data directory
// where lethe serve generated them: only the services may publish on lethe.activity.* and
// read every stream.
func serviceURL(t testing.TB, natsURL, dir string) string {
	t.Helper()
	d, name := server.ServicePasswordPath(dir)
	b, err := os.ReadFile(filepath.Join(d, name))
	if err != nil {
		t.Fatalf("the services' bus password: %v", err)
	}
	u, err := url.Parse(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(bus.ServiceUser, strings.TrimSpace(string(b)))
	return u.String()
}

func get(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestServeHealthReadyAndRestartKeepsStreamsAndDocuments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServe(t, dir)

	if code, body := get(t, s.http+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz = %d %v, want 200", code, body)
	}
	waitContact(t, s.http+"/readyz", "") // 503 until the consumers run
	resp, err := http.Get(s.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(metrics), "go_goroutines") {
		t.Fatalf("/metrics = %d, want Prometheus text", resp.StatusCode)
	}

	// An activity on the bus reaches the projection, through the embedded NATS that upstream
	// publishers reach on --nats-listen.
	nc, err := nats.Connect(s.bus)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js := bustest.JetStream(t, nc)
	pub, _ := bus.NewPublisher(js)
	e, err := events.New("test", "inst-a", "c-restart", events.ContactCreated{Role: "individual", CreatedAt: time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)}, events.WithID("ev-restart-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(context.Background(), bus.ActivitySubject("inst-a", e.Type()), e); err != nil {
		t.Fatal(err)
	}
	contactURL := s.http + "/v1/institutions/inst-a/contacts/c-restart"
	want := waitContact(t, contactURL, s.token)
	if want["recency"] != "2020-01-02T00:00:00Z" {
		t.Fatalf("recency = %v, want 2020-01-02", want["recency"])
	}
	nc.Close()

	if err := s.stop(); err != nil {
		t.Fatalf("serve stopped with %v, want a clean stop", err)
	}

	// Same data directory: the streams, the message and the document are all still there. This
	// time the register keeps technical data for 6 months, so LETHE_ACTIVITY (which holds the
	// sealed technical data) is updated to keep events no longer than that.
	cfgPath := filepath.Join(t.TempDir(), "lethe.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(registerYAML, "after_collection: P12M", "after_collection: P6M", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := startServe(t, dir, "--config", cfgPath)
	// The development token is kept under --data: the restart finds it like everything else.
	if s2.token != s.token {
		t.Fatalf("the development token changed at the restart: %q, then %q", s.token, s2.token)
	}
	if fi, err := os.Stat(filepath.Join(dir, "dev", "token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the development token's file: %v %v, want mode 0600", fi, err)
	}
	contactURL = s2.http + "/v1/institutions/inst-a/contacts/c-restart" // a new port
	code, got := get(t, contactURL, s2.token)
	if code != http.StatusOK || got["recency"] != want["recency"] || fmt.Sprint(got["recency_source"]) != fmt.Sprint(want["recency_source"]) {
		t.Fatalf("after restart: %d %v, want %v", code, got, want)
	}
	nc2, err := nats.Connect(s2.bus)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	js2 := bustest.JetStream(t, nc2)
	for _, name := range []string{bus.StreamInbox, bus.StreamActivity, bus.StreamCommands, bus.StreamResults, bus.StreamDLQ} {
		st, err := js2.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("stream %s after restart: %v", name, err)
		}
		if name == bus.StreamActivity && st.CachedInfo().State.Msgs != 1 {
			t.Fatalf("LETHE_ACTIVITY holds %d messages after restart, want 1", st.CachedInfo().State.Msgs)
		}
		if age := st.CachedInfo().Config.MaxAge; name == bus.StreamActivity && (age < 181*24*time.Hour || age > 184*24*time.Hour) {
			t.Fatalf("LETHE_ACTIVITY max age %v, want the register's 6-month technical window", age)
		}
	}
	if err := s2.stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func waitContact(t *testing.T, url, token string) map[string]any {
	t.Helper()
	var body map[string]any
	testkit.Eventually(t, "contact at "+url, func() error {
		var code int
		code, body = get(t, url, token)
		return testkit.Equal("GET", code, http.StatusOK)
	})
	return body
}

// Every consumer of the four services, with its stream: what /readyz's 200 promises runs.
var serviceConsumers = []struct{ stream, durable, part string }{
	{bus.StreamInbox, bus.DurableInbox, "ingest/" + bus.DurableInbox},
	{bus.StreamActivity, bus.DurableRecency, "recency/" + bus.DurableRecency},
	{bus.StreamCommands, bus.DurableCommands, "anonymiser/" + bus.DurableCommands},
	{bus.StreamActivity, bus.DurableErasureRequests, "anonymiser/" + bus.DurableErasureRequests},
	{bus.StreamActivity, bus.DurableConfirmations, "anonymiser/" + bus.DurableConfirmations},
}

// assertEveryRouteAnswers makes each request of the OpenAPI document once, without a token
// and without waiting: a route that is not registered answers 404 (or 405 for its method).
func assertEveryRouteAnswers(t *testing.T, base, when string) {
	t.Helper()
	_, _, names := specRoutes(t, fetchSpec(t, base))
	for _, mp := range names {
		method, path := mp[0], routeParam.ReplaceAllString(mp[1], "dummy-1")
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("%s: %s %s = %d, want the route registered", when, method, mp[1], resp.StatusCode)
		}
	}
}

// The two-phase start: with every service's Run held, the listener already serves every
// route of the document, and /readyz is 503 naming each consumer that does not run, only the
// selected services' ones; once the Runs start, it turns 200 and says the consumers run.
func TestServeRegistersEveryRouteBeforeAnythingRunsAndReadyzWaitsForConsumers(t *testing.T) {
	t.Parallel()
	everything := []string{"ingest/" + bus.DurableInbox, "recency/" + bus.DurableRecency, "scheduler/runs",
		"anonymiser/" + bus.DurableCommands, "anonymiser/" + bus.DurableErasureRequests, "anonymiser/requests-sweep", "anonymiser/" + bus.DurableConfirmations}
	for _, tc := range []struct {
		target string
		want   []string
	}{
		{"all", everything},
		{"recency,scheduler", []string{"recency/" + bus.DurableRecency, "scheduler/runs"}},
	} {
		t.Run(tc.target, func(t *testing.T) {
			hold := make(chan struct{})
			s := startServeAs(t, t.TempDir(), true, func(c *server.Config) { c.HoldRuns = hold }, "--target", tc.target)
			code, body := get(t, s.http+"/readyz", "")
			if code != http.StatusServiceUnavailable || body["consumers"] != "not running" || fmt.Sprint(body["not_running"]) != fmt.Sprint(tc.want) {
				t.Errorf("/readyz with no Run started = %d %v, want 503, consumers not running, not_running %v", code, body, tc.want)
			}
			if body["nats"] != "ok" || body["store"] != "ok" {
				t.Errorf("/readyz = %v, want nats and store ok: only the consumers are missing", body)
			}
			if tc.target == "all" {
				assertEveryRouteAnswers(t, s.http, "before any Run")
			}

			close(hold)
			body = waitContact(t, s.http+"/readyz", "")
			if body["consumers"] != "running" || body["not_running"] != nil {
				t.Errorf("/readyz 200 = %v, want consumers running and nothing listed", body)
			}
		})
	}
}

// Without any hook, as `make run` starts it: from its first answer /readyz is 503 or 200, and
// at its first 200 every consumer exists on the bus and every route answers. A fresh clone's
// first `make test` once met POST /v1/events = 404 here, the routes being registered by
// goroutines that started after the listener.
func TestServeIsReadyOnlyOnceEveryConsumerExists(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir())
	var body map[string]any
	testkit.Eventually(t, "/readyz 200", func() error {
		var code int
		code, body = get(t, s.http+"/readyz", "")
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz = %d %v, want 200 or 503", code, body)
		}
		return testkit.Equal("/readyz", code, http.StatusOK)
	})
	if body["consumers"] != "running" {
		t.Errorf("/readyz 200 = %v, want consumers running", body)
	}
	nc, err := nats.Connect(s.bus)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js := bustest.JetStream(t, nc)
	for _, c := range serviceConsumers {
		if _, err := js.Consumer(context.Background(), c.stream, c.durable); err != nil {
			t.Errorf("ready, but %s (%s on %s): %v", c.part, c.durable, c.stream, err)
		}
	}
	assertEveryRouteAnswers(t, s.http, "as /readyz turned 200")
}

func TestServeRejectsUnknownTarget(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"serve", "--target", "nope"}, func(string) string { return "" }, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "unknown target") {
		t.Fatalf("err = %v, want unknown target", err)
	}
}

func TestFlagsHaveEnvironmentTwins(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LETHE_HTTP": "127.0.0.1:9999", "LETHE_NATS_URL": "nats://x:4222", "LETHE_TARGET": "recency",
		"LETHE_NATS_USER": "lethe", "LETHE_NATS_PASSWORD": "pw"}
	c, err := server.Parse([]string{"--target", "ingest"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP != "127.0.0.1:9999" || c.NATSURL != "nats://x:4222" {
		t.Fatalf("env twins not applied: %+v", c)
	}
	if c.Target != "ingest" {
		t.Fatalf("the command line must win over the environment: target = %q", c.Target)
	}
}

// --nats-sync (and LETHE_NATS_SYNC) decides how much a power cut may take, so the test reads
// the policy back from what the embedded server reports at start, and refuses what it cannot
// mean with the flag's name and the accepted forms.
func TestServeNATSSyncReachesTheServerAndBadValuesAreRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, "false sync_interval=1s"},
		{"flag", []string{"--nats-sync", "always"}, nil, "true sync_interval=2m0s"},
		{"environment twin", nil, map[string]string{"LETHE_NATS_SYNC": "250ms"}, "false sync_interval=250ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			errOut, out := newLineWriter(), newLineWriter()
			args := append([]string{"serve", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--data", t.TempDir()}, tc.args...)
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, args, func(k string) string { return tc.env[k] }, strings.NewReader(""), out, errOut)
			}()
			t.Cleanup(func() {
				cancel()
				select {
				case <-done:
				case <-time.After(60 * time.Second):
					t.Error("serve did not stop within 60s")
				}
			})
			out.find(t, reHTTP)
			if got := errOut.find(t, regexp.MustCompile(`embedded NATS started.*sync_always=(\S+ sync_interval=\S+)`)); got != tc.want {
				t.Errorf("the server reports sync_always=%s, want %s", got, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--nats-sync", "never"}, nil, `invalid value "never" for flag -nats-sync`},
		{[]string{"--nats-sync", "0s"}, nil, "want always or a positive duration"},
		{nil, map[string]string{"LETHE_NATS_SYNC": "-1s"}, "LETHE_NATS_SYNC: "},
	} {
		var stderr strings.Builder
		_, err := server.Parse(tc.args, func(k string) string { return tc.env[k] }, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
			t.Errorf("server.Parse(%v, %v) = %v (stderr %q), want an error with %q", tc.args, tc.env, err, stderr.String(), tc.want)
		}
	}
}
