package store

import (
	"context"
	"time"
)

// Expectation is one outcome on LETHE_RESULTS that one downstream destination is to confirm
// it erased (lethe.erasure.confirmed.v1). The anonymiser records one per destination
// following the outcome's institution before it publishes the outcome, so a confirmation
// never arrives before its expectation. Ids and dates only.
type Expectation struct {
	Institution string `json:"institution" bson:"institution"`
	Destination string `json:"destination" bson:"destination"`
	// OutcomeID is the CloudEvent id of the outcome (lethe.contact.anonymised.v1 or …deleted.v1).
	OutcomeID string `json:"outcome_id" bson:"outcome_id"`
	ContactID string `json:"contact_id" bson:"contact_id"`
	// Outcome is anonymised or deleted; By is run:<id> or request:<id>.
	Outcome     string    `json:"outcome" bson:"outcome"`
	By          string    `json:"by" bson:"by"`
	PublishedAt time.Time `json:"published_at" bson:"published_at"`
	// ConfirmedAt is the destination's confirmed_at, zero while unconfirmed; ConfirmationID
	// the id of the confirmation event.
	ConfirmedAt    time.Time `json:"confirmed_at,omitzero" bson:"confirmed_at,omitempty"`
	ConfirmationID string    `json:"confirmation_id,omitempty" bson:"confirmation_id,omitempty"`
}

// Confirmed reports whether the destination confirmed the outcome.
func (e Expectation) Confirmed() bool { return !e.ConfirmedAt.IsZero() }

// Unmatched is a confirmation that names no expected outcome (an unknown outcome id, another
// institution's, or another contact's): accepted, kept as evidence and counted, never lost.
type Unmatched struct {
	Institution string    `json:"institution" bson:"institution"`
	Destination string    `json:"destination" bson:"destination"`
	EventID     string    `json:"event_id" bson:"event_id"`
	OutcomeID   string    `json:"outcome_id" bson:"outcome_id"`
	ContactID   string    `json:"contact_id" bson:"contact_id"`
	ConfirmedAt time.Time `json:"confirmed_at" bson:"confirmed_at"`
}

// Backlog is what one destination has confirmed of one institution's outcomes (or of every
// institution's, for Confirmations.Backlog("")).
type Backlog struct {
	Destination string
	Confirmed   int64
	Unconfirmed int64
	// OldestUnconfirmed is the publication time of the oldest unconfirmed outcome; zero when
	// every outcome is confirmed.
	OldestUnconfirmed time.Time
	Unmatched         int64
}

// Confirmations holds the expected and received downstream confirmations.
type Confirmations interface {
	// Expect stores each expectation unless one for the same (institution, destination,
	// outcome id) is stored: a republished outcome changes nothing, a confirmed one stays
	// confirmed.
	Expect(ctx context.Context, es []Expectation) error
	// Confirm marks the expectation of (institution, destination, outcomeID) confirmed at at by
	// the event confirmationID and returns it; ErrNotFound when none is stored. A confirmed one
	// keeps its first confirmation (a redelivered or repeated confirmation changes nothing).
	Confirm(ctx context.Context, institution, destination, outcomeID string, at time.Time, confirmationID string) (Expectation, error)
	// Get returns one expectation, or ErrNotFound.
	Get(ctx context.Context, institution, destination, outcomeID string) (Expectation, error)
	// ForContact returns every expectation about a contact, by outcome id then destination.
	ForContact(ctx context.Context, institution, contactID string) ([]Expectation, error)
	// RecordUnmatched keeps u once per (institution, destination, event id).
	RecordUnmatched(ctx context.Context, u Unmatched) error
	// Backlog returns one Backlog per destination that has expectations or unmatched
	// confirmations in institution ("" = every institution), by destination name.
	Backlog(ctx context.Context, institution string) ([]Backlog, error)
}
