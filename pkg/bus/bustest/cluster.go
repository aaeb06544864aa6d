package bustest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// Cluster is a JetStream cluster of embedded servers on loopback, clustered over routes as
// nats-server's own tests build them (a cluster port per node, every node routed to every
// other, a store directory each), with the services' user and bus users on every node.
type Cluster struct {
	t       testing.TB
	Servers []*server.Server
	stopped []bool
	opts    []*server.Options
}

// ClusterName is the name of every node's cluster.
const ClusterName = "lethe-test"

// RunCluster starts n clustered JetStream servers (n ≥ 3 for R3 streams to survive a node)
// that only the services' user (with servicePassword) and users may connect to, and waits
// until JetStream has elected its meta leader and it sees every node. Every node is shut
// down when the test ends.
func RunCluster(t testing.TB, n int, servicePassword string, users ...config.BusUser) *Cluster {
	t.Helper()
	ports := freePorts(t, n)
	routes := make([]*url.URL, n)
	for i, p := range ports {
		routes[i] = &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)}
	}
	c := &Cluster{t: t, Servers: make([]*server.Server, n), stopped: make([]bool, n), opts: make([]*server.Options, n)}
	for i := range n {
		// Each node its own users: a server keeps and may change what it is given.
		su, err := bus.ServerUsers(servicePassword, users)
		if err != nil {
			t.Fatalf("bustest: users: %v", err)
		}
		c.opts[i] = &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Users:      su,
			Cluster:    server.ClusterOpts{Name: ClusterName, Host: "127.0.0.1", Port: ports[i]},
			Routes:     routes,
		}
		c.start(i)
		t.Cleanup(func() { c.Kill(i) })
	}
	for i, s := range c.Servers {
		if !s.ReadyForConnections(time.Minute) {
			t.Fatalf("bustest: cluster node %d not ready", i)
		}
	}
	c.waitPeers()
	return c
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	o := *c.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		c.t.Fatalf("bustest: cluster node %d: %v", i, err)
	}
	go s.Start()
	c.Servers[i] = s
	c.stopped[i] = false
}

// Restart starts killed node i again on its store and cluster port (a new client port), and
// waits until it is ready and the meta leader counts it among the online peers again.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if !c.stopped[i] {
		c.t.Fatalf("bustest: node %d is running", i)
	}
	c.start(i)
	if !c.Servers[i].ReadyForConnections(time.Minute) {
		c.t.Fatalf("bustest: cluster node %d not ready after its restart", i)
	}
	c.waitPeers()
}

// waitPeers waits until JetStream has one meta leader and it counts every running node as an
// online peer with its stats: before that, a stream of several replicas cannot be placed
// ("no suitable peers for placement").
func (c *Cluster) waitPeers() {
	c.t.Helper()
	testkit.Eventually(c.t, "the JetStream cluster to elect its meta leader and see every node", func() error {
		running, leaders := 0, 0
		var peers []string
		for i, s := range c.Servers {
			if c.stopped[i] {
				continue
			}
			running++
			if !s.JetStreamIsCurrent() {
				return fmt.Errorf("node %d is not current", i)
			}
			if s.JetStreamIsLeader() {
				leaders++
				peers = s.JetStreamClusterPeers()
			}
		}
		if leaders != 1 {
			return fmt.Errorf("%d meta leaders", leaders)
		}
		return testkit.Equal("online peers", len(peers), running)
	})
}

// freePorts finds n free loopback ports for the nodes' cluster listeners, which must be
// known before any node starts: every node routes to all of them.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("bustest: a free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// URL is every node's client URL, comma-separated, as --nats-url takes a cluster.
func (c *Cluster) URL() string {
	var urls []string
	for _, s := range c.Servers {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// Kill shuts node i down (idempotent); its store stays where it was.
func (c *Cluster) Kill(i int) {
	if c.stopped[i] {
		return
	}
	c.stopped[i] = true
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
}

// Index is the position of the node named name in Servers, or -1.
func (c *Cluster) Index(name string) int {
	for i, s := range c.Servers {
		if s.Name() == name {
			return i
		}
	}
	return -1
}

// StreamLeader waits until stream has a leader among the running nodes and the replicas on
// running nodes are current, and returns the leader's index in Servers.
func (c *Cluster) StreamLeader(js jetstream.JetStream, stream string) int {
	c.t.Helper()
	leader := -1
	testkit.Eventually(c.t, "a leader of "+stream, func() error {
		s, err := js.Stream(context.Background(), stream)
		if err != nil {
			return err
		}
		info, err := s.Info(context.Background())
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return fmt.Errorf("%s has no leader", stream)
		}
		for _, r := range info.Cluster.Replicas {
			if i := c.Index(r.Name); i >= 0 && !c.stopped[i] && !r.Current {
				return fmt.Errorf("replica %s of %s is not current", r.Name, stream)
			}
		}
		if leader = c.Index(info.Cluster.Leader); leader < 0 || c.stopped[leader] {
			return fmt.Errorf("leader %q is not a running node of this cluster", info.Cluster.Leader)
		}
		return nil
	})
	return leader
}
