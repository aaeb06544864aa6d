package anonymiser

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

const inst = "inst-a"

var (
	asOf    = time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	longAgo = time.Date(2019, 3, 1, 10, 0, 0, 0, time.UTC)
	now     = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
)

// rig is the anonymiser on a real store, a real sealer and a real embedded JetStream.
type rig struct {
	t      *testing.T
	st     store.Store
	sealer *seal.Sealer
	js     jetstream.JetStream
	svc    *Service
}

// rigTokens are the bearer tokens the rig's routes accept.
var rigTokens = []config.Token{
	{Name: "dpo", SHA256: sha256hex("dpo-token"), Institutions: []string{inst}, Scopes: []string{config.ScopeErase, config.ScopeRead}},
	{Name: "reader", SHA256: sha256hex("read-token"), Institutions: []string{inst}, Scopes: []string{config.ScopeRead}},
	{Name: "other", SHA256: sha256hex("other-token"), Institutions: []string{"inst-b"}, Scopes: []string{config.ScopeErase, config.ScopeRead}},
	{Name: "everywhere", SHA256: sha256hex("all-token"), Institutions: []string{config.AnyInstitution}, Scopes: []string{config.ScopeErase}},
}

func newRig(t *testing.T, st store.Store) *rig {
	t.Helper()
	_, js := platformtest.Bus(t)
	d := platformtest.Deps(t, js, st, config.File{Tokens: rigTokens})
	svc, err := New(d, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, st: st, sealer: d.Sealer, js: js, svc: svc}
}

// contact stores a contact in scope, inactive since 2019, with a sealed e-mail; customer makes
// it a customer (anonymise), otherwise a prospect (delete).
func (r *rig) contact(id string, customer bool, change func(*store.Contact)) store.Contact {
	r.t.Helper()
	ctx := context.Background()
	sealed, err := r.sealer.Seal(ctx, inst, id, "profile.email", id+"@mail.example")
	if err != nil {
		r.t.Fatal(err)
	}
	src := store.Source{EventID: id + "-created", Type: events.TypeContactCreated, At: longAgo}
	c := store.Contact{Institution: inst, ID: id, Status: store.StatusActive, Created: true, Role: "individual",
		CreatedAt: longAgo, CreatedSource: src, Recency: longAgo, RecencySource: src, Customer: customer,
		Profile: map[string]store.Field{
			"email":           {Value: sealed, Sealed: true, Source: src},
			"address.country": {Value: "FR", Source: src},
		}}
	if change != nil {
		change(&c)
	}
	stored, err := r.st.Contacts().Put(ctx, c)
	if err != nil {
		r.t.Fatal(err)
	}
	return stored
}

func runCommand(runID, contact, planned string) retention.Command {
	return retention.Command{Institution: inst, ContactID: contact, RunID: runID, Planned: planned, AsOf: asOf, InactivityMonths: 36}
}

// planItem stores the run item a command comes from, and its execute run unless stored
// already, as the scheduler would before it queues the command.
func (r *rig) planItem(cmd retention.Command) {
	r.t.Helper()
	run := store.Run{ID: cmd.RunID, Institution: inst, Mode: store.ModeExecute, AsOf: cmd.AsOf, InactivityMonths: cmd.InactivityMonths,
		State: store.RunExecuting, Queued: true, CreatedAt: asOf, UpdatedAt: asOf}
	if err := r.st.Runs().Create(context.Background(), run); err != nil && !errors.Is(err, store.ErrExists) {
		r.t.Fatal(err)
	}
	if err := r.st.RunItems().Put(context.Background(), []store.RunItem{{Institution: inst, RunID: cmd.RunID,
		ContactID: cmd.ContactID, Outcome: cmd.Planned, Recency: longAgo}}); err != nil {
		r.t.Fatal(err)
	}
}

// results reads every outcome published on LETHE_RESULTS so far.
func (r *rig) results() []event.Event {
	r.t.Helper()
	var out []event.Event
	for _, m := range bustest.Stored(r.t, r.js, bus.StreamResults) {
		e, err := bus.DecodeEvent(m.Header, m.Data)
		if err != nil {
			r.t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func (r *rig) auditEntries() []store.AuditEntry {
	r.t.Helper()
	var out []store.AuditEntry
	if err := r.st.Audit().Scan(context.Background(), 0, func(e store.AuditEntry) error {
		out = append(out, e)
		return nil
	}); err != nil {
		r.t.Fatal(err)
	}
	return out
}

func TestEachStepIsIdempotentAcrossCrashes(t *testing.T) {
	t.Parallel()
	steps := []string{"erased", "key_destroyed", "audited", "published"}
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st)
		ctx := context.Background()
		for i, step := range steps {
			for _, customer := range []bool{true, false} {
				id := fmt.Sprintf("c-%d-%v", i, customer)
				r.contact(id, customer, nil)
				planned := store.OutcomeDelete
				if customer {
					planned = store.OutcomeAnonymise
				}
				cmd := runCommand("run-1", id, planned)
				r.planItem(cmd)

				// The first delivery dies right after the step; the redelivery, and a spurious
				// third delivery after success, must finish the job exactly once.
				crash := errors.New("crash after " + step)
				r.svc.failAfter = func(s, cmdID string) error {
					if s == step && cmdID == cmd.CommandID() {
						return crash
					}
					return nil
				}
				if _, err := r.svc.Execute(ctx, cmd); !errors.Is(err, crash) {
					t.Fatalf("%s: first delivery returned %v, want the injected crash", id, err)
				}
				r.svc.failAfter = nil
				for attempt := range 2 {
					res, err := r.svc.Execute(ctx, cmd)
					if err != nil {
						t.Fatalf("%s: delivery %d after the crash: %v", id, attempt+2, err)
					}
					want := map[bool]string{true: OutcomeAnonymised, false: OutcomeDeleted}[customer]
					if res.Outcome != want {
						t.Fatalf("%s: outcome %q, want %q", id, res.Outcome, want)
					}
				}
			}
		}
		// Exactly once each: one audit entry, one outcome event, one erasure, no key.
		entries := r.auditEntries()
		perContact := map[string]int{}
		for _, e := range entries {
			perContact[e.ContactID]++
		}
		outcomes := map[string]int{}
		for _, e := range r.results() {
			outcomes[e.Subject()]++
		}
		for i := range steps {
			for _, customer := range []bool{true, false} {
				id := fmt.Sprintf("c-%d-%v", i, customer)
				if perContact[id] != 1 || outcomes[id] != 1 {
					t.Errorf("%s: %d audit entries and %d outcome events, want 1 and 1", id, perContact[id], outcomes[id])
				}
				c, err := st.Contacts().Get(ctx, inst, id)
				if err != nil {
					t.Fatal(err)
				}
				wantStatus := map[bool]store.Status{true: store.StatusAnonymised, false: store.StatusDeleted}[customer]
				if c.Status != wantStatus || c.ErasedBy != "run:run-1" {
					t.Errorf("%s: status %s by %q", id, c.Status, c.ErasedBy)
				}
				if _, err := r.sealer.ForRead(ctx, inst, id); !errors.Is(err, seal.ErrKeyDestroyed) {
					t.Errorf("%s: key still readable (%v)", id, err)
				}
				items, _ := st.RunItems().ForContact(ctx, inst, id)
				if len(items) != 1 || items[0].Result == "" {
					t.Errorf("%s: run item %+v, want its result recorded", id, items)
				}
			}
		}
		if _, err := audit.Verify(ctx, st.Audit()); err != nil {
			t.Fatalf("audit chain after the crashes: %v", err)
		}
	})
}

func TestRecheckAtExecution(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st)
		ctx := context.Background()
		recent := store.Source{EventID: "click", Type: events.TypeCampaignLinkClicked, At: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
		cases := []struct {
			id       string
			customer bool
			change   func(*store.Contact)
			planned  string
			outcome  string
			reason   string
			fields   []string
		}{
			{id: "became-active", customer: true, planned: store.OutcomeAnonymise, outcome: OutcomeSkipped, reason: retention.ReasonBecameActive,
				change: func(c *store.Contact) { c.Activity, c.Recency, c.RecencySource = recent, recent.At, recent }},
			{id: "debt", customer: true, planned: store.OutcomeAnonymise, outcome: OutcomeSkipped, reason: retention.ReasonDebt,
				change: func(c *store.Contact) { c.Balance = store.Balance{Amount: -100, Currency: "EUR"} }},
			{id: "credit", planned: store.OutcomeDelete, outcome: OutcomeSkipped, reason: retention.ReasonCredit,
				change: func(c *store.Contact) { c.Balance = store.Balance{Amount: 100, Currency: "EUR"} }},
			{id: "subscribed", customer: true, planned: store.OutcomeAnonymise, outcome: OutcomeSkipped, reason: retention.ReasonActiveSubscription,
				change: func(c *store.Contact) { c.Subscriptions = map[string]store.Subscription{"s": {Status: "active"}} }},
			{id: "held", planned: store.OutcomeDelete, outcome: OutcomeSkipped, reason: retention.ReasonLegalHold,
				change: func(c *store.Contact) { c.LegalHold = store.LegalHold{Held: true} }},
			{id: "structure", planned: store.OutcomeDelete, outcome: OutcomeSkipped, reason: retention.ReasonNotInScope,
				change: func(c *store.Contact) { c.Role = "structure" }},
			{id: "now-customer", customer: true, planned: store.OutcomeDelete, outcome: OutcomeAnonymised, fields: []string{"profile.email"}},
		}
		for _, tc := range cases {
			before := r.contact(tc.id, tc.customer, tc.change)
			cmd := runCommand("run-2", tc.id, tc.planned)
			r.planItem(cmd)
			res, err := r.svc.Execute(ctx, cmd)
			if err != nil {
				t.Fatalf("%s: %v", tc.id, err)
			}
			if res.Outcome != tc.outcome || res.Reason != tc.reason || !slices.Equal(res.Fields, tc.fields) {
				t.Fatalf("%s: %+v, want %s/%s fields %v", tc.id, res, tc.outcome, tc.reason, tc.fields)
			}
			// Drift shows on the item: the plan next to what was done.
			items, err := st.RunItems().ForContact(ctx, inst, tc.id)
			wantResult := tc.outcome
			if tc.reason != "" {
				wantResult += ":" + tc.reason
			}
			if err != nil || len(items) != 1 || items[0].Outcome != tc.planned || items[0].Result != wantResult {
				t.Fatalf("%s: run item %+v (%v), want planned %s and result %s", tc.id, items, err, tc.planned, wantResult)
			}
			after, err := st.Contacts().Get(ctx, inst, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if tc.outcome == OutcomeSkipped {
				if after.Version != before.Version || after.Status != store.StatusActive {
					t.Fatalf("%s: a skipped contact was written (version %d → %d, %s)", tc.id, before.Version, after.Version, after.Status)
				}
				if _, err := r.sealer.ForRead(ctx, inst, tc.id); err != nil {
					t.Fatalf("%s: a skipped contact lost its key: %v", tc.id, err)
				}
			}
		}
	})
}

// racingContacts makes the first Put of a contact lose against a concurrent writer that
// records a new activity, as if the contact became active between the re-check and the write.
type racingContacts struct {
	store.Contacts
	once   sync.Once
	active store.Source
}

func (rc *racingContacts) Put(ctx context.Context, c store.Contact) (store.Contact, error) {
	rc.once.Do(func() {
		fresh, err := rc.Contacts.Get(ctx, c.Institution, c.ID)
		if err == nil {
			fresh.Activity, fresh.Recency, fresh.RecencySource = rc.active, rc.active.At, rc.active
			_, _ = rc.Contacts.Put(ctx, fresh)
		}
	})
	return rc.Contacts.Put(ctx, c)
}

func TestContactActiveBetweenCheckAndWriteIsNeverErased(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st)
		ctx := context.Background()
		r.contact("c-race", true, nil)
		rc := &racingContacts{Contacts: st.Contacts(), active: store.Source{EventID: "late-click", Type: events.TypeCampaignLinkClicked, At: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)}}
		r.svc.contacts = rc
		cmd := runCommand("run-3", "c-race", store.OutcomeAnonymise)
		r.planItem(cmd)
		res, err := r.svc.Execute(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != OutcomeSkipped || res.Reason != retention.ReasonBecameActive {
			t.Fatalf("outcome %+v, want skipped/became_active", res)
		}
		c, _ := st.Contacts().Get(ctx, inst, "c-race")
		if c.Status != store.StatusActive || c.Profile["email"].Value == "" {
			t.Fatalf("the contact that became active was erased: %+v", c)
		}
	})
}

func TestOnDemandErasureOverHTTPAndTheBus(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r.contact("c-req", false, nil)
		r.contact("c-owes", true, func(c *store.Contact) { c.Balance = store.Balance{Amount: -5, Currency: "EUR"} })
		// Erasure on demand ignores inactivity: a contact active yesterday is erased too.
		r.contact("c-fresh", true, func(c *store.Contact) {
			s := store.Source{EventID: "x", Type: events.TypeWaitlistJoined, At: now.Add(-24 * time.Hour)}
			c.Activity, c.Recency, c.RecencySource = s, s.At, s
		})

		mux := http.NewServeMux()
		r.svc.Register(mux)
		srv := httptest.NewServer(mux)
		defer srv.Close()

		go func() {
			_ = bus.Consume(ctx, r.js, bus.ConsumerConfig{Stream: bus.StreamCommands, Durable: bus.DurableCommands}, commandHandler(r.svc))
		}()

		post := func(token, contact, body string) (int, api.RequestView) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/institutions/"+inst+"/contacts/"+contact+"/erasure", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var v api.RequestView
			_ = json.NewDecoder(resp.Body).Decode(&v)
			return resp.StatusCode, v
		}
		if st, _ := post("read-token", "c-req", ""); st != http.StatusForbidden {
			t.Fatalf("erasure with a read-only token: %d, want 403", st)
		}
		if st, _ := post("other-token", "c-req", ""); st != http.StatusForbidden {
			t.Fatalf("erasure for another institution: %d, want 403", st)
		}
		for body, want := range map[string]int{
			`{"reason": 5}`: http.StatusUnprocessableEntity, `{"reason": null}`: http.StatusUnprocessableEntity,
			`{"why": "x"}`: http.StatusUnprocessableEntity, `null`: http.StatusBadRequest, `["x"]`: http.StatusBadRequest,
			`{"reason": "x"} {}`: http.StatusBadRequest,
		} {
			if st, _ := post("dpo-token", "c-req", body); st != want {
				t.Fatalf("erasure with the body %s: %d, want %d", body, st, want)
			}
		}
		// Ids that would not be safe in a NATS subject are refused with a pointer to each, even
		// for a token good for every institution.
		for _, tc := range []struct{ path, pointer string }{
			{"/v1/institutions/in.st/contacts/c-req/erasure", "/path/inst"},
			{"/v1/institutions/" + inst + "/contacts/c%20req/erasure", "/path/id"},
		} {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, nil)
			req.Header.Set("Authorization", "Bearer all-token")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				Errors []struct{ Pointer string } `json:"errors"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Pointer != tc.pointer {
				t.Fatalf("POST %s: %d %+v, want 400 pointing at %s", tc.path, resp.StatusCode, p, tc.pointer)
			}
		}
		want := map[string]string{"c-req": "deleted/", "c-owes": "skipped/debt", "c-fresh": "anonymised/"}
		ids := map[string]string{}
		for contact := range want {
			st, v := post("dpo-token", contact, `{"reason":"the person asked"}`)
			// The command is queued before the request is marked in progress, so a fast erasure
			// may already have settled it by the time the answer is written (seen once: completed).
			if st != http.StatusAccepted || v.State == store.RequestReceived || v.ID == "" || !v.DueAt.Equal(retention.DueAt(now)) {
				t.Fatalf("POST erasure %s: %d %+v", contact, st, v)
			}
			ids[contact] = v.ID
		}
		for contact, id := range ids {
			var v api.RequestView
			testkit.Eventually(t, "the request for "+contact+" completed", func() error {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/requests/"+id, nil)
				req.Header.Set("Authorization", "Bearer read-token")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = json.NewDecoder(resp.Body).Decode(&v)
				resp.Body.Close()
				if contact == "c-owes" { // blocked is not the end: the request stays open, the blocker named
					return testkit.Equal("request "+id+" state/blocker", v.State+"/"+v.Blocker, store.RequestBlocked+"/debt")
				}
				return testkit.Equal("request "+id+" state", v.State, store.RequestCompleted)
			})
			if got := v.Outcome + "/" + v.Reason; got != want[contact] {
				t.Fatalf("request for %s: %s, want %s", contact, got, want[contact])
			}
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/requests/"+ids["c-req"], nil)
		req.Header.Set("Authorization", "Bearer other-token")
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("another institution's request: %v %v, want 404 like an unknown id", resp.StatusCode, err)
		}

		// By event: lethe.erasure.requested.v1 waits for the projection to catch up.
		r.contact("c-event", false, nil)
		pub, _ := bus.NewPublisher(r.js)
		ev, err := events.New("/crm", inst, "c-event", &events.ErasureRequested{RequestedAt: now, Reason: "asked by mail"}, events.WithID("er-1"))
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(ctx, bus.ActivitySubject(inst, ev.Type()), ev); err != nil {
			t.Fatal(err)
		}
		projection, err := r.js.CreateOrUpdateConsumer(ctx, bus.StreamActivity, jetstream.ConsumerConfig{Durable: bus.DurableRecency, AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_ = bus.Consume(ctx, r.js, bus.ConsumerConfig{Stream: bus.StreamActivity, Durable: bus.DurableErasureRequests,
				FilterSubjects: []string{bus.ActivitySubject("*", requestsFilterToken)}}, requestHandler(r.svc, r.js, 200*time.Millisecond))
		}()
		reqID := requestIDOfEvent(inst, "/crm", "er-1")
		// Wait until the handler is done with the first delivery: given back (delivered again)
		// or acknowledged. Only then does "not erased" say the handler waited for the
		// projection, rather than that the consumer had not started yet.
		testkit.Eventually(t, "the first delivery of the request handled", func() error {
			c, err := r.js.Consumer(ctx, bus.StreamActivity, bus.DurableErasureRequests)
			if err != nil {
				return err
			}
			info, err := c.Info(ctx)
			if err != nil {
				return err
			}
			if info.Delivered.Consumer < 2 && info.AckFloor.Consumer < 1 {
				return fmt.Errorf("delivered %d times, none handled yet", info.Delivered.Consumer)
			}
			return nil
		})
		if c, _ := st.Contacts().Get(ctx, inst, "c-event"); c.Status != store.StatusActive {
			t.Fatal("the erasure ran before the projection had folded the events before it")
		}
		if _, err := st.Requests().Get(ctx, reqID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the request was taken before the projection had folded the events before it: %v", err)
		}
		// The projection folds the event (acks it): now the request goes through, once.
		msgs, err := projection.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range msgs.Messages() {
			_ = m.Ack()
		}
		testkit.Eventually(t, "the event's request completed", func() error {
			q, err := st.Requests().Get(ctx, reqID)
			if err != nil {
				return err
			}
			if q.State == store.RequestCompleted && (q.Outcome != OutcomeDeleted || q.Origin != store.OriginEvent) {
				t.Fatalf("event request %+v, want deleted from an event", q)
			}
			return testkit.Equal("request state", q.State, store.RequestCompleted)
		})
	})
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
