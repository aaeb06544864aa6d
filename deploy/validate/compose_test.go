package validate

import (
	"context"
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"

	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/server"
)

// composeProject is docker-compose.yml as `docker compose` loads it: compose-go, the library
// of the Compose specification that the docker compose plugin itself is built on, with
// interpolation, the x-lethe anchor merged, validation against the schema and consistency
// checks (every secret, config, network and dependency a service names is declared).
func composeProject(t *testing.T) *types.Project {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(abs, "docker-compose.yml")},
		cli.WithWorkingDirectory(abs), cli.WithEnv(nil), cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker compose would refuse docker-compose.yml: %v", err)
	}
	return p
}

func composeEnv(s types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// secretTarget is where compose mounts a service's secret.
func secretTarget(s types.ServiceSecretConfig) string {
	switch {
	case s.Target == "":
		return "/run/secrets/" + s.Source
	case !strings.HasPrefix(s.Target, "/"):
		return "/run/secrets/" + s.Target
	}
	return s.Target
}

// Each target is one service running `lethe serve --target X` with an environment lethe
// serve accepts: only flags' twins, the secrets mounted where the *_FILE twins say, a
// lethe.yaml with tokens (so no container makes a development token of its own), and a
// healthcheck that runs a command of the binary against the port it listens on.
func TestComposeRunsEveryTargetAsTheBinaryExpects(t *testing.T) {
	p := composeProject(t)
	seen := map[string]bool{}
	for name, svc := range p.Services {
		if len(svc.Command) == 0 || svc.Command[0] != "serve" {
			continue
		}
		where := "docker-compose.yml " + name
		c, err := server.Parse(svc.Command[1:], func(string) string { return "" }, nilWriter{})
		if err != nil {
			t.Errorf("%s: lethe %v: %v", where, svc.Command, err)
			continue
		}
		if c.Target != name || !slices.Contains(server.Targets(), c.Target) || seen[c.Target] {
			t.Errorf("%s: --target %q; want each target once, as a service of its name (the gateway's upstream)", where, c.Target)
		}
		seen[c.Target] = true

		files := map[string]string{}
		for _, s := range svc.Secrets {
			decl, ok := p.Secrets[s.Source]
			if !ok {
				t.Errorf("%s: secret %s is not declared", where, s.Source)
				continue
			}
			if !strings.HasPrefix(decl.File, filepath.Join(mustAbs(t, root), "deploy", "secrets")+"/") {
				t.Errorf("%s: secret %s is %s, not a file make up generates under deploy/secrets/", where, s.Source, decl.File)
			}
			files[secretTarget(s)] = writeTemp(t, s.Source, base64.StdEncoding.EncodeToString(make([]byte, 32)))
		}
		for _, cf := range svc.Configs {
			decl := p.Configs[cf.Source]
			files[cf.Target] = decl.File
		}
		cfg, ok := checkServeEnv(t, where, svc.Command[1:], composeEnv(svc), files)
		if !ok {
			continue
		}
		hc := svc.HealthCheck
		if hc == nil || len(hc.Test) < 4 || hc.Test[0] != "CMD" || hc.Test[1] != "/lethe" {
			t.Errorf("%s: healthcheck %v; want [CMD /lethe probe --url …/readyz] (the image has no shell)", where, hc)
			continue
		}
		if !commandExists(t, hc.Test[2]) {
			t.Errorf("%s: the healthcheck runs lethe %s, which the binary does not have", where, hc.Test[2])
		}
		if url := hc.Test[len(hc.Test)-1]; url != "http://127.0.0.1:"+port(t, cfg.HTTP)+"/readyz" {
			t.Errorf("%s: the healthcheck asks %s, but the target listens on %s", where, url, cfg.HTTP)
		}
		for dep, cond := range map[string]string{"nats": types.ServiceConditionHealthy, "mongo-init": types.ServiceConditionCompletedSuccessfully} {
			if d, ok := svc.DependsOn[dep]; !ok || d.Condition != cond {
				t.Errorf("%s: depends_on %s %+v, want condition %s", where, dep, d, cond)
			}
		}
	}
	for _, target := range server.Targets() {
		if !seen[target] {
			t.Errorf("docker-compose.yml runs no %s", target)
		}
	}
}

// The rest of the topology: the gateway publishes the one URL and trusts what lethe.yaml
// trusts, NATS reads its password from the secret and says when it is healthy, MongoDB is a
// replica set with a healthcheck, the secrets are what make up generates, and the build
// context leaves out the data directory, the secrets, caches, binaries and history.
func TestComposeTopologyAroundTheTargets(t *testing.T) {
	p := composeProject(t)
	gw, ok := p.Services["gateway"]
	if !ok {
		t.Fatal("docker-compose.yml has no gateway")
	}
	if len(gw.Ports) != 1 || gw.Ports[0].Target != 8080 || gw.Ports[0].Published != "8080" {
		t.Errorf("gateway ports %+v, want 8080 published: the one URL", gw.Ports)
	}
	if len(gw.Configs) != 1 || p.Configs[gw.Configs[0].Source].File != filepath.Join(mustAbs(t, root), "deploy", "gateway", "envoy.yaml") {
		t.Errorf("the gateway does not mount deploy/gateway/envoy.yaml: %+v", gw.Configs)
	}
	lethe, _ := config.Load(filepath.Join(root, "deploy", "config", "lethe.yaml"))
	for _, n := range gw.Networks {
		if n == nil || n.Ipv4Address == "" {
			t.Error("the gateway has no fixed address, so trusted_proxies cannot name it")
			continue
		}
		addr := netip.MustParseAddr(n.Ipv4Address)
		if !slices.ContainsFunc(lethe.TrustedProxyPrefixes(), func(p netip.Prefix) bool { return p.Contains(addr) }) {
			t.Errorf("the gateway's address %s is not in lethe.yaml's trusted_proxies %v", addr, lethe.TrustedProxies)
		}
	}
	for _, target := range server.Targets() {
		if len(p.Services[target].Ports) != 0 {
			t.Errorf("%s publishes %+v: only the gateway is the API's URL", target, p.Services[target].Ports)
		}
		if d, ok := gw.DependsOn[target]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("the gateway does not wait for %s to be healthy", target)
		}
	}

	nats := p.Services["nats"]
	if nats.HealthCheck == nil || !strings.Contains(strings.Join(nats.HealthCheck.Test, " "), "/healthz") {
		t.Errorf("nats healthcheck %+v, want its /healthz", nats.HealthCheck)
	}
	if !slices.ContainsFunc(nats.Secrets, func(s types.ServiceSecretConfig) bool { return secretTarget(s) == "/run/secrets/nats_password" }) ||
		!strings.Contains(strings.Join(nats.Entrypoint, " "), "/run/secrets/nats_password") {
		t.Errorf("nats does not read the services' password from the secret: %v", nats.Entrypoint)
	}
	if len(nats.Configs) != 1 || p.Configs[nats.Configs[0].Source].File != filepath.Join(mustAbs(t, root), "deploy", "nats", "nats.conf") {
		t.Errorf("nats does not run deploy/nats/nats.conf (checked by pkg/bus's TestDeployNATSConfigGrantsWhatServerUsersGrants)")
	}
	mongo := p.Services["mongo"]
	if !slices.Contains(mongo.Command, "--replSet") || mongo.HealthCheck == nil {
		t.Errorf("mongo %v, healthcheck %v: want a replica set with a healthcheck", mongo.Command, mongo.HealthCheck)
	}
	if d := p.Services["mongo-init"].DependsOn["mongo"]; d.Condition != types.ServiceConditionHealthy {
		t.Errorf("mongo-init does not wait for mongo to be healthy")
	}
	if init := strings.Join(p.Services["mongo-init"].Entrypoint, " "); !strings.Contains(init, "rs.initiate") || !strings.Contains(init, "isWritablePrimary") {
		t.Errorf("mongo-init %q: want it to initiate the replica set and wait for a primary", init)
	}

	// compose-go does not look for the files; docker compose would fail on a missing config
	// and bind-mount an empty directory for a missing volume source.
	for name, cf := range p.Configs {
		if _, err := os.Stat(cf.File); err != nil {
			t.Errorf("config %s: %v", name, err)
		}
	}
	for name, svc := range p.Services {
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s: %v", name, v.Source, err)
				}
			}
		}
	}

	// Prometheus scrapes targets that exist, on the port they listen on.
	if prom, ok := p.Configs["prometheus_yml"]; ok {
		var scrape struct {
			ScrapeConfigs []struct {
				MetricsPath   string `json:"metrics_path"`
				StaticConfigs []struct {
					Targets []string `json:"targets"`
				} `json:"static_configs"`
			} `json:"scrape_configs"`
		}
		b, err := os.ReadFile(prom.File)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &scrape); err != nil {
			t.Fatalf("%s: %v", prom.File, err)
		}
		for _, sc := range scrape.ScrapeConfigs {
			for _, st := range sc.StaticConfigs {
				for _, hp := range st.Targets {
					host, _, _ := strings.Cut(hp, ":")
					svc, ok := p.Services[host]
					if !ok || port(t, composeEnv(svc)["LETHE_HTTP"]) != port(t, hp) || sc.MetricsPath != "/metrics" {
						t.Errorf("Prometheus scrapes %s%s, which is no target's /metrics", hp, sc.MetricsPath)
					}
				}
			}
		}
	}

	gen, err := os.ReadFile(filepath.Join(root, "deploy", "docker", "secrets.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range p.Secrets {
		if !strings.Contains(string(gen), name) || filepath.Base(s.File) != name {
			t.Errorf("secret %s (%s) is not one deploy/docker/secrets.sh generates", name, s.File)
		}
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lethe-data/", "deploy/secrets/", ".cache/", "bin/", ".git"} {
		if !strings.Contains(string(ignore), want) {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type nilWriter struct{}

func (nilWriter) Write(p []byte) (int, error) { return len(p), nil }
