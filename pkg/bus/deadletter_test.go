package bus_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// assertDeadLetter checks a dead letter against the message it came from.
func assertDeadLetter(t *testing.T, dl *jetstream.RawStreamMsg, orig *jetstream.RawStreamMsg, consumer, reasonPart string, deliveries int) {
	t.Helper()
	if dl.Subject != bus.DLQSubject(bus.StreamActivity) {
		t.Errorf("dead letter subject %s", dl.Subject)
	}
	if string(dl.Data) != string(orig.Data) {
		t.Errorf("dead letter body %q, want the original %q", dl.Data, orig.Data)
	}
	for k, vs := range orig.Header {
		if strings.HasPrefix(k, "Nats-") {
			continue
		}
		if got := dl.Header.Get(k); got != vs[0] {
			t.Errorf("original header %s = %q in the dead letter, want %q", k, got, vs[0])
		}
	}
	for k, want := range map[string]string{
		bus.HeaderDLQStream:     bus.StreamActivity,
		bus.HeaderDLQSubject:    orig.Subject,
		bus.HeaderDLQSequence:   strconv.FormatUint(orig.Sequence, 10),
		bus.HeaderDLQConsumer:   consumer,
		bus.HeaderDLQDeliveries: strconv.Itoa(deliveries),
		bus.HeaderDLQMsgID:      orig.Header.Get(bus.HeaderMsgID),
		bus.HeaderMsgID:         bus.StreamActivity + ":" + strconv.FormatUint(orig.Sequence, 10),
	} {
		if got := dl.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if r := dl.Header.Get(bus.HeaderDLQReason); !strings.Contains(r, reasonPart) {
		t.Errorf("reason %q does not say %q", r, reasonPart)
	}
}

func originalMsg(t *testing.T, js jetstream.JetStream, seq uint64) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(context.Background(), bus.StreamActivity)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatalf("original %d: %v", seq, err)
	}
	return m
}

func TestPoisonMessagesReachTheDLQ(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		fail       func(call int) error
		wantCalls  int
		reasonPart string
	}{
		{"permanent error", func(int) error { return bus.Permanent(errors.New("unknown event type")) }, 1, "unknown event type"},
		{"fails every delivery", func(call int) error { return errors.New("still broken") }, 3, "last allowed delivery (3): still broken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js, _ := setup(t)
			ids := publishN(t, publisher(t, js), 3, "poison")
			poison := ids[1]
			c := newTally()
			stop := running(t, func(ctx context.Context) error {
				return bus.Consume(ctx, js, fastConsumer("poison"), func(ctx context.Context, m *bus.Message) error {
					n := c.call(m.Event.ID())
					if m.Event.ID() == poison {
						return tc.fail(n)
					}
					c.ok(m.Event.ID())
					return nil
				})
			})
			testkit.Eventually(t, "a dead letter", func() error { return testkit.Equal("dead letters", streamMsgs(t, js, bus.StreamDLQ), 1) })
			testkit.Eventually(t, "the others handled", func() error { return testkit.Equal("handled", c.succeeded(), 2) })
			testkit.Eventually(t, "the consumer settled", func() error {
				info := consumerInfo(t, js, bus.StreamActivity, "poison")
				return testkit.Equal("pending and unacknowledged", [2]uint64{info.NumPending, uint64(info.NumAckPending)}, [2]uint64{0, 0})
			})
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := c.get(c.calls, poison); got != tc.wantCalls {
				t.Fatalf("poison handled %d times, want %d", got, tc.wantCalls)
			}
			dl := dlqMessages(t, js)
			if len(dl) != 1 {
				t.Fatalf("%d dead letters, want 1 (the terminated advisory must not add one)", len(dl))
			}
			assertDeadLetter(t, dl[0], originalMsg(t, js, 2), "poison", tc.reasonPart, tc.wantCalls)
		})
	}
}

func TestUndecodableMessageIsDeadLettered(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	subject := bus.ActivitySubject(testInst, "garbage")
	m := &nats.Msg{Subject: subject, Header: nats.Header{"X-Origin": {"legacy"}}, Data: []byte("not a cloudevent")}
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	called := make(chan struct{}, 1)
	stop := running(t, func(ctx context.Context) error {
		return bus.Consume(ctx, js, fastConsumer("garbage"), func(context.Context, *bus.Message) error {
			called <- struct{}{}
			return nil
		})
	})
	testkit.Eventually(t, "a dead letter", func() error { return testkit.Equal("dead letters", streamMsgs(t, js, bus.StreamDLQ), 1) })
	_ = stop()
	select {
	case <-called:
		t.Fatal("the handler saw an undecodable message")
	default:
	}
	assertDeadLetter(t, dlqMessages(t, js)[0], originalMsg(t, js, 1), "garbage", "undecodable", 1)
}

func TestDeadLetterTwiceIsStoredOnce(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	l := bus.Letter{Stream: bus.StreamActivity, Subject: "lethe.activity.inst-a.x", Sequence: 42, Deliveries: 5,
		Consumer: "recency", Header: nats.Header{"ce-id": {"e-1"}, "Nats-Expected-Stream": {"ELSEWHERE"}}, Data: []byte("{}")}
	for _, reason := range []string{"first", "second"} {
		if err := bus.DeadLetter(context.Background(), js, reason, l); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
	}
	dl := dlqMessages(t, js)
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	if got := dl[0].Header.Get(bus.HeaderDLQReason); got != "first" {
		t.Fatalf("reason %q, want the first one kept", got)
	}
	if dl[0].Header.Get("Nats-Expected-Stream") != "" {
		t.Fatal("a reserved Nats-* header of the original was copied")
	}
	if err := bus.DeadLetter(context.Background(), js, "r", bus.Letter{}); !errors.Is(err, bus.ErrInvalidConfig) {
		t.Fatalf("letter without a stream: got %v", err)
	}
}

// A consumer that dies holding a message never acks it; once its deliveries run out, the
// max-deliveries advisory brings it to the DLQ, fetched back from the stream by sequence.
func TestAdvisoryDeadLettersWhatACrashedConsumerLeft(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	publishN(t, publisher(t, js), 1, "crash")
	ctx := context.Background()
	cfg := bus.ConsumerConfig{Stream: bus.StreamActivity, Durable: "crashy", MaxDeliver: 2, AckWait: 100 * time.Millisecond}
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamActivity, jetstream.ConsumerConfig{
		Durable: "crashy", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: cfg.MaxDeliver, AckWait: cfg.AckWait,
	})
	if err != nil {
		t.Fatal(err)
	}
	base := js.Conn().NumSubscriptions()
	stopWatch := running(t, func(ctx context.Context) error {
		return bus.WatchDeadLetters(ctx, js, bus.StreamActivity, "crashy")
	})
	// The watcher subscribes asynchronously; wait for its interest before failing deliveries.
	testkit.Eventually(t, "the watcher's subscriptions", func() error { return testkit.AtLeast("subscriptions", js.Conn().NumSubscriptions(), base+2) })
	deliveries := 0
	testkit.Eventually(t, "the dead letter", func() error {
		// Each fetch that is never acked stands for a consumer that died holding the message;
		// the fetch after the last delivery makes the server notice it is exhausted.
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(150*time.Millisecond))
		if err == nil {
			for range batch.Messages() {
				deliveries++
			}
		}
		return testkit.Equal("dead letters", streamMsgs(t, js, bus.StreamDLQ), 1)
	})
	if err := stopWatch(); err != nil {
		t.Fatal(err)
	}
	if deliveries != 2 {
		t.Fatalf("%d deliveries, want MaxDeliver=2", deliveries)
	}
	assertDeadLetter(t, dlqMessages(t, js)[0], originalMsg(t, js, 1), "crashy", "max deliveries", 2)
}

// A message terminated by code other than Consume (no dead letter of its own) is
// dead-lettered from the terminated advisory.
func TestAdvisoryDeadLettersATerminatedMessage(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	publishN(t, publisher(t, js), 1, "term")
	ctx := context.Background()
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamActivity, jetstream.ConsumerConfig{
		Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 5, AckWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	base := js.Conn().NumSubscriptions()
	stopWatch := running(t, func(ctx context.Context) error {
		return bus.WatchDeadLetters(ctx, js, bus.StreamActivity, "*")
	})
	testkit.Eventually(t, "the watcher's subscriptions", func() error { return testkit.AtLeast("subscriptions", js.Conn().NumSubscriptions(), base+2) })
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.TermWithReason("schema mismatch"); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, "the dead letter", func() error { return testkit.Equal("dead letters", streamMsgs(t, js, bus.StreamDLQ), 1) })
	_ = stopWatch()
	assertDeadLetter(t, dlqMessages(t, js)[0], originalMsg(t, js, 1), "raw", "terminated: schema mismatch", 1)
}
