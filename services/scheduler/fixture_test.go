package scheduler_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// asOf is the tests' "now" and the date runs judge inactivity at; with the default 36 months
// the threshold is 2023-11-23T00:00:00Z.
var (
	asOf      = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	threshold = retention.Threshold(asOf, 36)
	old       = time.Date(2022, 5, 10, 18, 30, 0, 0, time.UTC)
)

// planned is one expected run item.
type planned struct{ outcome, reason string }

// fixture is an institution covering every outcome and reason, and every way of not being a
// candidate. expected is exactly the report a simulation as of asOf must write.
type fixture struct {
	contacts []store.Contact
	expected map[string]planned
}

// commanded is what an apply or execute run sends: one command per item, planned skips
// included, so that every item gets its result and its outcome on LETHE_RESULTS.
func (f fixture) commanded() map[string]string {
	out := map[string]string{}
	for id, p := range f.expected {
		out[id] = p.outcome
	}
	return out
}

func (f fixture) counts() (map[string]int, map[string]int) {
	counts := map[string]int{store.OutcomeDelete: 0, store.OutcomeAnonymise: 0, store.OutcomeSkip: 0}
	reasons := map[string]int{}
	for _, p := range f.expected {
		counts[p.outcome]++
		if p.reason != "" {
			reasons[p.reason]++
		}
	}
	return counts, reasons
}

func src(id, typ string, at time.Time) store.Source {
	return store.Source{EventID: "ev-" + id, Type: typ, At: at}
}

// contact is an old individual customer of org-1, in the state the projection would hold;
// mut makes it the case at hand.
func contact(institution, id string, mut func(*store.Contact)) store.Contact {
	c := store.Contact{
		Institution: institution, ID: id, Status: store.StatusActive,
		Created: true, Role: "individual", CreatedAt: old.AddDate(-1, 0, 0),
		CreatedSource: src(id+"-created", "lethe.contact.created.v1", old.AddDate(-1, 0, 0)),
		Recency:       old, RecencySource: src(id, "lethe.order.placed.v1", old),
		Activity: src(id, "lethe.order.placed.v1", old),
		Customer: true, CustomerSource: src(id, "lethe.order.placed.v1", old),
		Organisations: []string{"org-1"},
		Profile: map[string]store.Field{
			"email":   {Value: "c2VhbGVk", Sealed: true, Source: src(id+"-created", "lethe.contact.created.v1", old)},
			"country": {Value: "FR", Source: src(id+"-created", "lethe.contact.created.v1", old)},
		},
	}
	if mut != nil {
		mut(&c)
	}
	return c
}

func prospect(c *store.Contact) {
	c.Customer, c.CustomerSource = false, store.Source{}
	c.RecencySource = src(c.ID, "lethe.waitlist.joined.v1", c.Recency)
	c.Activity = c.RecencySource
}

func setRecency(at time.Time, typ string) func(*store.Contact) {
	return func(c *store.Contact) {
		c.Recency, c.RecencySource = at, src(c.ID, typ, at)
		c.Activity = c.RecencySource
	}
}

func subscriptions(statuses ...string) func(*store.Contact) {
	return func(c *store.Contact) {
		c.Subscriptions = map[string]store.Subscription{}
		for i, s := range statuses {
			c.Subscriptions["sub-"+string(rune('a'+i))] = store.Subscription{Status: s, Source: src(c.ID, "lethe.subscription.changed.v1", old)}
		}
	}
}

func balance(amount int64) func(*store.Contact) {
	return func(c *store.Contact) {
		c.Balance = store.Balance{Amount: amount, Currency: "EUR", Source: src(c.ID+"-balance", "lethe.balance.changed.v1", old)}
	}
}

func hold(c *store.Contact) {
	c.LegalHold = store.LegalHold{Held: true, Reason: "litigation", Source: src(c.ID+"-hold", "lethe.legalhold.changed.v1", old)}
}

func role(r string) func(*store.Contact) { return func(c *store.Contact) { c.Role = r } }

func all(muts ...func(*store.Contact)) func(*store.Contact) {
	return func(c *store.Contact) {
		for _, m := range muts {
			m(c)
		}
	}
}

func newFixture() fixture {
	f := fixture{expected: map[string]planned{}}
	in := func(id string, outcome, reason string, mut func(*store.Contact)) {
		f.contacts = append(f.contacts, contact(inst, id, mut))
		f.expected[id] = planned{outcome, reason}
	}
	out := func(id string, mut func(*store.Contact)) {
		f.contacts = append(f.contacts, contact(inst, id, mut))
	}

	// Candidates: every outcome and every skip reason.
	in("prospect-1", store.OutcomeDelete, "", prospect)
	in("prospect-relay", store.OutcomeDelete, "", all(role("relay"), prospect))
	in("prospect-just-inactive", store.OutcomeDelete, "", all(setRecency(threshold.Add(-time.Second), "lethe.campaign.link.clicked.v1"), prospect))
	in("customer-1", store.OutcomeAnonymise, "", nil)
	in("customer-relay", store.OutcomeAnonymise, "", role("relay"))
	in("customer-subscriptions-ended", store.OutcomeAnonymise, "", subscriptions("terminated", "initialized"))
	in("debtor", store.OutcomeSkip, retention.ReasonDebt, balance(-500))
	in("creditor", store.OutcomeSkip, retention.ReasonCredit, balance(300))
	in("subscriber", store.OutcomeSkip, retention.ReasonActiveSubscription, subscriptions("active"))
	in("subscriber-suspended", store.OutcomeSkip, retention.ReasonActiveSubscription, subscriptions("terminated", "suspended"))
	in("held", store.OutcomeSkip, retention.ReasonLegalHold, hold)
	in("debtor-held", store.OutcomeSkip, retention.ReasonDebt, all(balance(-1), hold, subscriptions("active")))
	in("prospect-debtor", store.OutcomeSkip, retention.ReasonDebt, all(prospect, balance(-20)))

	// Not candidates: left out of the report entirely.
	for _, r := range []string{"structure", "supplier", "guide", "exhibitor", "partner", "producer"} {
		out("role-"+r, role(r))
	}
	out("not-created-yet", func(c *store.Contact) { c.Created, c.Role, c.CreatedAt = false, "", time.Time{} })
	// Recent activity in another organisation of the institution: recency is institution-wide.
	out("active-in-org-2", all(func(c *store.Contact) { c.Organisations = []string{"org-1", "org-2"} },
		setRecency(time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC), "lethe.order.placed.v1")))
	out("future-performance", setRecency(time.Date(2027, 6, 15, 20, 30, 0, 0, time.UTC), "lethe.option.confirmed.v1"))
	out("at-threshold", setRecency(threshold, "lethe.contact.criterion.changed.v1"))
	out("recent-1", setRecency(time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), "lethe.consent.changed.v1"))
	out("recent-prospect", all(setRecency(time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC), "lethe.waitlist.joined.v1"), prospect))
	out("already-anonymised", func(c *store.Contact) {
		c.Status, c.ErasedAt, c.ErasedBy, c.Profile = store.StatusAnonymised, asOf.AddDate(0, -1, 0), "run:earlier", nil
	})
	out("already-deleted", func(c *store.Contact) {
		c.Status, c.ErasedAt, c.ErasedBy, c.Profile = store.StatusDeleted, asOf.AddDate(0, -1, 0), "run:earlier", nil
	})
	// Another institution's inactive contact never shows in inst-a's runs.
	f.contacts = append(f.contacts, contact("inst-b", "prospect-1", prospect), contact("inst-b", "other-customer", nil))
	return f
}

// load writes the fixture through the store port, as the projection would have.
func (f fixture) load(t *testing.T, st store.Store) map[string]store.Contact {
	t.Helper()
	stored := map[string]store.Contact{}
	for _, c := range f.contacts {
		got, err := st.Contacts().Put(t.Context(), c)
		if err != nil {
			t.Fatalf("put %s/%s: %v", c.Institution, c.ID, err)
		}
		stored[c.Institution+"/"+c.ID] = got
	}
	return stored
}

func (f fixture) byID() map[string]store.Contact {
	out := map[string]store.Contact{}
	for _, c := range f.contacts {
		if c.Institution == inst {
			out[c.ID] = c
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
