package retention

import (
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Skip reasons, as docs/contract.md ("Events out") names them on lethe.contact.skipped.v1.
const (
	ReasonDebt               = "debt"
	ReasonCredit             = "credit"
	ReasonActiveSubscription = "active_subscription"
	ReasonLegalHold          = "legal_hold"
	ReasonBecameActive       = "became_active"
	ReasonNotInScope         = "not_in_scope"
)

// Roles in scope of retention: individual contacts and relays; structures and the other roles
// (supplier, guide, exhibitor, partner, producer) never are.
var rolesInScope = map[string]bool{"individual": true, "relay": true}

// InScope reports whether the contact's role is subject to retention at all. A contact whose
// created event has not arrived yet has no role and is not in scope.
func InScope(c store.Contact) bool { return inScope(c.Created, c.Role) }

func inScope(created bool, role string) bool { return created && rolesInScope[role] }

// Threshold is D − P in calendar months: a contact whose recency is strictly before it is
// inactive. A day that does not exist in the target month clamps to that month's last day
// (31 May − 3 months is 28 or 29 February), instead of spilling into the next month.
func Threshold(asOf time.Time, months int) time.Time {
	return AddMonths(asOf, -months)
}

// AddMonths adds calendar months, clamping the day to the end of the target month.
func AddMonths(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	if d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

// Inactive reports whether recency < asOf − months.
func Inactive(c store.Contact, asOf time.Time, months int) bool {
	return c.Recency.Before(Threshold(asOf, months))
}

// CrossesAt is the first instant at which the contact counts as inactive for the period:
// the renewal campaign's deadline.
func CrossesAt(c store.Contact, months int) time.Time {
	return AddMonths(c.Recency, months)
}

// Blockers lists why the contact may not be erased now, in a fixed order: money first
// (debt, credit), then a live subscription, then a legal hold.
func Blockers(c store.Contact) []string { return blockers(store.CandidateOf(c)) }

func blockers(c store.Candidate) []string {
	var r []string
	switch {
	case c.Balance < 0:
		r = append(r, ReasonDebt)
	case c.Balance > 0:
		r = append(r, ReasonCredit)
	}
	if liveSubscription(c.Subscriptions) {
		r = append(r, ReasonActiveSubscription)
	}
	if c.LegalHold {
		r = append(r, ReasonLegalHold)
	}
	return r
}

// liveSubscription: blocked unless every subscription is terminated or only initialized
// (being set up, never started — the billing vendor removes those itself on anonymisation).
func liveSubscription(statuses []string) bool {
	for _, s := range statuses {
		if s != "terminated" && s != "initialized" {
			return true
		}
	}
	return false
}

// Decision is the outcome for one contact.
type Decision struct {
	// Candidate: in scope, active in the store, and (for runs) inactive as of the date.
	Candidate bool
	// Outcome is store.OutcomeDelete, store.OutcomeAnonymise or store.OutcomeSkip; empty when
	// the contact is not a candidate.
	Outcome string
	// Reason is the first skip reason (Blockers order), or why it is not a candidate.
	Reason string
	// Blockers are every blocker, when skipped.
	Blockers []string
}

// Decide is the retention rule for a run as of asOf with an inactivity period in months.
func Decide(c store.Contact, asOf time.Time, months int) Decision {
	return DecideCandidate(store.CandidateOf(c), asOf, months)
}

// DecideCandidate is Decide on what the index keeps of a contact (store.Candidate): the
// same rule, so a plan made from the index and the anonymiser's re-check of the whole
// contact agree.
func DecideCandidate(c store.Candidate, asOf time.Time, months int) Decision {
	if c.Status != store.StatusActive && c.Status != "" {
		return Decision{Reason: string(c.Status)}
	}
	if !inScope(c.Created, c.Role) {
		return Decision{Reason: ReasonNotInScope}
	}
	if !c.Recency.Before(Threshold(asOf, months)) {
		return Decision{Reason: ReasonBecameActive}
	}
	return outcome(c)
}

// DecideErasure is the rule for an on-demand erasure: the same outcomes and blockers, without
// the inactivity condition.
func DecideErasure(c store.Contact) Decision {
	if c.Status != store.StatusActive && c.Status != "" {
		return Decision{Reason: string(c.Status)}
	}
	if !InScope(c) {
		return Decision{Reason: ReasonNotInScope}
	}
	return outcome(store.CandidateOf(c))
}

func outcome(c store.Candidate) Decision {
	if b := blockers(c); len(b) > 0 {
		return Decision{Candidate: true, Outcome: store.OutcomeSkip, Reason: b[0], Blockers: b}
	}
	if !c.Customer {
		return Decision{Candidate: true, Outcome: store.OutcomeDelete}
	}
	return Decision{Candidate: true, Outcome: store.OutcomeAnonymise}
}
