package retention_test

import (
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestThresholdCalendarMonths(t *testing.T) {
	tests := []struct {
		asOf   string
		months int
		want   string
	}{
		{"2026-11-23", 36, "2023-11-23"},
		{"2026-05-31", 3, "2026-02-28"}, // no 31 February: clamp, don't spill into March
		{"2028-05-31", 3, "2028-02-29"}, // leap year
		{"2026-03-31", 1, "2026-02-28"},
		{"2026-01-15", 12, "2025-01-15"},
		{"2026-12-31", 6, "2026-06-30"},
	}
	for _, tt := range tests {
		t.Run(tt.asOf, func(t *testing.T) {
			if got := retention.Threshold(date(tt.asOf), tt.months); !got.Equal(date(tt.want)) {
				t.Fatalf("Threshold(%s, %d) = %s, want %s", tt.asOf, tt.months, got.Format(time.DateOnly), tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	asOf := date("2026-11-23")
	old := date("2023-11-22")      // one day past 36 months
	boundary := date("2023-11-23") // exactly D − P: not strictly before, so still active
	base := func(mut func(*store.Contact)) store.Contact {
		c := store.Contact{Institution: "i", ID: "c", Status: store.StatusActive, Created: true, Role: "individual", Recency: old, Customer: true}
		mut(&c)
		return c
	}
	tests := []struct {
		name     string
		c        store.Contact
		outcome  string
		reason   string
		blockers []string
	}{
		{"customer anonymised", base(func(c *store.Contact) {}), store.OutcomeAnonymise, "", nil},
		{"prospect deleted", base(func(c *store.Contact) { c.Customer = false }), store.OutcomeDelete, "", nil},
		{"relay in scope", base(func(c *store.Contact) { c.Role = "relay" }), store.OutcomeAnonymise, "", nil},
		{"structure out of scope", base(func(c *store.Contact) { c.Role = "structure" }), "", retention.ReasonNotInScope, nil},
		{"supplier out of scope", base(func(c *store.Contact) { c.Role = "supplier" }), "", retention.ReasonNotInScope, nil},
		{"not created yet", base(func(c *store.Contact) { c.Created = false }), "", retention.ReasonNotInScope, nil},
		{"recent", base(func(c *store.Contact) { c.Recency = date("2025-01-01") }), "", retention.ReasonBecameActive, nil},
		{"exactly at threshold", base(func(c *store.Contact) { c.Recency = boundary }), "", retention.ReasonBecameActive, nil},
		{"future performance", base(func(c *store.Contact) { c.Recency = date("2027-06-15") }), "", retention.ReasonBecameActive, nil},
		{"debt", base(func(c *store.Contact) { c.Balance.Amount = -500 }), store.OutcomeSkip, retention.ReasonDebt, []string{"debt"}},
		{"credit", base(func(c *store.Contact) { c.Balance.Amount = 1 }), store.OutcomeSkip, retention.ReasonCredit, []string{"credit"}},
		{"active subscription", base(func(c *store.Contact) {
			c.Subscriptions = map[string]store.Subscription{"s1": {Status: "terminated"}, "s2": {Status: "suspended"}}
		}), store.OutcomeSkip, retention.ReasonActiveSubscription, []string{"active_subscription"}},
		{"terminated and initialized subscriptions do not block", base(func(c *store.Contact) {
			c.Subscriptions = map[string]store.Subscription{"s1": {Status: "terminated"}, "s2": {Status: "initialized"}}
		}), store.OutcomeAnonymise, "", nil},
		{"legal hold", base(func(c *store.Contact) { c.LegalHold.Held = true }), store.OutcomeSkip, retention.ReasonLegalHold, []string{"legal_hold"}},
		{"every blocker, money first", base(func(c *store.Contact) {
			c.Balance.Amount = -1
			c.LegalHold.Held = true
			c.Subscriptions = map[string]store.Subscription{"s": {Status: "active"}}
		}), store.OutcomeSkip, retention.ReasonDebt, []string{"debt", "active_subscription", "legal_hold"}},
		{"already anonymised", base(func(c *store.Contact) { c.Status = store.StatusAnonymised }), "", "anonymised", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := retention.Decide(tt.c, asOf, 36)
			if d.Outcome != tt.outcome || d.Reason != tt.reason {
				t.Fatalf("Decide = %+v, want outcome %q reason %q", d, tt.outcome, tt.reason)
			}
			if len(d.Blockers) != len(tt.blockers) {
				t.Fatalf("blockers = %v, want %v", d.Blockers, tt.blockers)
			}
			for i := range tt.blockers {
				if d.Blockers[i] != tt.blockers[i] {
					t.Fatalf("blockers = %v, want %v", d.Blockers, tt.blockers)
				}
			}
		})
	}
}

func TestDecideErasureIgnoresInactivity(t *testing.T) {
	c := store.Contact{Status: store.StatusActive, Created: true, Role: "individual", Recency: date("2026-11-01"), Customer: false}
	if d := retention.DecideErasure(c); d.Outcome != store.OutcomeDelete {
		t.Fatalf("recent prospect erasure = %+v, want delete", d)
	}
	c.Balance.Amount = -10
	if d := retention.DecideErasure(c); d.Outcome != store.OutcomeSkip || d.Reason != retention.ReasonDebt {
		t.Fatalf("erasure with debt = %+v, want skip debt", d)
	}
}

func TestCrossesAt(t *testing.T) {
	c := store.Contact{Recency: date("2024-02-29")}
	if got := retention.CrossesAt(c, 12); !got.Equal(date("2025-02-28")) {
		t.Fatalf("CrossesAt = %s", got)
	}
}
