package validate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/server"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// root is the repository, seen from this module's directory.
var root = filepath.Join("..", "..")

// route is one operation of the OpenAPI document, with a concrete path to send it to.
type route struct {
	method, pattern, path string
}

func (r route) String() string { return r.method + " " + r.pattern }

// samples stand for the path parameters of the OpenAPI document.
var samples = strings.NewReplacer("{inst}", "inst-a", "{id}", "c-1", "{run}", "r-1")

// openAPIRoutes is every operation of pkg/httpapi/openapi.json, the document the server
// serves at /v1/openapi.json, plus the console's /ui/.
func openAPIRoutes(t *testing.T) []route {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "pkg", "httpapi", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var out []route
	for p, ops := range doc.Paths {
		for m := range ops {
			if slices.Contains([]string{"get", "post", "put", "patch", "delete"}, m) {
				out = append(out, route{strings.ToUpper(m), p, samples.Replace(p)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	if len(out) < 10 {
		t.Fatalf("the OpenAPI document has %d operations: not the API", len(out))
	}
	return out
}

// uiRoute is the console, served on the API's listener (issue 16) and not in the OpenAPI
// document.
var uiRoute = route{http.MethodGet, "/ui/", "/ui/"}

var (
	registeredOnce sync.Once
	registered     map[string]map[string]bool // target → route → served
	registeredErr  error
)

// servedBy runs `lethe serve --target X` for every target, in this process, on an embedded
// bus and store, and asks each one every route without a token: a route the target registers
// answers (401 for the API, 200 or 503 for the probes), one it does not is the mux's 404. So
// what a target serves is what the binary does, not a list kept beside it.
func servedBy(t *testing.T) map[string]map[string]bool {
	t.Helper()
	registeredOnce.Do(func() {
		// One after the other, in the test's goroutine: Eventually may stop the test.
		routes := append(openAPIRoutes(t), uiRoute)
		registered = map[string]map[string]bool{}
		for _, target := range server.Targets() {
			got, err := probeTarget(t, target, routes)
			if err != nil {
				registeredErr = err
				return
			}
			registered[target] = got
		}
	})
	if registeredErr != nil {
		t.Fatal(registeredErr)
	}
	return registered
}

var reListening = regexp.MustCompile(`lethe listening on (http://\S+)`)

func probeTarget(t *testing.T, target string, routes []route) (map[string]bool, error) {
	dir, err := os.MkdirTemp("", "lethe-validate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	args := []string{"--target", target, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--data", dir}
	if target == "console" {
		// Alone, the console calls the API elsewhere (the gateway); only its routes are asked here.
		args = append(args, "--console-api", "http://127.0.0.1:1")
	}
	c, err := server.Parse(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &testkit.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, c, out, io.Discard) }()
	defer func() { cancel(); <-done }()
	var base string
	testkit.Eventually(t, "lethe serve --target "+target+" listening", func() error {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("serve stopped: %v", err)
		default:
		}
		m := reListening.FindStringSubmatch(out.String())
		if m == nil {
			return fmt.Errorf("not yet: %q", out.String())
		}
		base = m[1]
		return nil
	})
	got := map[string]bool{}
	for _, r := range routes {
		req, _ := http.NewRequest(r.method, base+r.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", r, target, err)
		}
		resp.Body.Close()
		got[r.String()] = resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed
	}
	return got, nil
}

// targetsServing names the targets that register r.
func targetsServing(t *testing.T, r route) []string {
	var out []string
	for _, target := range server.Targets() {
		if servedBy(t)[target][r.String()] {
			out = append(out, target)
		}
	}
	return out
}

// Every route of the document is registered by some target, or the gateway has nowhere to
// send it and the check of the routes below proves nothing.
func TestEveryRouteHasATarget(t *testing.T) {
	for _, r := range openAPIRoutes(t) {
		if len(targetsServing(t, r)) == 0 {
			t.Errorf("%s: no target of lethe serve registers it", r)
		}
	}
	if got := targetsServing(t, route{http.MethodPost, "/v1/events", "/v1/events"}); !slices.Equal(got, []string{"ingest"}) {
		t.Errorf("POST /v1/events is served by %v, want ingest alone: the probe of the targets is wrong", got)
	}
}

// TestMain removes the binary lethe built, once every test is done with it.
func TestMain(m *testing.M) {
	code := m.Run()
	if binaryPath != "" {
		_ = os.RemoveAll(filepath.Dir(binaryPath))
	}
	os.Exit(code)
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// lethe builds the binary the image ships (services/lethe) once, for its usage: what
// commands a healthcheck may run.
func lethe(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lethe-validate-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "lethe")
		cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", binaryPath, "./services/lethe")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build ./services/lethe: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// commandExists reports whether `lethe <name>` is a command of the built binary: its usage
// names it.
func commandExists(t *testing.T, name string) bool {
	out, _ := exec.Command(lethe(t), "help").Output()
	return regexp.MustCompile(`(?m)^\s+lethe ` + regexp.QuoteMeta(name) + `\b`).Match(out)
}

// checkServeEnv checks a target's environment as lethe serve reads it: every LETHE_ variable
// is a flag's twin, and lethe serve's own parser accepts the whole (args and env), with each
// *_FILE path replaced by a file that exists when files says the path is mounted. It returns
// the parsed configuration.
func checkServeEnv(t *testing.T, where string, args []string, env map[string]string, files map[string]string) (server.Config, bool) {
	t.Helper()
	twins := server.EnvTwins()
	ok := true
	for k := range env {
		if strings.HasPrefix(k, "LETHE_") && !slices.Contains(twins, k) {
			t.Errorf("%s: %s is not the environment twin of any flag of lethe serve", where, k)
			ok = false
		}
		if !strings.HasPrefix(k, "LETHE_") && !strings.HasPrefix(k, "OTEL_") {
			t.Errorf("%s: %s is a variable lethe serve does not read", where, k)
			ok = false
		}
	}
	local := map[string]string{}
	for k, v := range env {
		local[k] = v
		if strings.HasSuffix(k, "_FILE") || k == "LETHE_CONFIG" {
			f, mounted := files[v]
			if !mounted {
				t.Errorf("%s: %s=%s, which nothing mounts", where, k, v)
				ok = false
				continue
			}
			local[k] = f
		}
	}
	c, err := server.Parse(args, func(k string) string { return local[k] }, io.Discard)
	if err != nil {
		t.Errorf("%s: lethe serve refuses %v with its environment: %v", where, args, err)
		return c, false
	}
	if c.NATSURL == "" || c.MongoURI == "" || c.MasterKey == "" {
		t.Errorf("%s: NATS %q, MongoDB %q, master key set %v: a target of a shared topology needs all three", where, c.NATSURL, c.MongoURI, c.MasterKey != "")
		ok = false
	}
	if c.ConfigPath == "" {
		t.Errorf("%s: no lethe.yaml: each process would invent its own development token", where)
		return c, false
	}
	f, err := config.Load(c.ConfigPath)
	if err != nil {
		t.Errorf("%s: its lethe.yaml: %v", where, err)
		return c, false
	}
	if len(f.Tokens) == 0 {
		t.Errorf("%s: its lethe.yaml declares no tokens: each process would invent its own development token", where)
		ok = false
	}
	if c.ReceiptKey == "" && f.Receipts.SigningKey == "" {
		t.Errorf("%s: no receipt key (--receipt-key-file or lethe.yaml receipts.signing_key): each replica would sign erasure receipts with a key of its own", where)
		ok = false
	}
	return c, ok
}

// port is the port of a host:port listen address.
func port(t *testing.T, hostport string) string {
	t.Helper()
	i := strings.LastIndex(hostport, ":")
	if i < 0 {
		t.Fatalf("%q has no port", hostport)
	}
	return hostport[i+1:]
}

// writeTemp writes content to a new file and returns its path.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
