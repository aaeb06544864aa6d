package validate

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/server"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
	"github.com/lethe-gdpr/lethe/pkg/token"
)

// exampleTokens are the development values lethe.yaml's comments give its tokens, by name,
// each checked against the hash the file configures.
func exampleTokens(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`Development token "(lethe_[^"]+)"`).FindAllStringSubmatch(string(raw), -1) {
		for _, tok := range f.Tokens {
			if tok.SHA256 == token.Hash(m[1]) {
				out[tok.Name] = m[1]
			}
		}
	}
	if len(out) != len(f.Tokens) {
		t.Fatalf("%s: %d tokens, %d with a development value in a comment that matches its hash", path, len(f.Tokens), len(out))
	}
	return out
}

// The compose topology as shipped, run here without Docker: nats-server with
// deploy/nats/nats.conf as its configuration, MongoDB (the test harness, standing in for the
// replica set), the four targets each started from its compose service's command and
// environment (the secrets and lethe.yaml where the compose mounts put them; only the
// addresses of NATS, MongoDB and the listener changed), and in front of them a proxy routing
// by envoy.yaml's route table. Through that one URL and the example tokens, events go in,
// the projection answers, a simulation plans, an erasure completes and the audit chain
// verifies — and no target printed a development token.
func TestComposeTopologyServesTheAPIThroughOneURL(t *testing.T) {
	mongoURI := testkit.MongoURI(t)
	p := composeProject(t)
	secretDir := t.TempDir()
	secret := func(name string) string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		path := filepath.Join(secretDir, name)
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(b)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	secretFiles := map[string]string{}
	for name := range p.Secrets {
		secretFiles["/run/secrets/"+name] = secret(name)
	}

	// NATS as the nats service runs it: its entrypoint sets LETHE_NATS_PASSWORD from the secret.
	pw, err := os.ReadFile(secretFiles["/run/secrets/nats_password"])
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LETHE_NATS_PASSWORD", strings.TrimSpace(string(pw)))
	opts, err := natsserver.ProcessConfigFile(p.Configs["nats_conf"].File)
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.StoreDir = t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(testkit.Wait(t)) {
		t.Fatal("nats-server with nats.conf did not start")
	}

	db := fmt.Sprintf("lethe_compose_%d", time.Now().UnixNano())
	upstreams := map[string]*url.URL{}
	for _, target := range server.Targets() {
		svc, ok := p.Services[target]
		if !ok || len(svc.Command) < 1 {
			t.Fatalf("docker-compose.yml runs no %s", target)
		}
		env := composeEnv(svc)
		env["LETHE_NATS_URL"] = ns.ClientURL()
		env["LETHE_MONGO_URI"] = mongoURI
		env["LETHE_MONGO_DATABASE"] = db
		env["LETHE_HTTP"] = "127.0.0.1:0"
		env["LETHE_DATA"] = t.TempDir() // the image's working directory
		delete(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
		for k, v := range env {
			if f, ok := secretFiles[v]; ok {
				env[k] = f
			}
			for _, cf := range svc.Configs {
				if v == cf.Target {
					env[k] = p.Configs[cf.Source].File
				}
			}
		}
		c, err := server.Parse(svc.Command[1:], func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		upstreams[target] = runTarget(t, target, c)
	}

	g := loadGateway(t)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cluster, err := g.route(t, r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		httputil.NewSingleHostReverseProxy(upstreams[g.clusters[cluster].host]).ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	tokens := exampleTokens(t, p.Configs["lethe_yaml"].File)
	ctx := context.Background()
	as := func(name string) *client.Client {
		c, err := client.New(proxy.URL, tokens[name])
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	var batch []event.Event
	for id, created := range map[string]time.Time{"c-old": time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC), "c-new": time.Now().UTC().AddDate(0, -2, 0)} {
		e, err := events.New("/ticketing", "inst-a", id, events.ContactCreated{Role: "individual", CreatedAt: created}, events.WithID("compose-"+id))
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, e)
	}
	body, err := events.MarshalBatch(batch)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := as("ticketing").Do(ctx, client.Request{Method: http.MethodPost, Path: "/v1/events", ContentType: "application/cloudevents-batch+json", Body: body})
	if err != nil {
		t.Fatalf("POST /v1/events with the ticketing token: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/events = %d, want 202", resp.StatusCode)
	}
	testkit.Eventually(t, "both contacts in the projection, through the gateway", func() error {
		for _, id := range []string{"c-old", "c-new"} {
			if _, err := as("operator").Get(ctx, client.ContactPath("inst-a", id), "application/json"); err != nil {
				return err
			}
		}
		return nil
	})
	if _, err := as("ticketing").Get(ctx, client.ContactPath("inst-a", "c-old"), "application/json"); !client.IsStatus(err, http.StatusForbidden) {
		t.Errorf("the ticketing token (ingest only) read a contact: %v, want 403", err)
	}

	mode := "simulation"
	run, err := as("operator").StartRun(ctx, "inst-a", api.RunStart{Mode: &mode})
	if err != nil {
		t.Fatalf("a simulation: %v", err)
	}
	if run.State != store.RunPlanned || run.Counts["delete"] != 1 || run.Counts["anonymise"] != 0 {
		t.Errorf("simulation %s %v, want planned with c-old alone to delete (a prospect inactive since 2019)", run.State, run.Counts)
	}
	req, err := as("dpo").RequestErasure(ctx, "inst-a", "c-old", "")
	if err != nil {
		t.Fatalf("erasure of c-old: %v", err)
	}
	// deploy/config/lethe.yaml declares the destination crm-a: Lethe's erasure is done, and the
	// request completes only once crm-a confirms its copy is gone too.
	done, err := as("dpo").WaitRequest(ctx, req.ID, 10*time.Second)
	if err != nil || done.Outcome != "deleted" || !slices.Equal(done.AwaitingConfirmation, []string{"crm-a"}) {
		t.Fatalf("erasure request %+v, %v: want deleted, awaiting crm-a's confirmation", done, err)
	}
	body, err = as("operator").Get(ctx, "/v1/institutions/inst-a/destinations", "application/json")
	if err != nil {
		t.Fatalf("destinations through the gateway: %v", err)
	}
	var dests api.DestinationList
	if err := json.Unmarshal(body, &dests); err != nil {
		t.Fatal(err)
	}
	if len(dests.Destinations) != 1 || dests.Destinations[0].Name != "crm-a" || dests.Destinations[0].Unconfirmed != 1 {
		t.Errorf("destinations through the gateway: %+v, want crm-a with the erasure unconfirmed", dests.Destinations)
	}
	report, err := as("operator").VerifyAudit(ctx)
	if err != nil || !report.Intact || report.Entries == 0 {
		t.Errorf("audit verify through the gateway: %+v, %v", report, err)
	}
}

// runTarget runs one target as its container would and returns its URL once it is ready;
// it fails if the target printed a development token.
func runTarget(t *testing.T, target string, c server.Config) *url.URL {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &testkit.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, c, out, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s stopped with %v", target, err)
		}
	})
	var u *url.URL
	testkit.Eventually(t, target+" ready", func() error {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("%s stopped: %v\n%s", target, err, out.String())
		default:
		}
		m := reListening.FindStringSubmatch(out.String())
		if m == nil {
			return fmt.Errorf("not listening yet")
		}
		u, _ = url.Parse(m[1])
		return client.Probe(ctx, m[1]+"/readyz")
	})
	if strings.Contains(out.String(), "LETHE_TOKEN=") {
		t.Errorf("%s printed a development token: %s", target, out.String())
	}
	return u
}
