package bus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

const servicePassword = "service-password-for-tests"

// authSetup starts a server with the services' user and users, ensures the streams and
// returns the services' JetStream context.
func authSetup(t *testing.T, users ...config.BusUser) (*server.Server, jetstream.JetStream) {
	t.Helper()
	s, nc := bustest.RunAuthServer(t, servicePassword, users...)
	js := newJS(t, nc)
	if err := bus.EnsureStreams(context.Background(), js, bus.StreamsConfig{}); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	return s, js
}

func connectAs(t *testing.T, s *server.Server, user, password string) *bustest.Client {
	t.Helper()
	c, err := bustest.ConnectAs(t, s.ClientURL(), user, password)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	return c
}

// refusedCall runs call and waits until the server refuses its publish to subject; a call
// that succeeds instead fails the test at once.
func refusedCall(t *testing.T, c *bustest.Client, subject string, call func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	want := fmt.Sprintf("Permissions Violation for Publish to %q", subject)
	testkit.Eventually(t, want, func() error {
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("%s: allowed", subject)
			}
			done <- err // put back for the deferred wait
		default:
		}
		for _, v := range c.Violations() {
			if strings.Contains(v, want) {
				return nil
			}
		}
		return fmt.Errorf("violations so far: %q", c.Violations())
	})
}

// publishRefused publishes core messages to each subject and waits for each refusal.
func publishRefused(t *testing.T, c *bustest.Client, subjects ...string) {
	t.Helper()
	for _, subj := range subjects {
		if err := c.Publish(subj, []byte(`{"forged":true}`)); err != nil {
			t.Fatalf("publish %s: %v", subj, err)
		}
	}
	for _, subj := range subjects {
		c.Refused(t, "Publish", subj)
	}
}

func subscribeRefused(t *testing.T, c *bustest.Client, subjects ...string) {
	t.Helper()
	for _, subj := range subjects {
		if _, err := c.SubscribeSync(subj); err != nil {
			t.Fatalf("subscribe %s: %v", subj, err)
		}
		c.Refused(t, "Subscription", subj)
	}
}

func TestBusRefusesConnectionsWithoutCredentials(t *testing.T) {
	t.Parallel()
	s, _ := authSetup(t, bustest.BusUser(t, "ticketing", config.RolePublisher, "pub-pw", "inst-a"))

	// The finding: a plain connect used to succeed and could publish anywhere.
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(0))
	if err == nil {
		nc.Close()
		t.Fatal("a connection without credentials was accepted")
	}
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connect without credentials: %v, want an authorization violation", err)
	}
	for _, c := range []struct{ user, password string }{
		{"ticketing", "wrong"}, {bus.ServiceUser, "wrong"}, {"nobody", "pub-pw"}, {"ticketing", ""},
	} {
		if _, err := bustest.ConnectAs(t, s.ClientURL(), c.user, c.password, nats.MaxReconnects(0)); !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("connect as %s with a wrong password: %v, want an authorization violation", c.user, err)
		}
	}
	connectAs(t, s, "ticketing", "pub-pw")
	connectAs(t, s, bus.ServiceUser, servicePassword)
}

func TestPublisherReachesOnlyItsInstitutionsInbox(t *testing.T) {
	t.Parallel()
	s, svc := authSetup(t, bustest.BusUser(t, "ticketing", config.RolePublisher, "pub-pw", "inst-a", "inst-c"))
	pub := connectAs(t, s, "ticketing", "pub-pw")
	js := newJS(t, pub.Conn)

	for _, inst := range []string{"inst-a", "inst-c"} {
		if _, err := js.Publish(context.Background(), bus.InboxSubject(inst), []byte(`{}`)); err != nil {
			t.Fatalf("publish to its own inbox %s: %v", inst, err)
		}
	}
	publishRefused(t, pub,
		bus.InboxSubject("inst-b"),
		bus.ActivitySubject("inst-a", "lethe.contact.created.v1"),
		bus.CommandSubject("inst-a", "anonymise"),
		bus.ResultSubject("inst-a", "anonymised"),
		bus.DLQSubject(bus.StreamCommands),
		"$JS.API.STREAM.INFO."+bus.StreamInbox,
		"$JS.API.CONSUMER.CREATE."+bus.StreamResults+".ticketing",
	)
	subscribeRefused(t, pub, "lethe.>", "_INBOX.>", "_INBOX.crm-a.>", bus.InboxSubject("inst-a"))

	// Each refusal was reported after the server dropped its message, so the counts are final.
	for stream, want := range map[string]uint64{bus.StreamInbox: 2, bus.StreamActivity: 0, bus.StreamCommands: 0, bus.StreamResults: 0, bus.StreamDLQ: 0} {
		if got := streamMsgs(t, svc, stream); got != want {
			t.Errorf("%s holds %d messages, want %d", stream, got, want)
		}
	}
}

// A user speaking for a destination publishes its confirmations on its own subject of each
// of its institutions, and on no other destination's nor on another institution's; a
// publisher speaking for none has no confirmation subject at all.
func TestDestinationUserPublishesOnlyItsConfirmationSubjects(t *testing.T) {
	t.Parallel()
	crm := bustest.BusUser(t, "crm-a", config.RoleConsumer, "crm-pw", "inst-a", "inst-c")
	crm.Destination = "crm-a"
	s, svc := authSetup(t, crm, bustest.BusUser(t, "ticketing", config.RolePublisher, "pub-pw", "inst-a"))
	c := connectAs(t, s, "crm-a", "crm-pw")
	js := newJS(t, c.Conn)
	for _, inst := range []string{"inst-a", "inst-c"} {
		if _, err := js.Publish(context.Background(), bus.ConfirmationSubject(inst, "crm-a"), []byte(`{}`)); err != nil {
			t.Fatalf("publish a confirmation for %s: %v", inst, err)
		}
	}
	publishRefused(t, c, bus.ConfirmationSubject("inst-a", "crm-b"), bus.ConfirmationSubject("inst-b", "crm-a"), bus.InboxSubject("inst-a"))
	pub := connectAs(t, s, "ticketing", "pub-pw")
	publishRefused(t, pub, bus.ConfirmationSubject("inst-a", "crm-a"), bus.ConfirmationSubject("inst-a", "ticketing"))
	if got := streamMsgs(t, svc, bus.StreamInbox); got != 2 {
		t.Errorf("%s holds %d messages, want the 2 confirmations", bus.StreamInbox, got)
	}
}

func TestConsumerReadsOnlyItsDurablesOnResults(t *testing.T) {
	t.Parallel()
	s, svc := authSetup(t,
		bustest.BusUser(t, "crm-a", config.RoleConsumer, "crm-pw", "inst-a"),
		bustest.BusUser(t, "crm-b", config.RoleConsumer, "crm-b-pw", "inst-b"))
	ctx := context.Background()
	p := publisher(t, svc)
	for _, inst := range []string{"inst-a", "inst-b"} {
		e := newEvent("result-" + inst)
		e.SetExtension("institution", inst)
		if err := p.Publish(ctx, bus.ResultSubject(inst, "anonymised"), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Publish(ctx, bus.CommandSubject("inst-a", "anonymise"), newEvent("cmd-1")); err != nil {
		t.Fatal(err)
	}
	// Another user's durable, which crm-a must not touch.
	if _, err := svc.CreateOrUpdateConsumer(ctx, bus.StreamResults, jetstream.ConsumerConfig{
		Durable: "crm-b", FilterSubject: "lethe.result.inst-b.>", AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}

	crm := connectAs(t, s, "crm-a", "crm-pw")
	js := newJS(t, crm.Conn)
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("account info: %v", err)
	}
	if _, err := js.Stream(ctx, bus.StreamResults); err != nil {
		t.Fatalf("LETHE_RESULTS info: %v", err)
	}
	for _, durable := range []string{bus.ConsumerDurable("crm-a", ""), bus.ConsumerDurable("crm-a", "inst-a")} {
		cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamResults, jetstream.ConsumerConfig{
			Durable: durable, FilterSubject: "lethe.result.inst-a.>", AckPolicy: jetstream.AckExplicitPolicy,
		})
		if err != nil {
			t.Fatalf("create its durable %s: %v", durable, err)
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(30*time.Second))
		if err != nil {
			t.Fatalf("fetch %s: %v", durable, err)
		}
		var got []string
		for m := range batch.Messages() {
			got = append(got, m.Subject())
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := m.DoubleAck(actx); err != nil {
				t.Fatalf("ack on %s: %v", durable, err)
			}
			cancel()
		}
		if !reflect.DeepEqual(got, []string{bus.ResultSubject("inst-a", "anonymised")}) {
			t.Fatalf("%s read %v, want inst-a's one result", durable, got)
		}
		// Nothing else is pending for it: inst-b's result is outside its filter.
		if info, err := cons.Info(ctx); err != nil || info.NumAckPending != 0 || info.NumPending != 0 || info.Delivered.Consumer != 1 {
			t.Fatalf("%s info: %v %+v, want one delivery, acknowledged, and nothing pending", durable, err, info)
		}
	}
	if err := js.DeleteConsumer(ctx, bus.StreamResults, bus.ConsumerDurable("crm-a", "inst-a")); err != nil {
		t.Fatalf("delete its durable: %v", err)
	}

	create := func(stream string, cfg jetstream.ConsumerConfig) func(context.Context) error {
		return func(ctx context.Context) error {
			cfg.AckPolicy = jetstream.AckExplicitPolicy
			_, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
			return err
		}
	}
	refusals := []struct {
		name, subject string
		call          func(context.Context) error
	}{
		{"another institution's filter", "$JS.API.CONSUMER.CREATE.LETHE_RESULTS.crm-a.lethe.result.inst-b.>",
			create(bus.StreamResults, jetstream.ConsumerConfig{Durable: "crm-a", FilterSubject: "lethe.result.inst-b.>"})},
		{"every institution's filter", "$JS.API.CONSUMER.CREATE.LETHE_RESULTS.crm-a.lethe.result.>",
			create(bus.StreamResults, jetstream.ConsumerConfig{Durable: "crm-a", FilterSubject: "lethe.result.>"})},
		{"unfiltered", "$JS.API.CONSUMER.CREATE.LETHE_RESULTS.crm-a",
			create(bus.StreamResults, jetstream.ConsumerConfig{Durable: "crm-a"})},
		{"several filters", "$JS.API.CONSUMER.CREATE.LETHE_RESULTS.crm-a_inst-a",
			create(bus.StreamResults, jetstream.ConsumerConfig{Durable: "crm-a_inst-a", FilterSubjects: []string{"lethe.result.inst-a.>", "lethe.result.inst-b.>"}})},
		{"its name with another institution", "$JS.API.CONSUMER.CREATE.LETHE_RESULTS.crm-a_inst-b.lethe.result.inst-a.>",
			create(bus.StreamResults, jetstream.ConsumerConfig{Durable: "crm-a_inst-b", FilterSubject: "lethe.result.inst-a.>"})},
		{"an ephemeral", "$JS.API.CONSUMER.CREATE.LETHE_RESULTS.eph.lethe.result.inst-a.>",
			create(bus.StreamResults, jetstream.ConsumerConfig{Name: "eph", FilterSubject: "lethe.result.inst-a.>"})},
		{"another user's durable: update", "$JS.API.CONSUMER.CREATE.LETHE_RESULTS.crm-b.lethe.result.inst-b.>",
			create(bus.StreamResults, jetstream.ConsumerConfig{Durable: "crm-b", FilterSubject: "lethe.result.inst-b.>"})},
		{"another user's durable: info", "$JS.API.CONSUMER.INFO.LETHE_RESULTS.crm-b",
			func(ctx context.Context) error { _, err := js.Consumer(ctx, bus.StreamResults, "crm-b"); return err }},
		{"another user's durable: delete", "$JS.API.CONSUMER.DELETE.LETHE_RESULTS.crm-b",
			func(ctx context.Context) error { return js.DeleteConsumer(ctx, bus.StreamResults, "crm-b") }},
		{"another user's durable: next", "$JS.API.CONSUMER.MSG.NEXT.LETHE_RESULTS.crm-b",
			func(ctx context.Context) error {
				_, err := crm.RequestWithContext(ctx, "$JS.API.CONSUMER.MSG.NEXT.LETHE_RESULTS.crm-b", []byte(`{"batch":1}`))
				return err
			}},
		{"LETHE_ACTIVITY info", "$JS.API.STREAM.INFO.LETHE_ACTIVITY",
			func(ctx context.Context) error { _, err := js.Stream(ctx, bus.StreamActivity); return err }},
		{"LETHE_ACTIVITY consumer", "$JS.API.CONSUMER.CREATE.LETHE_ACTIVITY.crm-a.lethe.activity.inst-a.>",
			create(bus.StreamActivity, jetstream.ConsumerConfig{Durable: "crm-a", FilterSubject: "lethe.activity.inst-a.>"})},
		{"LETHE_COMMANDS consumer", "$JS.API.CONSUMER.CREATE.LETHE_COMMANDS.crm-a.lethe.command.inst-a.>",
			create(bus.StreamCommands, jetstream.ConsumerConfig{Durable: "crm-a", FilterSubject: "lethe.command.inst-a.>"})},
		{"LETHE_DLQ consumer", "$JS.API.CONSUMER.CREATE.LETHE_DLQ.crm-a.lethe.dlq.>",
			create(bus.StreamDLQ, jetstream.ConsumerConfig{Durable: "crm-a", FilterSubject: "lethe.dlq.>"})},
		{"LETHE_ERASURES consumer", "$JS.API.CONSUMER.CREATE.LETHE_ERASURES.crm-a.lethe.erasure.inst-a",
			create(bus.StreamErasures, jetstream.ConsumerConfig{Durable: "crm-a", FilterSubject: "lethe.erasure.inst-a"})},
		{"LETHE_ERASURES info", "$JS.API.STREAM.INFO.LETHE_ERASURES",
			func(ctx context.Context) error { _, err := js.Stream(ctx, bus.StreamErasures); return err }},
		{"LETHE_COMMANDS message", "$JS.API.STREAM.MSG.GET.LETHE_COMMANDS",
			func(ctx context.Context) error {
				_, err := crm.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.LETHE_COMMANDS", []byte(`{"seq":1}`))
				return err
			}},
		{"LETHE_ACTIVITY direct get", "$JS.API.DIRECT.GET.LETHE_ACTIVITY",
			func(ctx context.Context) error {
				_, err := crm.RequestWithContext(ctx, "$JS.API.DIRECT.GET.LETHE_ACTIVITY", []byte(`{"seq":1}`))
				return err
			}},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) { refusedCall(t, crm, r.subject, r.call) })
	}
	publishRefused(t, crm,
		bus.InboxSubject("inst-a"),
		bus.CommandSubject("inst-a", "anonymise"),
		bus.ErasureSubject("inst-a"),
		"$JS.ACK.LETHE_COMMANDS.anonymiser.1.1.1.0.0",
		"$JS.ACK.LETHE_RESULTS.crm-b.1.1.1.0.0")
	subscribeRefused(t, crm, "lethe.result.inst-a.>", "lethe.>", "_INBOX.>", "_INBOX.crm-b.>")

	// Nothing the refusals aimed at changed: crm-b's durable is intact, no other consumer exists.
	if info, err := svc.Consumer(ctx, bus.StreamResults, "crm-b"); err != nil || info.CachedInfo().Config.FilterSubject != "lethe.result.inst-b.>" {
		t.Fatalf("crm-b's durable after the refusals: %v", err)
	}
	for _, stream := range []string{bus.StreamActivity, bus.StreamCommands, bus.StreamDLQ, bus.StreamErasures} {
		st, err := svc.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if n := st.CachedInfo().State.Consumers; n != 0 {
			t.Errorf("%s has %d consumers, want none", stream, n)
		}
	}
}

// TestDeployNATSConfigGrantsWhatServerUsersGrants loads deploy/nats/nats.conf with
// nats-server's own parser: the compose topology must give each user exactly the permissions
// the embedded server gives it.
func TestDeployNATSConfigGrantsWhatServerUsersGrants(t *testing.T) {
	t.Setenv("LETHE_NATS_PASSWORD", "compose-service-password")
	path := filepath.Join("..", "..", "deploy", "nats", "nats.conf")
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server refuses %s: %v", path, err)
	}
	if !opts.JetStream {
		t.Error("JetStream is not enabled")
	}
	if opts.NoAuthUser != "" {
		t.Errorf("no_auth_user %q lets connections in without credentials", opts.NoAuthUser)
	}
	// The example users of nats.conf are those of the example lethe.yaml, with the same
	// password hashes.
	example, err := config.Load(filepath.Join("..", "..", "deploy", "config", "lethe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]config.BusUser{}
	for _, u := range example.Bus.Users {
		declared[u.Name] = u
	}
	var users []config.BusUser
	var servicePassword string
	for _, u := range opts.Users {
		if u.Username == bus.ServiceUser {
			servicePassword = u.Password
			if u.Permissions != nil {
				t.Errorf("the services' user has permissions %+v, want all", u.Permissions)
			}
			continue
		}
		d, ok := declared[u.Username]
		if !ok {
			t.Errorf("nats.conf declares user %q, which this test does not know", u.Username)
			continue
		}
		if d.PasswordBcrypt != u.Password {
			t.Errorf("%s: nats.conf's password hash is not deploy/config/lethe.yaml's", u.Username)
		}
		users = append(users, d)
	}
	if servicePassword != "compose-service-password" {
		t.Errorf("the services' password is %q, want it from LETHE_NATS_PASSWORD", servicePassword)
	}
	if len(users) != len(declared) {
		t.Fatalf("nats.conf has %d of the %d example users", len(users), len(declared))
	}
	want, err := bus.ServerUsers("x", users)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*server.User{}
	for _, u := range opts.Users {
		byName[u.Username] = u
	}
	for _, w := range want[1:] {
		got := byName[w.Username]
		if !reflect.DeepEqual(got.Permissions, w.Permissions) {
			t.Errorf("%s: nats.conf grants\n  publish %+v\n  subscribe %+v\nbus.ServerUsers grants\n  publish %+v\n  subscribe %+v",
				w.Username, got.Permissions.Publish, got.Permissions.Subscribe, w.Permissions.Publish, w.Permissions.Subscribe)
		}
		if _, err := config.Parse([]byte(fmt.Sprintf("bus:\n  users:\n    - {name: %s, role: %s, institutions: [inst-a], password_bcrypt: '%s'}\n",
			w.Username, declared[w.Username].Role, got.Password))); err != nil {
			t.Errorf("%s: its password in nats.conf is not one lethe.yaml accepts: %v", w.Username, err)
		}
	}
}
