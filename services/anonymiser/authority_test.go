package anonymiser

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// A command that matches nothing Lethe decided is never executed (issue 12, finding 1: a
// forged erase command published on LETHE_COMMANDS deleted a contact and was audited as
// request:req_forged…). Each is published on the bus and handled by the real consumer: the
// contact stays, nothing goes out on LETHE_RESULTS, the audit trail says refused, and the
// command sits in LETHE_DLQ with the reason.
func TestCommandsThatMatchNothingDecidedAreRefused(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()

		// A simulation with an item, an execute run as of a future date with an item, and an
		// execute run without the contact.
		for _, run := range []store.Run{
			{ID: "sim-1", Institution: inst, Mode: store.ModeSimulation, AsOf: asOf, InactivityMonths: 36, State: store.RunPlanned},
			{ID: "exec-future", Institution: inst, Mode: store.ModeExecute, AsOf: now.AddDate(1, 0, 0), InactivityMonths: 36, State: store.RunExecuting, Queued: true},
			{ID: "exec-other", Institution: inst, Mode: store.ModeExecute, AsOf: asOf, InactivityMonths: 36, State: store.RunExecuting, Queued: true},
		} {
			if err := st.Runs().Create(ctx, run); err != nil {
				t.Fatal(err)
			}
		}
		for _, it := range []store.RunItem{
			{Institution: inst, RunID: "sim-1", ContactID: "c-1", Outcome: store.OutcomeDelete},
			{Institution: inst, RunID: "exec-future", ContactID: "c-1", Outcome: store.OutcomeDelete},
			{Institution: inst, RunID: "exec-other", ContactID: "c-2", Outcome: store.OutcomeDelete},
		} {
			if err := st.RunItems().Put(ctx, []store.RunItem{it}); err != nil {
				t.Fatal(err)
			}
		}
		r.contact("c-1", false, nil)
		if err := st.Requests().Create(ctx, store.Request{ID: "req_other", Institution: inst, ContactID: "c-2",
			State: store.RequestPending, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}

		go func() {
			_ = bus.Consume(ctx, r.js, bus.ConsumerConfig{Stream: bus.StreamCommands, Durable: bus.DurableCommands}, commandHandler(r.svc))
		}()
		forged := []struct {
			name string
			cmd  retention.Command
			why  string
		}{
			{"unknown request", retention.Command{Institution: inst, ContactID: "c-1", RequestID: "req_forged0001", AsOf: now}, "no erasure request"},
			{"another contact's request", retention.Command{Institution: inst, ContactID: "c-1", RequestID: "req_other", AsOf: now}, "another contact"},
			{"unknown run", runCommand("run-forged", "c-1", store.OutcomeDelete), "no run"},
			{"a simulation's item", runCommand("sim-1", "c-1", store.OutcomeDelete), "simulation"},
			{"a run as of a future date", runCommand("exec-future", "c-1", store.OutcomeDelete), "after now"},
			{"not an item of the run", runCommand("exec-other", "c-1", store.OutcomeDelete), "not an item"},
		}
		pub, err := bus.NewPublisher(r.js)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range forged {
			e, err := f.cmd.Event("/forger", now)
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.Publish(ctx, bus.CommandSubject(inst, retention.CommandKind), e); err != nil {
				t.Fatal(err)
			}
		}
		var letters []*jetstream.RawStreamMsg
		testkit.Eventually(t, "every forged command dead-lettered", func() error {
			letters = bustest.Stored(t, r.js, bus.StreamDLQ)
			return testkit.Equal("dead letters", len(letters), len(forged))
		})
		for _, f := range forged {
			t.Run(f.name, func(t *testing.T) {
				id := f.cmd.CommandID()
				var reason string
				for _, l := range letters {
					if e, err := bus.DecodeEvent(l.Header, l.Data); err == nil && e.ID() == id {
						reason = l.Header.Get(bus.HeaderDLQReason)
					}
				}
				if !strings.Contains(reason, "refused") || !strings.Contains(reason, f.why) {
					t.Fatalf("dead letter of %s has reason %q, want refused: …%s…", id, reason, f.why)
				}
				entry, err := st.Audit().ByKey(ctx, "refused:"+id)
				if err != nil {
					t.Fatalf("no refusal audited for %s: %v", id, err)
				}
				if entry.Action != ActionRefused || entry.ContactID != f.cmd.ContactID || !strings.Contains(entry.Reason, f.why) {
					t.Fatalf("audit entry %+v", entry)
				}
				if _, err := st.Audit().ByKey(ctx, "erase:"+id); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("a refused command was audited as executed: %v", err)
				}
			})
		}
		c, err := st.Contacts().Get(ctx, inst, "c-1")
		if err != nil || c.Status != store.StatusActive || c.Profile["email"].Value == "" {
			t.Fatalf("a forged command erased the contact: %+v %v", c, err)
		}
		if _, err := r.sealer.Open(ctx, inst, "c-1", "profile.email", c.Profile["email"].Value); err != nil {
			t.Fatalf("a forged command destroyed the contact's key: %v", err)
		}
		if res := r.results(); len(res) != 0 {
			t.Fatalf("forged commands published %d outcomes", len(res))
		}
	})
}

// A command that names a real item executes what was decided, not what the command says: the
// stored run's as_of and period, and the item's planned outcome.
func TestCommandDataIsNotTrustedOverTheStore(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st)
		ctx := context.Background()
		// Active eight months ago: not inactive for 36 months, inactive for 1.
		r.contact("c-recent", false, func(c *store.Contact) {
			s := store.Source{EventID: "click", Type: events.TypeCampaignLinkClicked, At: asOf.AddDate(0, -8, 0)}
			c.Activity, c.Recency, c.RecencySource = s, s.At, s
		})
		r.planItem(runCommand("run-36", "c-recent", store.OutcomeDelete))
		altered := runCommand("run-36", "c-recent", store.OutcomeDelete)
		altered.InactivityMonths, altered.AsOf = 1, now.AddDate(5, 0, 0)
		res, err := r.svc.Execute(ctx, altered)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != OutcomeSkipped || res.Reason != retention.ReasonBecameActive {
			t.Fatalf("altered command gave %+v, want the stored run's decision: skipped/became_active", res)
		}

		// A planned skip stays a skip, though the contact could be erased now and the
		// command says delete.
		r.contact("c-was-blocked", false, nil)
		skip := runCommand("run-36", "c-was-blocked", store.OutcomeSkip)
		if err := st.RunItems().Put(ctx, []store.RunItem{{Institution: inst, RunID: "run-36", ContactID: "c-was-blocked",
			Outcome: store.OutcomeSkip, Reason: retention.ReasonDebt}}); err != nil {
			t.Fatal(err)
		}
		skip.Planned = store.OutcomeDelete
		if res, err = r.svc.Execute(ctx, skip); err != nil {
			t.Fatal(err)
		}
		if res.Outcome != OutcomeSkipped || res.Reason != retention.ReasonDebt {
			t.Fatalf("planned skip gave %+v, want skipped/debt", res)
		}
		items, _ := st.RunItems().ForContact(ctx, inst, "c-was-blocked")
		if len(items) != 1 || items[0].Result != "skipped:debt" {
			t.Fatalf("planned skip's item = %+v, want its result skipped:debt", items)
		}
		var skips int
		for _, e := range r.results() {
			if e.Type() == events.TypeContactSkipped && e.Subject() == "c-was-blocked" {
				skips++
			}
		}
		if skips != 1 {
			t.Fatalf("%d skipped outcomes published for the planned skip, want 1", skips)
		}
		if c, _ := st.Contacts().Get(ctx, inst, "c-was-blocked"); c.Status != store.StatusActive {
			t.Fatalf("planned skip erased: %+v", c)
		}
	})
}
