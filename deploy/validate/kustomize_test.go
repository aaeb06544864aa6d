package validate

import (
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/lethe-gdpr/lethe/pkg/server"
)

const overlay = "deploy/k8s/overlays/production"

// cluster is what `kubectl apply -k deploy/k8s/overlays/production` would create, decoded
// into the Kubernetes API's own types, strictly: a misspelt field is an error, as the API
// server's strict field validation would make it.
type cluster struct {
	deployments  map[string]appsv1.Deployment
	statefulSets map[string]appsv1.StatefulSet
	jobs         map[string]batchv1.Job
	services     map[string]corev1.Service
	configMaps   map[string]corev1.ConfigMap
	secrets      map[string]corev1.Secret
	pdbs         []policyv1.PodDisruptionBudget
	ingresses    []networkingv1.Ingress
	policies     []networkingv1.NetworkPolicy
}

// render builds the overlay with kustomize's own library (krusty, what `kubectl apply -k`
// and the kustomize binary run), on an in-memory copy of deploy/ with the two secret files
// an operator creates before the first apply.
func render(t *testing.T) cluster {
	t.Helper()
	fs := filesys.MakeFsInMemory()
	for _, dir := range []string{"deploy/k8s", "deploy/gateway", "deploy/config"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return fs.WriteFile(filepath.Join("/repo", rel), b)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"master_key", "nats_password", "receipt_key"} {
		if err := fs.WriteFile(filepath.Join("/repo", overlay, "secrets", name), []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n")); err != nil {
			t.Fatal(err)
		}
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, filepath.Join("/repo", overlay))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", overlay, err)
	}
	c := cluster{deployments: map[string]appsv1.Deployment{}, statefulSets: map[string]appsv1.StatefulSet{}, jobs: map[string]batchv1.Job{},
		services: map[string]corev1.Service{}, configMaps: map[string]corev1.ConfigMap{}, secrets: map[string]corev1.Secret{}}
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		where := r.GetKind() + "/" + r.GetName()
		if ns := r.GetNamespace(); ns != "lethe" && r.GetKind() != "Namespace" {
			t.Errorf("%s is in namespace %q, not lethe", where, ns)
		}
		decode := func(into any) {
			if err := yaml.UnmarshalStrict(y, into); err != nil {
				t.Errorf("%s: %v", where, err)
			}
		}
		switch r.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			decode(&d)
			c.deployments[d.Name] = d
		case "StatefulSet":
			var s appsv1.StatefulSet
			decode(&s)
			c.statefulSets[s.Name] = s
		case "Job":
			var j batchv1.Job
			decode(&j)
			c.jobs[j.Name] = j
		case "Service":
			var s corev1.Service
			decode(&s)
			c.services[s.Name] = s
		case "ConfigMap":
			var cm corev1.ConfigMap
			decode(&cm)
			c.configMaps[cm.Name] = cm
		case "Secret":
			var s corev1.Secret
			decode(&s)
			c.secrets[s.Name] = s
		case "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			decode(&p)
			c.pdbs = append(c.pdbs, p)
		case "Ingress":
			var i networkingv1.Ingress
			decode(&i)
			c.ingresses = append(c.ingresses, i)
		case "NetworkPolicy":
			var p networkingv1.NetworkPolicy
			decode(&p)
			c.policies = append(c.policies, p)
		case "Namespace":
		default:
			t.Errorf("%s: a kind this test does not check", where)
		}
	}
	return c
}

// selects reports whether a label selector selects a pod with labels.
func selects(t *testing.T, sel *metav1.LabelSelector, labels map[string]string) bool {
	t.Helper()
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return s.Matches(labelSet(labels))
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool              { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string            { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) { v, ok := l[k]; return v, ok }

// containerPort resolves a probe's or a Service's port (a number or a port's name).
func containerPort(c corev1.Container, p intstr.IntOrString) string {
	if p.Type == intstr.Int {
		return strconv.Itoa(int(p.IntVal))
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return strconv.Itoa(int(cp.ContainerPort))
		}
	}
	return ""
}

// Each target is one Deployment running `lethe serve --target X` with an environment lethe
// serve accepts (only flags' twins; the secrets and lethe.yaml mounted where the twins say;
// tokens, so no pod makes a development token), probed on /healthz and /readyz on the port
// it listens on, with resources, a PodDisruptionBudget and a Service of its name on that port
// (the gateway's upstream).
func TestKustomizationRunsEveryTargetAsTheBinaryExpects(t *testing.T) {
	c := render(t)
	seen := map[string]bool{}
	for name, d := range c.deployments {
		if len(d.Spec.Template.Spec.Containers) != 1 {
			continue
		}
		ctr := d.Spec.Template.Spec.Containers[0]
		if len(ctr.Args) == 0 || ctr.Args[0] != "serve" {
			continue
		}
		where := "Deployment " + name
		// The container's own plain values take part: a console target needs its --console-api.
		plain := map[string]string{}
		for _, e := range ctr.Env {
			if e.ValueFrom == nil {
				plain[e.Name] = e.Value
			}
		}
		parsed, err := server.Parse(ctr.Args[1:], func(k string) string { return plain[k] }, nilWriter{})
		if err != nil || parsed.Target != name || seen[name] || !slices.Contains(server.Targets(), name) {
			t.Errorf("%s: lethe %v (%v); want each target once, as a Deployment of its name", where, ctr.Args, err)
			continue
		}
		seen[name] = true
		if !strings.Contains(ctr.Image, ":") || strings.HasSuffix(ctr.Image, ":latest") {
			t.Errorf("%s: image %q is not pinned", where, ctr.Image)
		}

		env := map[string]string{}
		for _, ef := range ctr.EnvFrom {
			if ef.ConfigMapRef == nil {
				t.Errorf("%s: envFrom %+v is not a ConfigMap", where, ef)
				continue
			}
			cm, ok := c.configMaps[ef.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: envFrom %+v names no ConfigMap of the kustomization", where, ef)
				continue
			}
			for k, v := range cm.Data {
				env[k] = v
			}
		}
		for _, e := range ctr.Env {
			env[e.Name] = e.Value
		}
		files := map[string]string{}
		for _, vm := range ctr.VolumeMounts {
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name != vm.Name {
					continue
				}
				switch {
				case v.Secret != nil:
					s, ok := c.secrets[v.Secret.SecretName]
					if !ok {
						t.Errorf("%s: volume %s: Secret %s is not in the kustomization", where, v.Name, v.Secret.SecretName)
					}
					for k, b := range s.Data {
						files[vm.MountPath+"/"+k] = writeTemp(t, k, string(b))
					}
				case v.ConfigMap != nil:
					cm, ok := c.configMaps[v.ConfigMap.Name]
					if !ok {
						t.Errorf("%s: volume %s: ConfigMap %s is not in the kustomization", where, v.Name, v.ConfigMap.Name)
					}
					for k, s := range cm.Data {
						files[vm.MountPath+"/"+k] = writeTemp(t, k, s)
					}
				}
			}
		}
		cfg, ok := checkServeEnv(t, where, ctr.Args[1:], env, files)
		if !ok {
			continue
		}
		listen := port(t, cfg.HTTP)
		for probe, want := range map[*corev1.Probe]string{ctr.LivenessProbe: "/healthz", ctr.ReadinessProbe: "/readyz"} {
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || containerPort(ctr, probe.HTTPGet.Port) != listen {
				t.Errorf("%s: a probe is %+v; want GET %s on %s", where, probe, want, listen)
			}
		}
		if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: resources %+v; want CPU and memory requests and a memory limit", where, ctr.Resources)
		}
		pods := d.Spec.Template.Labels
		if !selects(t, d.Spec.Selector, pods) {
			t.Errorf("%s: its selector does not select its pods", where)
		}
		if !slices.ContainsFunc(c.pdbs, func(p policyv1.PodDisruptionBudget) bool { return selects(t, p.Spec.Selector, pods) }) {
			t.Errorf("%s: no PodDisruptionBudget covers its pods", where)
		}
		svc, ok := c.services[name]
		if !ok || !selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, pods) ||
			!slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
				return strconv.Itoa(int(p.Port)) == listen && containerPort(ctr, p.TargetPort) == listen
			}) {
			t.Errorf("%s: no Service %s selecting its pods on port %s (the gateway's upstream %s:%s)", where, name, listen, name, listen)
		}
	}
	for _, target := range server.Targets() {
		if !seen[target] {
			t.Errorf("the kustomization runs no %s", target)
		}
	}
}

// The gateway runs the very envoy.yaml that TestGatewaySendsEveryRouteToATargetThatServesIt
// checks; the Ingress sends it every route of the API and the console.
func TestKustomizationGatewayAndIngress(t *testing.T) {
	c := render(t)
	want, err := os.ReadFile(filepath.Join(root, "deploy", "gateway", "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	gw, ok := c.deployments["gateway"]
	if !ok {
		t.Fatal("no gateway Deployment")
	}
	mounted := false
	for _, v := range gw.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil && c.configMaps[v.ConfigMap.Name].Data["envoy.yaml"] == string(want) {
			mounted = true
		}
	}
	if !mounted {
		t.Error("the gateway Deployment does not mount deploy/gateway/envoy.yaml")
	}
	if !slices.ContainsFunc(c.pdbs, func(p policyv1.PodDisruptionBudget) bool { return selects(t, p.Spec.Selector, gw.Spec.Template.Labels) }) {
		t.Error("no PodDisruptionBudget covers the gateway")
	}
	if len(c.ingresses) != 1 {
		t.Fatalf("%d Ingresses, want one", len(c.ingresses))
	}
	ing := c.ingresses[0]
	for _, r := range append(openAPIRoutes(t), uiRoute) {
		if r.path == "/healthz" || r.path == "/readyz" || r.path == "/metrics" {
			continue // each pod's own, probed and scraped inside the cluster
		}
		found := false
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if *p.PathType != networkingv1.PathTypePrefix || !(r.path == p.Path || strings.HasPrefix(r.path, strings.TrimSuffix(p.Path, "/")+"/")) {
					continue
				}
				found = true
				svc, ok := c.services[p.Backend.Service.Name]
				if !ok || p.Backend.Service.Name != "gateway" || !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == p.Backend.Service.Port.Name }) {
					t.Errorf("Ingress path %s goes to %+v, not a port of the gateway's Service", p.Path, p.Backend.Service)
				}
			}
		}
		if !found {
			t.Errorf("%s: no Ingress path reaches it", r)
		}
	}
}

// natsPods are the pods of the NATS Helm release "nats", by its chart's selector labels.
var natsPods = map[string]string{"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats", "app.kubernetes.io/component": "nats"}

// Only the services reach NATS and MongoDB (and MongoDB's members and its init job reach
// MongoDB); only the gateway reaches the services; everything else is denied.
func TestNetworkPoliciesLetOnlyTheServicesReachTheBusAndTheStore(t *testing.T) {
	c := render(t)
	workloads := map[string]map[string]string{"nats": natsPods}
	for n, d := range c.deployments {
		workloads[n] = d.Spec.Template.Labels
	}
	for n, s := range c.statefulSets {
		workloads[n] = s.Spec.Template.Labels
	}
	for n, j := range c.jobs {
		workloads[n] = j.Spec.Template.Labels
	}
	denyAll := false
	for _, p := range c.policies {
		if len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0 && len(p.Spec.Ingress) == 0 && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			denyAll = true
		}
	}
	if !denyAll {
		t.Error("no default-deny NetworkPolicy: a pod no policy selects is open to all")
	}
	// reaching lists the workloads that may open port on the pods of target.
	reaching := func(target, port string) []string {
		var out []string
		for _, p := range c.policies {
			if !selects(t, &p.Spec.PodSelector, workloads[target]) {
				continue
			}
			for _, rule := range p.Spec.Ingress {
				if len(rule.Ports) > 0 && !slices.ContainsFunc(rule.Ports, func(np networkingv1.NetworkPolicyPort) bool { return np.Port != nil && np.Port.String() == port }) {
					continue
				}
				for _, peer := range rule.From {
					if peer.IPBlock != nil || peer.NamespaceSelector != nil {
						out = append(out, "anything outside the namespace")
						continue
					}
					for n, labels := range workloads {
						if selects(t, peer.PodSelector, labels) && !slices.Contains(out, n) {
							out = append(out, n)
						}
					}
				}
			}
		}
		slices.Sort(out)
		return out
	}
	targets := slices.Sorted(slices.Values(server.Targets()))
	for _, tc := range []struct {
		target, port string
		want         []string
	}{
		{"nats", "4222", targets},
		{"mongo", "27017", slices.Sorted(slices.Values(append(slices.Clone(targets), "mongo", "mongo-init")))},
	} {
		if got := reaching(tc.target, tc.port); !slices.Equal(got, tc.want) {
			t.Errorf("%s:%s is reachable from %v, want %v", tc.target, tc.port, got, tc.want)
		}
	}
	for _, target := range targets {
		if got := reaching(target, "8080"); !slices.Equal(got, []string{"gateway"}) {
			t.Errorf("%s:8080 is reachable from %v, want the gateway only", target, got)
		}
	}
}

// MongoDB is a replica set whose members are the ones the services' URI names, and the
// init job initiates that same set.
func TestKustomizationMongoReplicaSet(t *testing.T) {
	c := render(t)
	m, ok := c.statefulSets["mongo"]
	if !ok || m.Spec.Replicas == nil || *m.Spec.Replicas != 3 {
		t.Fatalf("mongo StatefulSet %+v: want three members", m.Spec.Replicas)
	}
	if img := m.Spec.Template.Spec.Containers[0].Image; img != "mongo:8.0" {
		t.Errorf("mongo image %q, want mongo:8.0 (named in the README)", img)
	}
	env := c.configMaps[c.deployments["recency"].Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name].Data
	u, err := url.Parse(env["LETHE_MONGO_URI"])
	if err != nil {
		t.Fatal(err)
	}
	set := u.Query().Get("replicaSet")
	init := strings.Join(c.jobs["mongo-init"].Spec.Template.Spec.Containers[0].Command, " ")
	if !strings.Contains(init, `_id: "`+set+`"`) {
		t.Errorf("mongo-init does not initiate replica set %q of LETHE_MONGO_URI", set)
	}
	hosts := strings.Split(u.Host, ",")
	if len(hosts) != 3 {
		t.Errorf("LETHE_MONGO_URI names %v, want the three members", hosts)
	}
	for i, h := range hosts {
		want := "mongo-" + strconv.Itoa(i) + "." + m.Spec.ServiceName + ":27017"
		if h != want || !strings.Contains(init, `"`+want+`"`) {
			t.Errorf("member %d is %s in LETHE_MONGO_URI; want %s there and in mongo-init", i, h, want)
		}
	}
	if svc := c.services[m.Spec.ServiceName]; svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s is not headless: mongo-N.%s would not resolve", m.Spec.ServiceName, m.Spec.ServiceName)
	}
}
