package bus_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// The canary of a message whose body and headers hold a personal value in clear.
const redactCanary = "redact-canary-9c1e@mail.example"

// publishCanary stores one message with the canary in its body and in a header, as an
// upstream's plaintext inbox message would hold it.
func publishCanary(t *testing.T, js jetstream.JetStream, data []byte) {
	t.Helper()
	h := nats.Header{"X-Upstream-Note": {redactCanary}}
	if data == nil { // a binary-mode event
		for k, v := range map[string]string{"ce-specversion": "1.0", "ce-id": "canary-1", "ce-source": "/test",
			"ce-type": "lethe.contact.created.v1", "ce-subject": "c-1", "ce-institution": testInst,
			"ce-note": redactCanary, "content-type": "application/json", bus.HeaderMsgID: "canary-1"} {
			h.Set(k, v)
		}
		data = []byte(`{"role":"individual","profile":{"email":"` + redactCanary + `"}}`)
		if _, err := js.PublishMsg(context.Background(), &nats.Msg{Subject: bus.ActivitySubject(testInst, "lethe.contact.created.v1"), Header: h, Data: data}); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, err := js.PublishMsg(context.Background(), &nats.Msg{Subject: bus.ActivitySubject(testInst, "garbage"), Header: h, Data: data}); err != nil {
		t.Fatal(err)
	}
}

// sealingRedaction stands for a service's redaction: the body replaced, the reason rewritten.
func sealingRedaction(calls *atomic.Int64, fail func(n int64) bool) bus.Redaction {
	return func(_ context.Context, l bus.Letter, reason string) (bus.Letter, string, error) {
		n := calls.Add(1)
		if fail != nil && fail(n) {
			return bus.Letter{}, "", errors.New("key store unavailable")
		}
		l.Header = nats.Header{"X-Redacted": {"yes"}, bus.HeaderMsgID: {l.Header.Get(bus.HeaderMsgID)}}
		l.Data = []byte("sealed:v1:stand-in")
		l.Stream, l.Sequence = "FORGED", 9999 // the bus keeps where the message came from
		return l, "redacted: " + strings.ReplaceAll(reason, redactCanary, "…"), nil
	}
}

// assertRedacted checks that the only dead letter holds the redaction's output and no trace
// of the canary, in its body or any header.
func assertRedacted(t *testing.T, js jetstream.JetStream, consumer string) *jetstream.RawStreamMsg {
	t.Helper()
	dl := dlqMessages(t, js)
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	m := dl[0]
	if strings.Contains(string(m.Data), redactCanary) {
		t.Errorf("the dead letter's body holds the canary: %s", m.Data)
	}
	for k, vs := range m.Header {
		for _, v := range vs {
			if strings.Contains(v, redactCanary) {
				t.Errorf("header %s holds the canary", k)
			}
		}
	}
	if m.Header.Get(bus.HeaderDLQStream) != bus.StreamActivity || m.Header.Get(bus.HeaderDLQSequence) != "1" ||
		m.Header.Get(bus.HeaderDLQConsumer) != consumer || m.Header.Get(bus.HeaderMsgID) != bus.StreamActivity+":1" {
		t.Errorf("the dead letter lost its origin: %v", m.Header)
	}
	return m
}

func TestRedactionRewritesEveryDeadLetterOfTheConsumer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		data   []byte // nil: a decodable event
		result func(*bus.Message) error
	}{
		{"permanent error", nil, func(*bus.Message) error { return bus.Permanent(errors.New("invalid: " + redactCanary)) }},
		{"last allowed delivery", nil, func(*bus.Message) error { return errors.New("still failing") }},
		{"undecodable", []byte(`{"profile":{"email":"` + redactCanary + `"}`), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js, _ := setup(t)
			publishCanary(t, js, tc.data)
			var calls atomic.Int64
			running(t, func(ctx context.Context) error {
				return bus.Consume(ctx, js, fastConsumer("redacting"), func(_ context.Context, m *bus.Message) error {
					return tc.result(m)
				}, bus.WithDeadLetterRedaction(sealingRedaction(&calls, nil)))
			})
			testkit.Eventually(t, "a dead letter", func() error { return testkit.Equal("dead letters", streamMsgs(t, js, bus.StreamDLQ), 1) })
			m := assertRedacted(t, js, "redacting")
			if m.Header.Get("X-Redacted") != "yes" || string(m.Data) != "sealed:v1:stand-in" {
				t.Errorf("the redaction's letter was not stored: %v %q", m.Header, m.Data)
			}
			if r := m.Header.Get(bus.HeaderDLQReason); !strings.HasPrefix(r, "redacted: ") {
				t.Errorf("reason %q, want the redaction's", r)
			}
		})
	}
}

// A redaction that cannot run now stores nothing: the message is redelivered and its dead
// letter written once the redaction works.
func TestRedactionFailureKeepsTheMessageForRedelivery(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	publishCanary(t, js, nil)
	var calls atomic.Int64
	running(t, func(ctx context.Context) error {
		return bus.Consume(ctx, js, fastConsumer("flaky"), func(context.Context, *bus.Message) error {
			return bus.Permanent(errors.New("invalid"))
		}, bus.WithDeadLetterRedaction(sealingRedaction(&calls, func(n int64) bool { return n == 1 })))
	})
	testkit.Eventually(t, "a dead letter", func() error { return testkit.Equal("dead letters", streamMsgs(t, js, bus.StreamDLQ), 1) })
	if calls.Load() < 2 {
		t.Fatalf("redaction called %d times, want a retry after the failure", calls.Load())
	}
	assertRedacted(t, js, "flaky")
}

// The advisory watcher of a consumer redacts what it dead-letters; when the redaction fails
// it cannot retry, so it keeps the letter without body or headers.
func TestAdvisoryDeadLettersAreRedacted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fail   bool
		reason string
	}{
		{"redacted", false, "redacted: max deliveries"},
		{"redaction failed", true, "max deliveries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js, _ := setup(t)
			publishCanary(t, js, nil)
			ctx := context.Background()
			cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamActivity, jetstream.ConsumerConfig{
				Durable: "crashy", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 1, AckWait: 100 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int64
			base := js.Conn().NumSubscriptions()
			running(t, func(ctx context.Context) error {
				return bus.WatchDeadLetters(ctx, js, bus.StreamActivity, "crashy",
					bus.WithDeadLetterRedaction(sealingRedaction(&calls, func(int64) bool { return tc.fail })))
			})
			testkit.Eventually(t, "the watcher's subscriptions", func() error { return testkit.AtLeast("subscriptions", js.Conn().NumSubscriptions(), base+2) })
			testkit.Eventually(t, "the dead letter", func() error {
				if batch, err := cons.Fetch(1, jetstream.FetchMaxWait(150*time.Millisecond)); err == nil {
					for range batch.Messages() {
					}
				}
				return testkit.Equal("dead letters", streamMsgs(t, js, bus.StreamDLQ), 1)
			})
			m := assertRedacted(t, js, "crashy")
			if r := m.Header.Get(bus.HeaderDLQReason); !strings.HasPrefix(r, tc.reason) {
				t.Errorf("reason %q, want it to start with %q", r, tc.reason)
			}
			if tc.fail {
				if len(m.Data) != 0 || m.Header.Get("X-Upstream-Note") != "" || m.Header.Get("ce-id") != "" {
					t.Errorf("a failed redaction kept the original: %v %q", m.Header, m.Data)
				}
				if d := m.Header.Get(bus.HeaderDLQDropped); !strings.Contains(d, "bytes") || !strings.Contains(d, "redaction failed") {
					t.Errorf("%s = %q, want what was dropped and why", bus.HeaderDLQDropped, d)
				}
			}
		})
	}
}
