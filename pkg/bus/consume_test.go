package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// tally counts handler calls and acknowledged successes per event id.
type tally struct {
	mu      sync.Mutex
	calls   map[string]int
	success map[string]int
}

func newTally() *tally { return &tally{calls: map[string]int{}, success: map[string]int{}} }

func (c *tally) call(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[id]++
	return c.calls[id]
}

func (c *tally) ok(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.success[id]++
}

func (c *tally) get(m map[string]int, id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m[id]
}

func (c *tally) succeeded() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.success)
}

func consumerInfo(t testing.TB, js jetstream.JetStream, stream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := js.Consumer(context.Background(), stream, durable)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	return info
}

func TestConsumeRedeliversAfterHandlerError(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	ids := publishN(t, publisher(t, js), 10, "redeliver")
	flaky := ids[3]
	c := newTally()
	var deliveriesSeen []uint64
	var mu sync.Mutex
	stop := running(t, func(ctx context.Context) error {
		return bus.Consume(ctx, js, fastConsumer("redeliver"), func(ctx context.Context, m *bus.Message) error {
			n := c.call(m.Event.ID())
			if m.Event.ID() == flaky {
				mu.Lock()
				deliveriesSeen = append(deliveriesSeen, m.Deliveries)
				mu.Unlock()
				if n == 1 {
					return errors.New("store unreachable")
				}
			}
			c.ok(m.Event.ID())
			return nil
		})
	})
	testkit.Eventually(t, "every event handled", func() error { return testkit.Equal("handled", c.succeeded(), len(ids)) })
	if err := stop(); err != nil {
		t.Fatalf("Consume returned %v on shutdown", err)
	}
	if got := c.get(c.calls, flaky); got != 2 {
		t.Fatalf("flaky event handled %d times, want 2", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(deliveriesSeen) != 2 || deliveriesSeen[0] != 1 || deliveriesSeen[1] != 2 {
		t.Fatalf("delivery counts %v, want [1 2]", deliveriesSeen)
	}
	for _, id := range ids {
		if id != flaky && c.get(c.calls, id) != 1 {
			t.Fatalf("event %s handled %d times, want 1", id, c.get(c.calls, id))
		}
	}
	if info := consumerInfo(t, js, bus.StreamActivity, "redeliver"); info.NumAckPending != 0 || info.NumPending != 0 {
		t.Fatalf("consumer left %d unacked, %d pending", info.NumAckPending, info.NumPending)
	}
	if got := streamMsgs(t, js, bus.StreamDLQ); got != 0 {
		t.Fatalf("%d dead letters, want none", got)
	}
}

func TestConsumeDecodesBothContentModes(t *testing.T) {
	t.Parallel()
	js, nc := setup(t)
	subject := bus.InboxSubject(testInst)
	structured := `{"specversion":"1.0","id":"s-1","source":"/crm","type":"lethe.contact.updated.v1",` +
		`"institution":"inst-a","datacontenttype":"application/json","data":{"k":1}}`
	msgs := []*nats.Msg{
		{Subject: subject, Header: nats.Header{"content-type": {"application/cloudevents+json; charset=utf-8"}}, Data: []byte(structured)},
		{Subject: subject, Data: []byte(strings.Replace(structured, "s-1", "s-2", 1))}, // NATS binding 1.0: no headers at all
		{Subject: subject, Header: nats.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"b-1"}, "Ce-Source": {"/crm"},
			"Ce-Type": {"lethe.contact.updated.v1"}, "Ce-Institution": {"inst-a"}, "Content-Type": {"application/json"}},
			Data: []byte(`{"k":1}`)},
	}
	for _, m := range msgs {
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatalf("publish raw: %v", err)
		}
	}
	_ = nc
	var mu sync.Mutex
	got := map[string]string{}
	stop := running(t, func(ctx context.Context) error {
		cfg := fastConsumer("inbox")
		cfg.Stream = bus.StreamInbox
		return bus.Consume(ctx, js, cfg, func(ctx context.Context, m *bus.Message) error {
			mu.Lock()
			defer mu.Unlock()
			inst, _ := m.Event.Extensions()["institution"].(string)
			got[m.Event.ID()] = inst + " " + m.Event.DataContentType() + " " + string(m.Event.Data())
			return nil
		})
	})
	testkit.Eventually(t, "three events", func() error { mu.Lock(); defer mu.Unlock(); return testkit.Equal("events", len(got), 3) })
	_ = stop()
	for _, id := range []string{"s-1", "s-2", "b-1"} {
		if want := `inst-a application/json {"k":1}`; got[id] != want {
			t.Errorf("event %s decoded as %q, want %q", id, got[id], want)
		}
	}
	// The inbox is a work queue: what was acked is gone.
	testkit.Eventually(t, "inbox emptied", func() error { return testkit.Equal("inbox messages", streamMsgs(t, js, bus.StreamInbox), 0) })
}

func TestConsumeBatch(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	ids := publishN(t, publisher(t, js), 1200, "batch")
	poison, flaky := ids[7], ids[900]
	c := newTally()
	var sizes []int
	var mu sync.Mutex
	cfg := fastConsumer("batch")
	// Retries come from the back-off, not from AckWait; a long AckWait keeps a slow (-race,
	// loaded) run from redelivering the batch waiting behind the one being handled.
	cfg.AckWait = time.Minute
	cfg.BatchSize = 500
	cfg.BatchWait = 20 * time.Millisecond
	stop := running(t, func(ctx context.Context) error {
		return bus.ConsumeBatch(ctx, js, cfg, func(ctx context.Context, msgs []*bus.Message) []error {
			mu.Lock()
			sizes = append(sizes, len(msgs))
			mu.Unlock()
			res := make([]error, len(msgs))
			for i, m := range msgs {
				id := m.Event.ID()
				n := c.call(id)
				switch {
				case id == poison:
					res[i] = bus.Permanent(errors.New("unknown role"))
				case id == flaky && n == 1:
					res[i] = errors.New("temporary")
				default:
					c.ok(id)
				}
			}
			return res
		})
	})
	testkit.Eventually(t, "all but the poison handled", func() error { return testkit.Equal("handled", c.succeeded(), len(ids)-1) })
	testkit.Eventually(t, "the poison dead-lettered", func() error { return testkit.Equal("dead letters", streamMsgs(t, js, bus.StreamDLQ), 1) })
	if err := stop(); err != nil {
		t.Fatalf("ConsumeBatch returned %v", err)
	}
	mu.Lock()
	largest := 0
	for _, s := range sizes {
		largest = max(largest, s)
	}
	mu.Unlock()
	if largest < 2 || largest > 500 {
		t.Fatalf("largest batch %d, want 2..500 (batches %v)", largest, sizes)
	}
	if got := c.get(c.calls, flaky); got != 2 {
		t.Fatalf("flaky handled %d times, want 2", got)
	}
	if got := c.get(c.calls, poison); got != 1 {
		t.Fatalf("poison handled %d times, want 1 (permanent means no retry)", got)
	}
	for _, id := range ids {
		if id != flaky && id != poison && c.get(c.success, id) != 1 {
			t.Fatalf("event %s succeeded %d times", id, c.get(c.success, id))
		}
	}
	dl := dlqMessages(t, js)
	if dl[0].Header.Get("ce-id") != poison || dl[0].Header.Get(bus.HeaderDLQReason) != "unknown role" {
		t.Fatalf("dead letter %v, want the poison with its reason", dl[0].Header)
	}
}

func TestDurableConsumerResumesAfterServerRestart(t *testing.T) {
	s, nc := bustest.RunServer(t)
	js := newJS(t, nc)
	ctx := context.Background()
	if err := bus.EnsureStreams(ctx, js, bus.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	const n = 300
	ids := publishN(t, publisher(t, js), n, "restart")
	c := newTally()
	handler := func(ctx context.Context, m *bus.Message) error {
		c.call(m.Event.ID())
		c.ok(m.Event.ID())
		return nil
	}
	cfg := fastConsumer("resume")
	cfg.Concurrency = 4
	cfg.DrainTimeout = 200 * time.Millisecond

	// Handle a third, then stop while the handlers of later deliveries are still busy: they
	// outlive the drain, see their context cancelled and leave their messages unacked. Gated
	// on a count, not on timing, so a fast machine keeps a remainder too.
	var handled atomic.Int64
	stop := running(t, func(ctx context.Context) error {
		return bus.Consume(ctx, js, cfg, func(ctx context.Context, m *bus.Message) error {
			if handled.Add(1) > n/3 {
				<-ctx.Done()
				return ctx.Err()
			}
			return handler(ctx, m)
		})
	})
	testkit.Eventually(t, "a third handled", func() error {
		if got := handled.Load(); got <= n/3 {
			return fmt.Errorf("%d handler calls, want more than %d", got, n/3)
		}
		return testkit.Equal("handled", c.succeeded(), n/3)
	})
	if err := stop(); err != nil {
		t.Fatalf("Consume: %v", err)
	}
	first := c.succeeded()
	if first != n/3 {
		t.Fatalf("%d handled before the restart, want %d", first, n/3)
	}

	s2, nc2 := bustest.Restart(t, s)
	_ = s2
	js2 := newJS(t, nc2)
	if err := bus.EnsureStreams(ctx, js2, bus.StreamsConfig{}); err != nil {
		t.Fatalf("EnsureStreams after restart: %v", err)
	}
	if got := streamMsgs(t, js2, bus.StreamActivity); got != n {
		t.Fatalf("%d messages after restart, want %d", got, n)
	}
	stop = running(t, func(ctx context.Context) error { return bus.Consume(ctx, js2, cfg, handler) })
	testkit.Eventually(t, "the rest handled", func() error { return testkit.Equal("handled", c.succeeded(), n) })
	if err := stop(); err != nil {
		t.Fatalf("Consume after restart: %v", err)
	}
	for _, id := range ids {
		if got := c.get(c.calls, id); got != 1 {
			t.Fatalf("event %s handled %d times, want exactly once", id, got)
		}
	}
	if info := consumerInfo(t, js2, bus.StreamActivity, "resume"); info.NumAckPending != 0 || info.NumPending != 0 {
		t.Fatalf("consumer left %d unacked, %d pending", info.NumAckPending, info.NumPending)
	}
	t.Logf("%d handled before the restart, %d after", first, n-first)
}

func TestConsumeKeepsRunningThroughServerRestart(t *testing.T) {
	s, nc := bustest.RunServer(t)
	js := newJS(t, nc)
	ctx := context.Background()
	if err := bus.EnsureStreams(ctx, js, bus.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	p := publisher(t, js)
	c := newTally()
	stop := running(t, func(ctx context.Context) error {
		return bus.Consume(ctx, js, fastConsumer("through"), func(ctx context.Context, m *bus.Message) error {
			c.call(m.Event.ID())
			c.ok(m.Event.ID())
			return nil
		})
	})
	publishN(t, p, 50, "before")
	testkit.Eventually(t, "events before the restart", func() error { return testkit.Equal("handled", c.succeeded(), 50) })

	bustest.Restart(t, s) // the consumer's connection reconnects to the same port
	testkit.Eventually(t, "reconnection", func() error { return testkit.Equal("status", nc.Status(), nats.CONNECTED) })
	publishN(t, p, 50, "after")
	testkit.Eventually(t, "events after the restart", func() error { return testkit.Equal("handled", c.succeeded(), 100) })
	if err := stop(); err != nil {
		t.Fatalf("Consume: %v", err)
	}
}

func TestConsumeRejectsBadConfig(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	h := func(context.Context, *bus.Message) error { return nil }
	for _, tc := range []struct {
		name string
		cfg  bus.ConsumerConfig
	}{
		{"no stream", bus.ConsumerConfig{Durable: "d"}},
		{"no durable", bus.ConsumerConfig{Stream: bus.StreamActivity}},
		{"dotted durable", bus.ConsumerConfig{Stream: bus.StreamActivity, Durable: "a.b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := bus.Consume(context.Background(), js, tc.cfg, h); !errors.Is(err, bus.ErrInvalidConfig) {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestHandlerPanicIsRetried(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	ids := publishN(t, publisher(t, js), 1, "panic")
	c := newTally()
	stop := running(t, func(ctx context.Context) error {
		return bus.Consume(ctx, js, fastConsumer("panic"), func(ctx context.Context, m *bus.Message) error {
			if c.call(m.Event.ID()) == 1 {
				panic(fmt.Sprintf("bug on %s", m.Event.ID()))
			}
			c.ok(m.Event.ID())
			return nil
		})
	})
	testkit.Eventually(t, "handled after the panic", func() error { return testkit.Equal("handled", c.succeeded(), 1) })
	_ = stop()
	if got := c.get(c.calls, ids[0]); got != 2 {
		t.Fatalf("handled %d times, want 2", got)
	}
}

// A consumer stopped while it is still being set up stops cleanly, as one stopped later does:
// a service shut down right after its start reports no error.
func TestConsumeStoppedBeforeItStartedReturnsNil(t *testing.T) {
	t.Parallel()
	_, nc := bustest.RunServer(t)
	js := newJS(t, nc)
	if err := bus.EnsureStreams(context.Background(), js, bus.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	nop := func(context.Context, *bus.Message) error { return nil }
	if err := bus.Consume(ctx, js, fastConsumer("early"), nop); err != nil {
		t.Fatalf("Consume: %v, want nil", err)
	}
	batch := fastConsumer("early-batch")
	if err := bus.ConsumeBatch(ctx, js, batch, func(_ context.Context, ms []*bus.Message) []error { return make([]error, len(ms)) }); err != nil {
		t.Fatalf("ConsumeBatch: %v, want nil", err)
	}
}

// WithStarted is what readiness rests on: it fires once, when the durable exists on the
// server and pulls, before any message is handled, and never for a consumer that could not
// be created.
func TestConsumeReportsStartedOnceTheDurableExists(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	publishN(t, publisher(t, js), 3, "started")
	for _, tc := range []struct {
		name    string
		consume func(ctx context.Context, cfg bus.ConsumerConfig, handled func(), opts ...bus.Option) error
	}{
		{"Consume", func(ctx context.Context, cfg bus.ConsumerConfig, handled func(), opts ...bus.Option) error {
			return bus.Consume(ctx, js, cfg, func(context.Context, *bus.Message) error { handled(); return nil }, opts...)
		}},
		{"ConsumeBatch", func(ctx context.Context, cfg bus.ConsumerConfig, handled func(), opts ...bus.Option) error {
			return bus.ConsumeBatch(ctx, js, cfg, func(_ context.Context, msgs []*bus.Message) []error { handled(); return nil }, opts...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			durable := "started-" + strings.ToLower(tc.name)
			var starts, handledBefore atomic.Int32
			var handled atomic.Int32
			started := bus.WithStarted(func() {
				starts.Add(1)
				handledBefore.Store(handled.Load())
				if _, err := js.Consumer(context.Background(), bus.StreamActivity, durable); err != nil {
					t.Errorf("started before the durable exists: %v", err)
				}
			})
			stop := running(t, func(ctx context.Context) error {
				return tc.consume(ctx, fastConsumer(durable), func() { handled.Add(1) }, started)
			})
			testkit.Eventually(t, "the messages handled", func() error { return testkit.AtLeast("handled", handled.Load(), 1) })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if starts.Load() != 1 || handledBefore.Load() != 0 {
				t.Fatalf("started called %d times, after %d handled messages; want once, before any", starts.Load(), handledBefore.Load())
			}

			// A consumer that cannot be created never says it started.
			bad := fastConsumer(durable + "-bad")
			bad.Stream = "NO_SUCH_STREAM"
			var badStarts atomic.Int32
			err := tc.consume(context.Background(), bad, func() {}, bus.WithStarted(func() { badStarts.Add(1) }))
			if err == nil || badStarts.Load() != 0 {
				t.Fatalf("consumer on a missing stream: err %v, started %d times; want an error and no start", err, badStarts.Load())
			}
		})
	}
	if _, err := bus.NewPublisher(js, bus.WithStarted(nil)); err == nil {
		t.Fatal("WithStarted(nil) accepted")
	}
}
