package server

import (
	"strings"
	"testing"
)

// --nats-replicas (LETHE_NATS_REPLICAS) sets the streams' replicas exactly; left out, serve
// chooses 1 on the embedded server or a single one and 3 on a cluster, without taking
// replicas away from existing streams; a count the bus cannot have is refused at once.
func TestNATSReplicasFlagChoosesAndRefuses(t *testing.T) {
	t.Parallel()
	creds := []string{"--nats-user", "lethe", "--nats-password", "p"}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		cluster string
		want    int
		exact   bool
	}{
		{"embedded, left out", nil, nil, "", 1, false},
		{"one external server, left out", append([]string{"--nats-url", "nats://n:4222"}, creds...), nil, "", 1, false},
		{"a cluster, left out", append([]string{"--nats-url", "nats://n:4222"}, creds...), nil, "c1", 3, false},
		{"a cluster, flag", append([]string{"--nats-url", "nats://n:4222", "--nats-replicas", "5"}, creds...), nil, "c1", 5, true},
		{"a cluster, environment twin", append([]string{"--nats-url", "nats://n:4222"}, creds...), map[string]string{"LETHE_NATS_REPLICAS": "1"}, "c1", 1, true},
		{"embedded, explicit 1", []string{"--nats-replicas", "1"}, nil, "", 1, true},
	} {
		c, err := Parse(tc.args, func(k string) string { return tc.env[k] }, &strings.Builder{})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if n, exact := streamReplicas(c, tc.cluster); n != tc.want || exact != tc.exact {
			t.Errorf("%s: replicas %d exact %v, want %d %v", tc.name, n, exact, tc.want, tc.exact)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nats-replicas", "3"}, "the embedded NATS server is a single node"},
		{[]string{"--nats-replicas", "-1"}, "--nats-replicas -1"},
	} {
		if _, err := Parse(tc.args, func(string) string { return "" }, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%v) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
