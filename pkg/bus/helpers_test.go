package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
)

const testInst = "inst-a"

// setup starts a server, ensures the streams and returns a JetStream context.
func setup(t testing.TB) (jetstream.JetStream, *nats.Conn) {
	t.Helper()
	_, nc := bustest.RunServer(t)
	js := newJS(t, nc)
	if err := bus.EnsureStreams(context.Background(), js, bus.StreamsConfig{}); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	return js, nc
}

func newJS(t testing.TB, nc *nats.Conn) jetstream.JetStream { return bustest.JetStream(t, nc) }

func newEvent(id string) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/test/ticketing")
	e.SetType("lethe.contact.created.v1")
	e.SetSubject("contact-" + id)
	e.SetTime(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	e.SetExtension("institution", testInst)
	if err := e.SetData(event.ApplicationJSON, map[string]any{"role": "individual", "n": id}); err != nil {
		panic(err)
	}
	return e
}

func publisher(t testing.TB, js jetstream.JetStream, opts ...bus.Option) *bus.Publisher {
	t.Helper()
	p, err := bus.NewPublisher(js, opts...)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	return p
}

func publishN(t testing.TB, p *bus.Publisher, n int, prefix string) []string {
	t.Helper()
	batch := make([]bus.Outgoing, n)
	ids := make([]string, n)
	for i := range batch {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		batch[i] = bus.Outgoing{Subject: bus.ActivitySubject(testInst, "lethe.contact.created.v1"), Event: newEvent(ids[i])}
	}
	if err := p.PublishBatch(context.Background(), batch); err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}
	return ids
}

// running runs fn in a goroutine; the returned stop cancels it and returns its error.
func running(t testing.TB, fn func(ctx context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	stopped := false
	var result error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(30 * time.Second):
				result = errors.New("did not stop within 30s")
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func streamMsgs(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatalf("stream info %s: %v", stream, err)
	}
	return info.State.Msgs
}

// dlqMessages returns every dead letter stored so far.
func dlqMessages(t testing.TB, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatalf("stream dlq: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("get dlq %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// fastConsumer is a consumer config with back-offs short enough for tests.
func fastConsumer(durable string) bus.ConsumerConfig {
	return bus.ConsumerConfig{
		Stream:     bus.StreamActivity,
		Durable:    durable,
		MaxDeliver: 3,
		AckWait:    5 * time.Second,
		Backoff:    []time.Duration{20 * time.Millisecond},
	}
}
