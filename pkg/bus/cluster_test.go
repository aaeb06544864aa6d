package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// A consumer whose NATS node dies reconnects to another and resumes; its pull request still
// parked on the consumer's leader (another node) goes on delivering beside the new one. With
// nats.go's Messages iterator — a channel the size of one pull — that over-delivery was
// dropped as a slow consumer, and each dropped message waited out AckWait (30 s for the
// anonymiser's commands) before its redelivery: the scale-out test's apply stalled 30 s
// after a node loss. Every message must be handled, none dropped.
func TestConsumerSurvivesItsNodeDyingWithoutDroppingDeliveries(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a three-node cluster")
	}
	const password = "service-password"
	c := bustest.RunCluster(t, 3, password)
	admin, err := nats.Connect(c.URL(), nats.UserInfo(bus.ServiceUser, password), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	ajs := bustest.JetStream(t, admin)
	ctx := context.Background()
	if err := bus.EnsureStreams(ctx, ajs, bus.StreamsConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	c.StreamLeader(ajs, bus.StreamActivity)
	// A short AckWait bounds what a delivery lost in flight to the dead node costs the test
	// (it comes back after AckWait); a drop is counted all the same.
	cfg := bus.ConsumerConfig{Stream: bus.StreamActivity, Durable: "survivor", AckWait: 5 * time.Second}
	cons, err := ajs.CreateOrUpdateConsumer(ctx, cfg.Stream, cfg.JetStreamConfig())
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The consumer's process is connected to a node that does not lead its consumer, so
	// that the node's death leaves the old pull request alive on the leader.
	node := (c.Index(info.Cluster.Leader) + 1) % 3
	var dropped atomic.Int64
	nc, err := nats.Connect(c.Servers[node].ClientURL(), nats.UserInfo(bus.ServiceUser, password), nats.MaxReconnects(-1),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				dropped.Add(1)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js := bustest.JetStream(t, nc)

	const n = 400
	release := make(chan struct{})
	var mu sync.Mutex
	handled := map[string]int{}
	stop := running(t, func(ctx context.Context) error {
		return bus.Consume(ctx, js, cfg, func(ctx context.Context, m *bus.Message) error {
			<-release
			mu.Lock()
			handled[m.Event.ID()]++
			mu.Unlock()
			return nil
		})
	})
	consumerInfo := func() (waiting, unacked int) {
		ci, err := cons.Info(ctx)
		if err != nil {
			return -1, -1
		}
		return ci.NumWaiting, ci.NumAckPending
	}
	// The idle consumer has its pull request parked on the leader; then it loses its node,
	// reconnects and pulls again, the first request still parked.
	testkit.Eventually(t, "a pull request parked on the leader", func() error {
		w, _ := consumerInfo()
		return testkit.AtLeast("waiting pull requests", w, 1)
	})
	c.Kill(node)
	testkit.Eventually(t, "the consumer's reconnection and its pull", func() error {
		if !nc.IsConnected() {
			return errors.New("not reconnected")
		}
		w, _ := consumerInfo()
		return testkit.AtLeast("waiting pull requests", w, 1)
	})
	// The leader may have dropped the first request while the client was away (then nothing
	// is over-delivered and the run proves less); on a loaded machine the new pull can take a
	// moment, so the precondition is looked for a while and reported, not asserted.
	double := false
	for deadline := time.Now().Add(5 * time.Second); !double && time.Now().Before(deadline); {
		w, _ := consumerInfo()
		double = w >= 2
		if !double {
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("two pull requests parked after the reconnection: %v", double)
	// Both requests are filled while the handler still holds its first message.
	publishN(t, publisher(t, ajs), n, "survive")
	// One pull's worth (Consume's buffer with Concurrency 1) at least. Two parked requests
	// seen a moment ago may since be one (the leader expires a request of a client gone away),
	// so more is reported, not awaited: a run under load once saw 64 where 100 was awaited.
	testkit.Eventually(t, "the pull requests filled", func() error {
		_, u := consumerInfo()
		return testkit.AtLeast("unacknowledged deliveries", u, 64)
	})
	_, u := consumerInfo()
	t.Logf("unacknowledged deliveries before the handler runs: %d (more than 64: both requests were filled)", u)
	close(release)
	testkit.Eventually(t, "every message handled", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(handled) < n {
			return fmt.Errorf("%d of %d handled (%d deliveries dropped as a slow consumer)", len(handled), n, dropped.Load())
		}
		return nil
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if d := dropped.Load(); d > 0 {
		t.Errorf("%d deliveries dropped as a slow consumer after the reconnection (each waits AckWait to come back)", d)
	}
}
