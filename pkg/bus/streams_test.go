package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
)

// replicasAndMessages is every stream's replica count and message count.
func replicasAndMessages(t *testing.T, js jetstream.JetStream) map[string][2]int {
	t.Helper()
	out := map[string][2]int{}
	for _, sc := range bus.StreamConfigs(bus.StreamsConfig{}) {
		s, err := js.Stream(t.Context(), sc.Name)
		if err != nil {
			t.Fatalf("stream %s: %v", sc.Name, err)
		}
		info, err := s.Info(t.Context())
		if err != nil {
			t.Fatalf("stream %s: %v", sc.Name, err)
		}
		out[sc.Name] = [2]int{info.Config.Replicas, int(info.State.Msgs)}
	}
	return out
}

// On a cluster, every service's start re-applies the streams' configuration: one started
// without a replica count (lethe serve before --nats-replicas: R1 at every start) must not
// scale R3 streams down to one copy, while an operator's explicit count is applied, up or
// down, and no message is lost either way (issue 15).
func TestEnsureStreamsOnAClusterKeepsReplicasUnlessToldAndNeverData(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a three-node cluster")
	}
	const password = "service-password"
	c := bustest.RunCluster(t, 3, password)
	nc, err := nats.Connect(c.URL(), nats.UserInfo(bus.ServiceUser, password), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js := bustest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	if err := bus.EnsureStreams(ctx, js, bus.StreamsConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	for _, sc := range bus.StreamConfigs(bus.StreamsConfig{}) {
		c.StreamLeader(js, sc.Name) // a new R3 stream answers once it has elected a leader
	}
	subjects := []string{bus.InboxSubject(testInst), bus.ActivitySubject(testInst, "lethe.contact.created.v1"),
		bus.CommandSubject(testInst, "erase"), bus.ResultSubject(testInst, "deleted"), bus.DLQSubject(bus.StreamActivity),
		bus.ErasureSubject(testInst)}
	for i, subj := range subjects {
		for j := range 3 {
			if _, err := js.Publish(ctx, subj, []byte("x"), jetstream.WithMsgID(fmt.Sprintf("m-%d-%d", i, j))); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := func(replicas int) map[string][2]int {
		m := map[string][2]int{}
		for _, sc := range bus.StreamConfigs(bus.StreamsConfig{}) {
			m[sc.Name] = [2]int{replicas, 3}
		}
		return m
	}
	for _, step := range []struct {
		name string
		cfg  bus.StreamsConfig
		want int
	}{
		{"a start without a count keeps R3", bus.StreamsConfig{}, 3},
		{"a start asking for fewer, not exactly, keeps R3", bus.StreamsConfig{Replicas: 1}, 3},
		{"an explicit R1 scales down", bus.StreamsConfig{Replicas: 1, ExactReplicas: true}, 1},
		{"R3 scales up again", bus.StreamsConfig{Replicas: 3}, 3},
	} {
		if err := bus.EnsureStreams(ctx, js, step.cfg); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := replicasAndMessages(t, js); fmt.Sprint(got) != fmt.Sprint(want(step.want)) {
			t.Errorf("%s: [replicas messages] %v, want %v", step.name, got, want(step.want))
		}
	}
}
