package ingest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// Canaries of the dead-letter tests: personal values an upstream sent in clear.
const (
	dlEmail = "dlq-canary-5a3b@mail.example"
	dlFirst = "Dlqcanaryfirst"
	dlLast  = "Dlqcanarylast"
)

var dlCanaries = []string{dlEmail, dlFirst, dlLast}

// assertNoCanary fails if a canary is anywhere in the raw stored message: body or headers.
func assertNoCanary(t *testing.T, m stored) {
	t.Helper()
	for _, c := range dlCanaries {
		if bytes.Contains(m.raw, []byte(c)) {
			t.Errorf("the dead letter's body holds %q in clear", c)
		}
		for k, vs := range m.header {
			for _, v := range vs {
				if strings.Contains(v, c) {
					t.Errorf("the dead letter's header %s holds %q in clear", k, c)
				}
			}
		}
	}
}

// nextDeadLetter publishes msg on the inbox and returns the dead letter it becomes.
func nextDeadLetter(t *testing.T, s *stack, msg *nats.Msg) stored {
	t.Helper()
	before := len(s.streamMessages(bus.StreamDLQ))
	if _, err := s.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "a dead letter", func() error { return testkit.Equal("dead letters", len(s.streamMessages(bus.StreamDLQ)), before+1) })
	return s.streamMessages(bus.StreamDLQ)[before]
}

// binaryMsg is e in binary mode as an upstream would publish it, with an extension and a
// header of its own holding a canary.
func binaryMsg(t *testing.T, subject string, e event.Event) *nats.Msg {
	t.Helper()
	e.SetExtension("note", "call "+dlFirst)
	msg := &nats.Msg{Subject: subject, Header: nats.Header{"X-Customer": {dlEmail}}}
	var err error
	if msg.Data, err = events.WriteBinary(e, msg.Header.Set); err != nil {
		t.Fatal(err)
	}
	return msg
}

// sealedProfile decodes a sealed dead letter and returns its profile.
func sealedProfile(t *testing.T, dl stored) events.Profile {
	t.Helper()
	if !strings.HasPrefix(dl.header.Get(bus.HeaderContentType), bus.ContentTypeStructured) {
		t.Fatalf("the dead letter is not a structured event: %v", dl.header)
	}
	e, err := bus.DecodeEvent(dl.header, dl.raw)
	if err != nil {
		t.Fatalf("the sealed dead letter does not decode: %v", err)
	}
	d, _ := events.DecodePartial(e)
	c, ok := d.(*events.ContactCreated)
	if !ok {
		t.Fatalf("dead letter data %T", d)
	}
	return c.Profile
}

func TestInboxDeadLetterIsSealedWithTheContactsKeyAndErasedWithIt(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	ctx := context.Background()
	// Invalid (no such role) but readable: institution, contact and type are known.
	bad := rawEvent("bad-sealed", events.TypeContactCreated, instA, "c-dl", map[string]any{
		"role": "emperor", "created_at": baseTime.Format(time.RFC3339),
		"profile": map[string]any{"email": dlEmail, "first_name": dlFirst, "last_name": dlLast, "company": "ACME SARL",
			"nickname": dlFirst}, // an unknown member: dropped, not kept in clear
	})
	dl := nextDeadLetter(t, s, binaryMsg(t, bus.InboxSubject(instA), bad))
	assertNoCanary(t, dl)
	if r := dl.header.Get(bus.HeaderDLQReason); !strings.Contains(r, "/data/role") {
		t.Errorf("reason %q does not name the bad member", r)
	}
	if d := dl.header.Get(bus.HeaderDLQDropped); !strings.Contains(d, "3 personal values sealed") {
		t.Errorf("%s = %q", bus.HeaderDLQDropped, d)
	}
	p := sealedProfile(t, dl)
	for field, v := range map[string]*string{"profile.email": p.Email, "profile.first_name": p.FirstName, "profile.last_name": p.LastName} {
		if got, err := s.sealer.Open(ctx, instA, "c-dl", field, str(v)); err != nil || !strings.HasPrefix(got, "Dlq") && got != dlEmail {
			t.Errorf("%s does not open with the contact's key to the value sent: %v", field, err)
		}
	}
	if str(p.Company) != "ACME SARL" {
		t.Errorf("the company stays clear, got %q", str(p.Company))
	}

	// Erasing the contact reaches the dead letter: its sealed values no longer open.
	if err := s.sealer.Destroy(ctx, instA, "c-dl"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sealer.Open(ctx, instA, "c-dl", "profile.email", str(p.Email)); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Fatalf("after the key's destruction the dead letter opens: %v", err)
	}
	// A dead letter for the erased contact drops its personal values instead.
	bad.SetID("bad-after-erasure")
	dl = nextDeadLetter(t, s, binaryMsg(t, bus.InboxSubject(instA), bad))
	assertNoCanary(t, dl)
	if p := sealedProfile(t, dl); p.Email != nil || p.FirstName != nil || p.LastName != nil {
		t.Errorf("an erased contact's dead letter keeps personal values: %v %v %v", str(p.Email), str(p.FirstName), str(p.LastName))
	}
	if d := dl.header.Get(bus.HeaderDLQDropped); !strings.Contains(d, "dropped: the contact's key was destroyed") {
		t.Errorf("%s = %q", bus.HeaderDLQDropped, d)
	}
	if strings.Contains(s.logs.String(), dlEmail) || strings.Contains(s.logs.String(), dlFirst) {
		t.Error("a personal value is in the logs")
	}
}

// What cannot be read far enough to know whose key to use loses its body and headers.
func TestInboxDeadLetterThatCannotBeSealedIsDropped(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	profile := map[string]any{"email": dlEmail, "first_name": dlFirst, "last_name": dlLast}
	undecodable := &nats.Msg{Subject: bus.InboxSubject(instA), Header: nats.Header{
		"ce-specversion": {"1.0"}, "ce-id": {"u-1"}, "ce-source": {source}, "ce-type": {events.TypeContactCreated},
		"ce-subject": {"c-1"}, "ce-institution": {instA}, "ce-time": {dlEmail}}, Data: []byte(`{"profile":{"email":"` + dlEmail + `"}}`)}
	for _, tc := range []struct {
		name   string
		msg    *nats.Msg
		reason string // what the reason must name
		why    string // what the dead letter says it could not read
	}{
		{"unknown type", binaryMsg(t, bus.InboxSubject(instA),
			rawEvent("u-2", "lethe.contact.teleported.v1", instA, "c-1", map[string]any{"profile": profile})), "/type", "type Lethe knows"},
		{"the contact is not an id", binaryMsg(t, bus.InboxSubject(instA),
			rawEvent("u-3", events.TypeContactCreated, instA, dlFirst+"/"+dlLast, map[string]any{"role": "individual", "profile": profile})),
			"/subject", "contact could not be read"},
		{"another institution's subject", binaryMsg(t, bus.InboxSubject(instB),
			mustEvent(t, instA, "c-1", profileCreated(dlEmail, dlFirst, dlLast))), "institution", "differs from its inbox subject"},
		{"not a CloudEvent", undecodable, "ce-time", "not a CloudEvent"},
		{"structured garbage", &nats.Msg{Subject: bus.InboxSubject(instA), Header: nats.Header{"content-type": {events.MediaTypeStructured}},
			Data: []byte(`{"specversion":"1.0","data":{"email":"` + dlEmail + `"`)}, "structured mode", "not a CloudEvent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dl := nextDeadLetter(t, s, tc.msg)
			assertNoCanary(t, dl)
			if len(dl.raw) != 0 {
				t.Errorf("the body was kept: %q", dl.raw)
			}
			if d := dl.header.Get(bus.HeaderDLQDropped); !strings.Contains(d, "bytes") || !strings.Contains(d, tc.why) {
				t.Errorf("%s = %q, want the size and %q", bus.HeaderDLQDropped, d, tc.why)
			}
			if r := dl.header.Get(bus.HeaderDLQReason); !strings.Contains(r, tc.reason) {
				t.Errorf("reason %q does not name %q", r, tc.reason)
			}
			for k := range dl.header {
				if strings.HasPrefix(strings.ToLower(k), "ce-") || k == "X-Customer" {
					t.Errorf("header %s was kept", k)
				}
			}
		})
	}
}

// A pointer names a member by its key, and an upstream can put anything in a custom field's key.
func TestInboxDeadLetterReasonMasksKeysThatAreNotNames(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	bad := rawEvent("bad-key", events.TypeContactCreated, instA, "c-key", map[string]any{
		"role": "individual", "created_at": baseTime.Format(time.RFC3339),
		"profile": map[string]any{"custom": map[string]any{dlEmail: "x"}},
	})
	dl := nextDeadLetter(t, s, binaryMsg(t, bus.InboxSubject(instA), bad))
	assertNoCanary(t, dl)
	if r := dl.header.Get(bus.HeaderDLQReason); !strings.Contains(r, "/data/profile/custom/*") {
		t.Errorf("reason %q, want the masked pointer", r)
	}
	for _, sp := range s.spans.Ended() {
		if strings.Contains(sp.Status().Description, dlEmail) {
			t.Errorf("span %s carries the key in its status", sp.Name())
		}
	}
}

// A message the inbox's consumers gave up on without dead-lettering it (a crash holding it,
// deliveries exhausted) goes through the same sealing from the max-deliveries advisory.
func TestInboxAdvisoryDeadLetterIsSealed(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{noInbox: true})
	ctx := context.Background()
	cons, err := s.js.CreateOrUpdateConsumer(ctx, bus.StreamInbox, jetstream.ConsumerConfig{
		Durable: "crashy", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 1, AckWait: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	base := s.nc.NumSubscriptions()
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- bus.WatchDeadLetters(wctx, s.js, bus.StreamInbox, "crashy", s.svc.inboxOptions()...) }()
	t.Cleanup(func() { cancel(); <-done })
	testkit.Eventually(t, "the watcher's subscriptions", func() error { return testkit.AtLeast("subscriptions", s.nc.NumSubscriptions(), base+2) })

	// A valid event: only the crash makes it a dead letter.
	e := mustEvent(t, instA, "c-crash", profileCreated(dlEmail, dlFirst, dlLast))
	if _, err := s.js.PublishMsg(ctx, binaryMsg(t, bus.InboxSubject(instA), e)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the dead letter", func() error {
		if batch, err := cons.Fetch(1, jetstream.FetchMaxWait(150*time.Millisecond)); err == nil {
			for range batch.Messages() { // fetched, never acked: the consumer "crashed"
			}
		}
		return testkit.Equal("dead letters", len(s.streamMessages(bus.StreamDLQ)), 1)
	})
	dl := s.streamMessages(bus.StreamDLQ)[0]
	assertNoCanary(t, dl)
	if r := dl.header.Get(bus.HeaderDLQReason); !strings.Contains(r, "max deliveries") {
		t.Errorf("reason %q", r)
	}
	p := sealedProfile(t, dl)
	if got, err := s.sealer.Open(ctx, instA, "c-crash", "profile.email", str(p.Email)); err != nil || got != dlEmail {
		t.Fatalf("the advisory's dead letter is not sealed with the contact's key: %v", err)
	}
	if err := s.sealer.Destroy(ctx, instA, "c-crash"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sealer.Open(ctx, instA, "c-crash", "profile.email", str(p.Email)); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Fatalf("after the key's destruction the dead letter opens: %v", err)
	}
}
