package ingest

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// publishInbox publishes e to subject as an upstream would, in binary or structured mode,
// and waits for the inbox's ack.
func publishInbox(t *testing.T, s *stack, subject string, e event.Event, structured bool) {
	t.Helper()
	msg := &nats.Msg{Subject: subject, Header: nats.Header{}}
	var err error
	if structured {
		msg.Data, err = events.MarshalStructured(e)
		msg.Header.Set("content-type", events.MediaTypeStructured)
	} else {
		msg.Data, err = events.WriteBinary(e, msg.Header.Set)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatalf("publish to %s: %v", subject, err)
	}
}

func TestInboxForwardsValidEventsSealedAndDeadLettersTheRest(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	const email = "inbox-canary-2f7d@mail.example"

	valid := mustEvent(t, instA, "c-inbox", profileCreated(email, "Inès", "Boxer"))
	publishInbox(t, s, bus.InboxSubject(instA), valid, false)
	click := mustEvent(t, instA, "c-inbox", click("camp-9"))
	publishInbox(t, s, bus.InboxSubject(instA), click, true)

	testkit.Eventually(t, "two events forwarded to LETHE_ACTIVITY", func() error { return testkit.Equal("events", len(s.activity()), 2) })
	got := s.activity()
	byID := map[string]stored{got[0].event.ID(): got[0], got[1].event.ID(): got[1]}
	g, ok := byID[valid.ID()]
	if !ok {
		t.Fatalf("the created event was not forwarded")
	}
	if g.subject != bus.ActivitySubject(instA, events.TypeContactCreated) || g.header.Get(bus.HeaderMsgID) != bus.MsgID(valid) {
		t.Errorf("subject %s, Nats-Msg-Id %s", g.subject, g.header.Get(bus.HeaderMsgID))
	}
	checkSealed(t, s, g, instA, "c-inbox", email, "Inès", "Boxer")
	if _, ok := byID[click.ID()]; !ok {
		t.Errorf("the structured-mode click was not forwarded")
	}

	cases := []struct {
		name    string
		subject string
		event   event.Event
		reason  string // what the dead letter's reason must name
	}{
		{"unknown type", bus.InboxSubject(instA),
			rawEvent("bad-1", "lethe.contact.teleported.v1", instA, "c-1", map[string]any{"email": email}), "/type"},
		{"invalid data", bus.InboxSubject(instA),
			rawEvent("bad-2", events.TypeContactCreated, instA, "c-1", map[string]any{"role": "emperor", "profile": map[string]any{"email": email}}), "/data/"},
		{"another institution's subject", bus.InboxSubject(instB),
			mustEvent(t, instA, "c-1", profileCreated(email, "Inès", "Boxer")), "institution"},
		{"a type Lethe publishes", bus.InboxSubject(instA),
			rawEvent("bad-4", events.TypeContactDeleted, instA, "c-1", map[string]any{}), "/type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.streamMessages(bus.StreamDLQ))
			publishInbox(t, s, tc.subject, tc.event, false)
			testkit.Eventually(t, "a dead letter", func() error { return testkit.Equal("dead letters", len(s.streamMessages(bus.StreamDLQ)), before+1) })
			dl := s.streamMessages(bus.StreamDLQ)[before]
			reason := dl.header.Get(bus.HeaderDLQReason)
			if !strings.Contains(reason, tc.reason) {
				t.Errorf("dead-letter reason %q does not name %q", reason, tc.reason)
			}
			if strings.Contains(reason, email) {
				t.Errorf("the reason carries a personal value")
			}
			if dl.subject != bus.DLQSubject(bus.StreamInbox) || dl.header.Get(bus.HeaderDLQSubject) != tc.subject {
				t.Errorf("dead letter on %s from %s", dl.subject, dl.header.Get(bus.HeaderDLQSubject))
			}
		})
	}
	if n := len(s.activity()); n != 2 {
		t.Errorf("%d events on LETHE_ACTIVITY, want only the 2 valid ones", n)
	}
	if strings.Contains(s.logs.String(), email) {
		t.Errorf("a personal value is in the logs")
	}
}

func TestInboxEventForDestroyedContactIsForwardedWithoutPersonalFields(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	if err := s.sealer.Destroy(context.Background(), instA, "c-gone"); err != nil {
		t.Fatal(err)
	}
	publishInbox(t, s, bus.InboxSubject(instA), mustEvent(t, instA, "c-gone", profileCreated("late@mail.example", "Late", "Comer")), false)
	testkit.Eventually(t, "the event forwarded", func() error { return testkit.Equal("events", len(s.activity()), 1) })
	if p := profileOf(t, s.activity()[0].event); p.Email != nil || p.LastName != nil || str(p.Company) != "ACME SARL" {
		t.Errorf("email %s last name %s company %s", str(p.Email), str(p.LastName), str(p.Company))
	}
}

// Routes are Register's alone (before anything runs); Run forwards the inbox, says so once
// its consumer pulls, and says it no longer runs once cancelled.
func TestRunForwardsTheInboxUntilCancelledAndRegisterServesTheRoute(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{noInbox: true})
	svc, err := New(s.deps)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	hs := httptestServer(t, mux)
	req, _ := http.NewRequest(http.MethodPost, hs+"/v1/events", strings.NewReader(""))
	req.Header.Set("Content-Type", events.MediaTypeBatch)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /v1/events without a token through Register's route, before Run: %d, want 401", resp.StatusCode)
	}
	if got := svc.NotRunning(); !slices.Equal(got, []string{bus.DurableInbox}) {
		t.Errorf("before Run, NotRunning = %v, want the inbox consumer", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	publishInbox(t, s, bus.InboxSubject(instA), mustEvent(t, instA, "c-run", click("camp-1")), false)
	testkit.Eventually(t, "the inbox event forwarded by Run", func() error { return testkit.Equal("events", len(s.activity()), 1) })
	if got := svc.NotRunning(); len(got) != 0 {
		t.Errorf("while Run forwards, NotRunning = %v, want none", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
	if got := svc.NotRunning(); !slices.Equal(got, []string{bus.DurableInbox}) {
		t.Errorf("after Run, NotRunning = %v, want the inbox consumer", got)
	}
}
