package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
)

func TestSubjects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{bus.ActivitySubject("inst-a", "lethe.order.placed.v1"), "lethe.activity.inst-a.lethe.order.placed.v1"},
		{bus.CommandSubject("inst-a", "anonymise"), "lethe.command.inst-a.anonymise"},
		{bus.ResultSubject("inst-a", "anonymised"), "lethe.result.inst-a.anonymised"},
		{bus.InboxSubject("inst-a"), "lethe.inbox.inst-a"},
		{bus.DLQSubject(bus.StreamActivity), "lethe.dlq.LETHE_ACTIVITY"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		token string
		ok    bool
	}{{"inst-a", true}, {"", false}, {"a.b", false}, {"*", false}, {">", false}, {"a b", false}} {
		t.Run("token "+tc.token, func(t *testing.T) {
			if got := bus.ValidToken(tc.token); got != tc.ok {
				t.Fatalf("ValidToken(%q) = %v", tc.token, got)
			}
		})
	}
}

func TestEnsureStreamsIdempotentAndUpdatable(t *testing.T) {
	t.Parallel()
	_, nc := bustest.RunServer(t)
	js := newJS(t, nc)
	ctx := context.Background()

	for i := range 2 {
		if err := bus.EnsureStreams(ctx, js, bus.StreamsConfig{}); err != nil {
			t.Fatalf("EnsureStreams #%d: %v", i+1, err)
		}
	}
	want := map[string]struct {
		subject   string
		retention jetstream.RetentionPolicy
	}{
		bus.StreamInbox:    {"lethe.inbox.>", jetstream.WorkQueuePolicy},
		bus.StreamActivity: {"lethe.activity.>", jetstream.LimitsPolicy},
		bus.StreamCommands: {"lethe.command.>", jetstream.WorkQueuePolicy},
		bus.StreamResults:  {"lethe.result.>", jetstream.LimitsPolicy},
		bus.StreamDLQ:      {"lethe.dlq.>", jetstream.LimitsPolicy},
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			s, err := js.Stream(ctx, name)
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			cfg := s.CachedInfo().Config
			if len(cfg.Subjects) != 1 || cfg.Subjects[0] != w.subject {
				t.Errorf("subjects %v, want %s", cfg.Subjects, w.subject)
			}
			if cfg.Retention != w.retention {
				t.Errorf("retention %v, want %v", cfg.Retention, w.retention)
			}
			if cfg.Duplicates != bus.MinDuplicates {
				t.Errorf("duplicates %s, want %s", cfg.Duplicates, bus.MinDuplicates)
			}
			if cfg.Storage != jetstream.FileStorage {
				t.Errorf("storage %v, want file", cfg.Storage)
			}
		})
	}
	act, _ := js.Stream(ctx, bus.StreamActivity)
	if got := act.CachedInfo().Config.MaxAge; got != bus.DefaultActivityMaxAge {
		t.Fatalf("activity max age %s, want %s", got, bus.DefaultActivityMaxAge)
	}

	// A changed configuration is applied in place; a dedupe window below the minimum is raised.
	changed := bus.StreamsConfig{ActivityMaxAge: 90 * 24 * time.Hour, ResultsMaxAge: 48 * time.Hour,
		Duplicates: time.Second}
	if err := bus.EnsureStreams(ctx, js, changed); err != nil {
		t.Fatalf("EnsureStreams after a change: %v", err)
	}
	act, _ = js.Stream(ctx, bus.StreamActivity)
	if got := act.CachedInfo().Config.MaxAge; got != 90*24*time.Hour {
		t.Fatalf("activity max age %s after update", got)
	}
	res, _ := js.Stream(ctx, bus.StreamResults)
	if got := res.CachedInfo().Config.MaxAge; got != 48*time.Hour {
		t.Fatalf("results max age %s after update", got)
	}
	if got := act.CachedInfo().Config.Duplicates; got != bus.MinDuplicates {
		t.Fatalf("duplicates %s: want the %s floor", got, bus.MinDuplicates)
	}
	wide := bus.StreamsConfig{Duplicates: 10 * time.Minute}
	if err := bus.EnsureStreams(ctx, js, wide); err != nil {
		t.Fatalf("EnsureStreams with a wider window: %v", err)
	}
	act, _ = js.Stream(ctx, bus.StreamActivity)
	if got := act.CachedInfo().Config.Duplicates; got != 10*time.Minute {
		t.Fatalf("duplicates %s, want 10m", got)
	}
}

func TestPublishDuplicateIsStoredOnce(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	p := publisher(t, js)
	ctx := context.Background()
	subject := bus.ActivitySubject(testInst, "lethe.contact.created.v1")

	for i := range 3 {
		if err := p.Publish(ctx, subject, newEvent("dup-1")); err != nil {
			t.Fatalf("publish #%d: %v", i+1, err)
		}
	}
	batch := []bus.Outgoing{{subject, newEvent("dup-1")}, {subject, newEvent("dup-2")}, {subject, newEvent("dup-2")}}
	if err := p.PublishBatch(ctx, batch); err != nil {
		t.Fatalf("batch with duplicates: %v", err)
	}
	if got := streamMsgs(t, js, bus.StreamActivity); got != 2 {
		t.Fatalf("stored %d messages, want 2", got)
	}

	// The same id from another source is another event, not a duplicate.
	other := newEvent("dup-1")
	other.SetSource("/test/booking")
	if err := p.Publish(ctx, subject, other); err != nil {
		t.Fatalf("publish other source: %v", err)
	}
	if got := streamMsgs(t, js, bus.StreamActivity); got != 3 {
		t.Fatalf("stored %d messages, want 3", got)
	}
}

func TestPublishWritesBinaryMode(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	ctx := context.Background()
	subject := bus.ActivitySubject(testInst, "lethe.contact.created.v1")
	e := newEvent("bin-1")
	if err := publisher(t, js).Publish(ctx, subject, e); err != nil {
		t.Fatalf("publish: %v", err)
	}
	s, _ := js.Stream(ctx, bus.StreamActivity)
	raw, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	for h, want := range map[string]string{
		"ce-specversion": "1.0", "ce-id": "bin-1", "ce-source": "/test/ticketing",
		"ce-type": "lethe.contact.created.v1", "ce-subject": "contact-bin-1",
		"ce-time": "2024-05-01T12:00:00Z", "ce-institution": testInst,
		"content-type": "application/json", bus.HeaderMsgID: bus.MsgID(e),
	} {
		if got := raw.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if string(raw.Data) != string(e.Data()) {
		t.Errorf("body %s, want the event data %s", raw.Data, e.Data())
	}
}

func TestPublishRejects(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	p := publisher(t, js)
	ctx := context.Background()
	noID := newEvent("x")
	noID.SetID("")
	for _, tc := range []struct {
		name    string
		subject string
		want    error
	}{
		{"wildcard subject", "lethe.activity.*", bus.ErrInvalidSubject},
		{"empty token", "lethe..x", bus.ErrInvalidSubject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := p.Publish(ctx, tc.subject, newEvent("x")); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("missing id", func(t *testing.T) {
		err := p.Publish(ctx, bus.ActivitySubject(testInst, "t"), noID)
		if !errors.Is(err, bus.ErrInvalidEvent) {
			t.Fatalf("got %v, want ErrInvalidEvent", err)
		}
	})
	t.Run("batch names the failing event", func(t *testing.T) {
		subject := bus.ActivitySubject(testInst, "t")
		batch := []bus.Outgoing{{subject, newEvent("ok-1")}, {"nowhere.bound", newEvent("lost-1")}, {subject, newEvent("ok-2")}}
		err := p.PublishBatch(ctx, batch)
		var pe *bus.PublishError
		if !errors.As(err, &pe) {
			t.Fatalf("got %v, want a *PublishError", err)
		}
		if pe.Index != 1 || pe.EventID != "lost-1" || pe.Subject != "nowhere.bound" {
			t.Fatalf("PublishError %+v, want index 1 / lost-1", pe)
		}
	})
}

func TestPublishBatchStoresEveryEvent(t *testing.T) {
	t.Parallel()
	js, _ := setup(t)
	// A window smaller than the batch makes the pipeline wait on its oldest acks.
	p := publisher(t, js, bus.WithPublishWindow(64))
	publishN(t, p, 2000, "batch")
	if got := streamMsgs(t, js, bus.StreamActivity); got != 2000 {
		t.Fatalf("stored %d, want 2000", got)
	}
}

// A batch that fails returns only once every publish of it has settled: nats.go retries a
// publish that found no stream, and one that landed after the caller had answered 503 would
// be stored behind its back (make test once saw ingest's "1 events stored after a 503").
func TestPublishBatchFailureLeavesNothingInFlight(t *testing.T) {
	t.Parallel()
	_, nc := bustest.RunServer(t)
	js := newJS(t, nc) // no streams: every publish finds no responder
	p := publisher(t, js)
	batch := make([]bus.Outgoing, 20)
	for i := range batch {
		batch[i] = bus.Outgoing{Subject: bus.ActivitySubject(testInst, "lethe.contact.created.v1"), Event: newEvent(fmt.Sprintf("lost-%d", i))}
	}
	if err := p.PublishBatch(context.Background(), batch); err == nil {
		t.Fatal("a batch with no stream to take it succeeded")
	}
	if n := js.PublishAsyncPending(); n != 0 {
		t.Fatalf("%d publishes of the failed batch still in flight after it returned", n)
	}
}
