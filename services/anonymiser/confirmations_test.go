package anonymiser

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
)

// An erasure is expected from every destination following the institution, before its
// outcome is published; a skip from none. A destination's confirmation of its own outcome is
// recorded once; one naming another contact is kept as unmatched; one from a destination
// that does not follow the institution is refused; a redelivered command keeps them.
func TestErasuresAreExpectedAndConfirmed(t *testing.T) {
	t.Parallel()
	st := backendtest.Pebble(t)
	_, js := platformtest.Bus(t)
	cfg := config.File{Tokens: rigTokens, Destinations: []config.Destination{
		{Name: "crm-a", Institutions: []string{inst}}, {Name: "crm-b", Institutions: []string{inst}}, {Name: "crm-z", Institutions: []string{"inst-z"}},
	}}
	d := platformtest.Deps(t, js, st, cfg)
	svc, err := New(d, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, st: st, js: js, svc: svc, sealer: d.Sealer}
	ctx := context.Background()
	r.contact("c-gone", false, nil)
	r.contact("c-owes", true, func(c *store.Contact) { c.Balance = store.Balance{Amount: -100, Currency: "EUR"} })
	erase, skip := runCommand("run-1", "c-gone", store.OutcomeDelete), runCommand("run-1", "c-owes", store.OutcomeAnonymise)
	r.planItem(erase)
	r.planItem(skip)
	if _, err := svc.Execute(ctx, erase); err != nil {
		t.Fatal(err)
	}
	if res, err := svc.Execute(ctx, skip); err != nil || res.Outcome != OutcomeSkipped {
		t.Fatalf("the debtor: %+v, %v", res, err)
	}
	outID := outcomeID(erase)
	if got, _ := svc.Unconfirmed(ctx, inst, "c-gone", "run:run-1"); !slices.Equal(got, []string{"crm-a", "crm-b"}) {
		t.Fatalf("Unconfirmed after the erasure = %v, want crm-a and crm-b", got)
	}
	if es, _ := st.Confirmations().ForContact(ctx, inst, "c-owes"); len(es) != 0 {
		t.Errorf("a skip is expected from %v, want nobody", es)
	}
	if ids := r.results(); len(ids) != 2 || ids[0].ID() != outID {
		t.Fatalf("outcomes %v, want the deletion first with id %s", ids, outID)
	}

	at := now.Add(time.Hour)
	confirm := func(dest, contact, outcome, id string) (bool, error) {
		return svc.Confirm(ctx, Confirmation{EventID: id, Institution: inst, ContactID: contact,
			Data: events.ErasureConfirmed{Destination: dest, OutcomeID: outcome, ConfirmedAt: at}})
	}
	if ok, err := confirm("crm-a", "c-gone", outID, "conf-1"); !ok || err != nil {
		t.Fatalf("crm-a's confirmation: matched %v, %v", ok, err)
	}
	if ok, err := confirm("crm-b", "c-owes", outID, "conf-2"); ok || err != nil {
		t.Fatalf("a confirmation naming another contact: matched %v, %v; want kept as unmatched", ok, err)
	}
	if _, err := confirm("crm-z", "c-gone", outID, "conf-3"); !errors.Is(err, ErrForeignConfirmation) {
		t.Fatalf("a destination that does not follow the institution: %v, want ErrForeignConfirmation", err)
	}
	// The command again (a redelivery): its expectations stay as they are.
	if _, err := svc.Execute(ctx, erase); err != nil {
		t.Fatal(err)
	}
	if got, _ := svc.Unconfirmed(ctx, inst, "c-gone", "run:run-1"); !slices.Equal(got, []string{"crm-b"}) {
		t.Fatalf("Unconfirmed after crm-a confirmed = %v, want crm-b", got)
	}
	views, err := svc.Destinations(ctx, inst)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name                 string
		conf, unconf, unmatc int64
	}{{"crm-a", 1, 0, 0}, {"crm-b", 0, 1, 1}}
	if len(views) != len(want) {
		t.Fatalf("Destinations = %+v", views)
	}
	for i, w := range want {
		v := views[i]
		if v.Name != w.name || v.Confirmed != w.conf || v.Unconfirmed != w.unconf || v.Unmatched != w.unmatc || !v.Declared {
			t.Errorf("Destinations[%d] = %+v, want %+v", i, v, w)
		}
	}
	if views[1].OldestUnconfirmedAt == nil || views[1].OldestUnconfirmedAgeSeconds != 0 {
		t.Errorf("crm-b's oldest unconfirmed: %v, %ds (the clock is fixed at the erasure)", views[1].OldestUnconfirmedAt, views[1].OldestUnconfirmedAgeSeconds)
	}
}
