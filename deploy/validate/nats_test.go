package validate

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"sigs.k8s.io/yaml"
)

// yamlMap reads a YAML file as nested maps.
func yamlMap(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// unknownKeys lists the keys of ours that the chart's values do not have. Under a key the
// chart leaves empty ({}: merge, env, resources), anything goes.
func unknownKeys(ours, chart map[string]any, at string) []string {
	var out []string
	for k, v := range ours {
		cv, ok := chart[k]
		if !ok {
			out = append(out, at+k)
			continue
		}
		om, oIsMap := v.(map[string]any)
		cm, cIsMap := cv.(map[string]any)
		if oIsMap && cIsMap && len(cm) > 0 {
			out = append(out, unknownKeys(om, cm, at+k+".")...)
		}
	}
	return out
}

// natsConfUsers loads a NATS configuration with nats-server's own parser.
func natsConfUsers(t *testing.T, path string) map[string]*natsserver.User {
	t.Helper()
	opts, err := natsserver.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server refuses %s: %v", path, err)
	}
	users := map[string]*natsserver.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	return users
}

// The NATS Helm values (deploy/k8s/nats/values.yaml) are values the official chart has
// (checked against its values.yaml, pinned in testdata/), run three servers with JetStream,
// take the services' password from the overlay's Secret, and grant each user exactly what
// deploy/nats/nats.conf grants — which pkg/bus's TestDeployNATSConfigGrantsWhatServerUsersGrants
// checks against what lethe serve's embedded server grants. The chart's rendering of
// config.merge is reproduced as its nats.formatConfig does it (JSON, "<< x >>" unquoted).
func TestNATSChartValues(t *testing.T) {
	values := yamlMap(t, filepath.Join(root, "deploy", "k8s", "nats", "values.yaml"))
	chart := yamlMap(t, filepath.Join("testdata", "nats-chart-2.14.2-values.yaml"))
	if bad := unknownKeys(values, chart, ""); len(bad) > 0 {
		t.Errorf("values the nats chart 2.14.2 does not have: %v", bad)
	}
	var v struct {
		Config struct {
			Cluster struct {
				Enabled  bool `json:"enabled"`
				Replicas int  `json:"replicas"`
			} `json:"cluster"`
			JetStream struct {
				Enabled bool `json:"enabled"`
			} `json:"jetstream"`
			Merge map[string]any `json:"merge"`
		} `json:"config"`
		Container struct {
			Env map[string]struct {
				ValueFrom struct {
					SecretKeyRef struct{ Name, Key string } `json:"secretKeyRef"`
				} `json:"valueFrom"`
			} `json:"env"`
		} `json:"container"`
	}
	b, _ := json.Marshal(values)
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if !v.Config.Cluster.Enabled || v.Config.Cluster.Replicas != 3 || !v.Config.JetStream.Enabled {
		t.Errorf("NATS cluster %+v, JetStream %v: want three servers with JetStream", v.Config.Cluster, v.Config.JetStream.Enabled)
	}

	// The Secret the password comes from is the overlay's, by its unhashed name.
	ref := v.Container.Env["LETHE_NATS_PASSWORD"].ValueFrom.SecretKeyRef
	c := render(t)
	if s, ok := c.secrets[ref.Name]; !ok || len(s.Data[ref.Key]) == 0 {
		t.Errorf("LETHE_NATS_PASSWORD comes from Secret %s key %s, which the overlay does not make", ref.Name, ref.Key)
	}
	// The services connect to the release's Service on the chart's client port.
	env := c.configMaps[c.deployments["ingest"].Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name].Data
	if u, err := url.Parse(env["LETHE_NATS_URL"]); err != nil || u.Host != "nats:4222" {
		t.Errorf("LETHE_NATS_URL %q: want nats://nats:4222, the Helm release nats's Service", env["LETHE_NATS_URL"])
	}

	var conf bytes.Buffer
	enc := json.NewEncoder(&conf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v.Config.Merge); err != nil {
		t.Fatal(err)
	}
	rendered := regexp.MustCompile(`"<<\s+(.*?)\s+>>"`).ReplaceAllString(conf.String(), "$1")
	t.Setenv("LETHE_NATS_PASSWORD", "the-services-password")
	chartUsers := natsConfUsers(t, writeTemp(t, "nats.conf", strings.TrimSpace(rendered)))
	composeUsers := natsConfUsers(t, filepath.Join(root, "deploy", "nats", "nats.conf"))
	if len(chartUsers) != len(composeUsers) {
		t.Errorf("the chart's values have %d users, nats.conf %d", len(chartUsers), len(composeUsers))
	}
	for name, want := range composeUsers {
		got, ok := chartUsers[name]
		if !ok {
			t.Errorf("user %s of nats.conf is not in the chart's values", name)
			continue
		}
		if got.Password != want.Password || !reflect.DeepEqual(got.Permissions, want.Permissions) {
			t.Errorf("user %s: the chart's values grant\n  %+v\nnats.conf grants\n  %+v", name, got.Permissions, want.Permissions)
		}
	}
	if chartUsers["lethe"] == nil || chartUsers["lethe"].Password != "the-services-password" {
		t.Error("the services' password is not taken from $LETHE_NATS_PASSWORD")
	}
}
