package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/server"
)

// busUsersYAML is a lethe.yaml declaring an upstream publisher and a downstream consumer.
func busUsersYAML(t *testing.T, users ...config.BusUser) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("bus:\n  users:\n")
	for _, u := range users {
		fmt.Fprintf(&b, "    - {name: %s, role: %s, institutions: [%s], password_bcrypt: '%s'}\n",
			u.Name, u.Role, strings.Join(u.Institutions, ", "), u.PasswordBcrypt)
	}
	path := filepath.Join(t.TempDir(), "lethe.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// forgedMessages are what issue 12 published on the bus, as structured CloudEvents: an erase
// command for a contact, and an unsealed contact.created straight on LETHE_ACTIVITY.
func forgedMessages(t *testing.T) map[string]*nats.Msg {
	t.Helper()
	cmd, err := retention.Command{Institution: "inst-a", ContactID: "c-victim", RequestID: "forged", AsOf: time.Now().Add(-time.Hour)}.Event("/forger", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	created, err := events.New("/forger", "inst-a", "c-forged", events.ContactCreated{
		Role: "individual", CreatedAt: time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC),
		Profile: events.Profile{Email: events.String("victim@example.org")},
	}, events.WithID("forged-created"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*nats.Msg{}
	for subject, e := range map[string]event.Event{
		bus.CommandSubject("inst-a", retention.CommandKind):      cmd,
		bus.ActivitySubject("inst-a", events.TypeContactCreated): created,
	} {
		m := nats.NewMsg(subject)
		if m.Data, err = e.MarshalJSON(); err != nil {
			t.Fatal(err)
		}
		m.Header.Set("Content-Type", "application/cloudevents+json")
		out[subject] = m
	}
	return out
}

// The finding of issue 12: against a real `lethe serve`, a connection without credentials is
// refused, and a publisher's forged command and unsealed activity never reach a stream, so
// neither the anonymiser nor the projection ever sees them; the publisher's own inbox works.
func TestServeBusRefusesForgedCommandsAndUnsealedActivity(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	publisher := bustest.BusUser(t, "ticketing", config.RolePublisher, "pub-pw", "inst-a")
	crm := bustest.BusUser(t, "crm-a", config.RoleConsumer, "crm-pw", "inst-a")
	s := startServe(t, dir, "--config", busUsersYAML(t, publisher, crm))
	forged := forgedMessages(t)

	// 1. Without credentials: refused, so nothing can be published at all.
	if nc, err := nats.Connect(s.nats, nats.MaxReconnects(0)); err == nil {
		for _, m := range forged {
			_ = nc.PublishMsg(m)
		}
		_ = nc.Flush()
		nc.Close()
		t.Error("lethe serve's NATS accepted a connection without credentials (and its forged messages)")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connect without credentials: %v, want an authorization violation", err)
	}

	// 2. As the publisher: its forged messages are refused, its own inbox accepts events.
	pub, err := bustest.ConnectAs(t, s.nats, "ticketing", "pub-pw")
	if err != nil {
		t.Fatalf("connect as the publisher: %v", err)
	}
	for subject, m := range forged {
		if err := pub.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		pub.Refused(t, "Publish", subject)
	}
	e, err := events.New("/ticketing", "inst-a", "c-inbox", events.ContactCreated{Role: "individual", CreatedAt: time.Date(2021, 3, 4, 0, 0, 0, 0, time.UTC)}, events.WithID("inbox-1"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := bus.NewPublisher(bustest.JetStream(t, pub.Conn))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(context.Background(), bus.InboxSubject("inst-a"), e); err != nil {
		t.Fatalf("publish to its own inbox: %v", err)
	}
	if c := waitContact(t, s.http+"/v1/institutions/inst-a/contacts/c-inbox", s.token); c["recency"] != "2021-03-04T00:00:00Z" {
		t.Fatalf("the inbox event reached the projection as %v", c)
	}

	// 3. The forged messages are nowhere: LETHE_COMMANDS is empty and the anonymiser's durable
	// was never handed a message; LETHE_ACTIVITY holds only what ingest forwarded from the
	// inbox, and the forged contact is unknown.
	svc, err := nats.Connect(s.bus)
	if err != nil {
		t.Fatalf("connect as the services: %v", err)
	}
	defer svc.Close()
	js := bustest.JetStream(t, svc)
	ctx := context.Background()
	if st := streamState(t, js, bus.StreamCommands); st.Msgs != 0 {
		t.Fatalf("LETHE_COMMANDS holds %d messages, want none", st.Msgs)
	}
	if cons, err := js.Consumer(ctx, bus.StreamCommands, bus.DurableCommands); err == nil && cons.CachedInfo().Delivered.Stream != 0 {
		t.Fatalf("the anonymiser was delivered %d commands, want none", cons.CachedInfo().Delivered.Stream)
	} else if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatal(err)
	}
	if st := streamState(t, js, bus.StreamActivity); st.Msgs != 1 {
		t.Fatalf("LETHE_ACTIVITY holds %d messages, want the inbox event only", st.Msgs)
	}
	if code, body := get(t, s.http+"/v1/institutions/inst-a/contacts/c-forged", s.token); code != http.StatusNotFound {
		t.Fatalf("the forged contact: %d %v, want 404", code, body)
	}

	// 4. The consumer reads inst-a's outcomes through its own durable, and cannot publish.
	c, err := bustest.ConnectAs(t, s.nats, "crm-a", "crm-pw")
	if err != nil {
		t.Fatalf("connect as the consumer: %v", err)
	}
	if _, err := bustest.JetStream(t, c.Conn).CreateOrUpdateConsumer(ctx, bus.StreamResults, jetstream.ConsumerConfig{
		Durable: "crm-a", FilterSubject: "lethe.result.inst-a.>", AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatalf("the consumer's durable: %v", err)
	}
	for subject, m := range forged {
		if err := c.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		c.Refused(t, "Publish", subject)
	}
	if st := streamState(t, js, bus.StreamCommands); st.Msgs != 0 {
		t.Fatalf("LETHE_COMMANDS holds %d messages after the consumer's attempt, want none", st.Msgs)
	}
}

func streamState(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamState {
	t.Helper()
	st, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return st.CachedInfo().State
}

func TestServeNATSCredentialFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LETHE_NATS_URL": "nats://x:4222", "LETHE_NATS_USER": "lethe", "LETHE_NATS_PASSWORD": "pw"}
	c, err := server.Parse(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || c.NATSUser != "lethe" || c.NATSPassword != "pw" {
		t.Fatalf("env twins: %v %+v", err, c)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"external server without credentials", []string{"--nats-url", "nats://x:4222"}, "--nats-url needs the services' credentials"},
		{"user without password", []string{"--nats-url", "nats://x:4222", "--nats-user", "lethe"}, "--nats-url needs the services' credentials"},
		{"both kinds", []string{"--nats-url", "nats://x:4222", "--nats-user", "lethe", "--nats-password", "pw", "--nats-creds", "f.creds"}, "not both"},
		{"credentials for the embedded server", []string{"--nats-user", "lethe", "--nats-password", "pw"}, "the embedded server generates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := server.Parse(tc.args, func(string) string { return "" }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	if _, err := server.Parse([]string{"--nats-url", "nats://x:4222", "--nats-creds", "f.creds"}, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatalf("a creds file: %v", err)
	}
}
