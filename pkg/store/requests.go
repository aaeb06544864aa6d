package store

import (
	"context"
	"slices"
	"strings"
	"time"
)

// States of a data subject's request, on the legal clock (docs/contract.md, "Requests").
const (
	RequestReceived   = "received"    // recorded; its work is not queued yet
	RequestInProgress = "in_progress" // its erasure command is queued, or the export awaited
	RequestBlocked    = "blocked"     // the erasure waits on a blocker (Blocker names it); it resumes by itself
	RequestExtended   = "extended"    // the deadline was extended (with a reason); the work goes on
	RequestCompleted  = "completed"
	RequestRefused    = "refused" // refused by a person, with a reason
	RequestFailed     = "failed"  // retried, then given up; Error says why; an operator retries it
	// RequestPending is the state stored before requests had a legal clock: a request whose
	// command was queued. Normalised reads it as RequestInProgress.
	RequestPending = "pending"
)

// OpenStates are the states of a request still to be answered: on the clock.
var OpenStates = []string{RequestReceived, RequestInProgress, RequestBlocked, RequestExtended, RequestFailed}

// Kinds of request.
const (
	KindErasure = "erasure" // Article 17: erase the contact
	KindAccess  = "access"  // Article 15: the export, served to an export token
)

// Origins of an erasure request.
const (
	OriginAPI   = "api"   // POST …/contacts/{id}/erasure
	OriginEvent = "event" // lethe.erasure.requested.v1 from an upstream system
	// OriginLedger: recreated at start from the erasure ledger, the store having been restored
	// from before the request.
	OriginLedger = "ledger"
)

// Request is one data subject's request: an erasure or an access. It holds ids, dates,
// states and field names; the reasons a person gives (an extension's, a refusal's) are
// personal, so they are stored sealed with the contact's key (and become unreadable with it).
type Request struct {
	ID          string `json:"id" bson:"_id"`
	Institution string `json:"institution" bson:"institution"`
	ContactID   string `json:"contact_id" bson:"contact_id"`
	// Kind is erasure (the default: requests stored before kinds existed) or access.
	Kind string `json:"kind,omitempty" bson:"kind,omitempty"`
	// Version is the optimistic-concurrency counter (1 once created).
	Version     int64  `json:"version" bson:"version"`
	Origin      string `json:"origin" bson:"origin"`
	RequestedBy string `json:"requested_by,omitempty" bson:"requested_by,omitempty"`
	State       string `json:"state" bson:"state"`
	// Outcome is anonymised, deleted or skipped once the request completed; Reason the skip reason.
	Outcome      string   `json:"outcome,omitempty" bson:"outcome,omitempty"`
	Reason       string   `json:"reason,omitempty" bson:"reason,omitempty"`
	ErasedFields []string `json:"erased_fields,omitempty" bson:"erased_fields,omitempty"`
	// Blocker is what holds a blocked erasure: debt, credit, active_subscription, legal_hold.
	Blocker string `json:"blocker,omitempty" bson:"blocker,omitempty"`
	// Error is why the request failed (no personal value).
	Error string `json:"error,omitempty" bson:"error,omitempty"`
	// Attempt numbers the erasure commands of the request: 0 for the first, one more each
	// time a blocked request resumes or a failed one is retried (each attempt is its own
	// command, audit entry and outcome).
	Attempt int `json:"attempt,omitempty" bson:"attempt,omitempty"`
	// CreatedAt is received_at, the start of the legal clock.
	CreatedAt time.Time `json:"created_at" bson:"created_at"`
	// DueAt is the deadline: one month after receipt, or the extension's date.
	DueAt time.Time `json:"due_at,omitzero" bson:"due_at,omitempty"`
	// SealedReason is the reason of the last extension or the refusal, sealed with the
	// contact's key (field "request.reason").
	SealedReason string          `json:"sealed_reason,omitempty" bson:"sealed_reason,omitempty"`
	Actions      []RequestAction `json:"actions,omitempty" bson:"actions,omitempty"`
	UpdatedAt    time.Time       `json:"updated_at" bson:"updated_at"`
	CompletedAt  time.Time       `json:"completed_at,omitzero" bson:"completed_at,omitempty"`
}

// RequestAction is one thing a person or Lethe did to a request: who (a token's name, or
// the service), when, and what (the state it set; for an extension the new due date).
type RequestAction struct {
	At     time.Time `json:"at" bson:"at"`
	By     string    `json:"by" bson:"by"`
	Action string    `json:"action" bson:"action"`
	DueAt  time.Time `json:"due_at,omitzero" bson:"due_at,omitempty"`
}

// Open reports whether the request is still to be answered.
func (r Request) Open() bool { return slices.Contains(OpenStates, r.State) }

// Normalised reads a request stored by an earlier version as the current model: "pending"
// (a queued command) is in_progress, no kind is an erasure. The deadline of such a request
// is the caller's to fill (pkg/retention owns the month arithmetic).
func (r Request) Normalised() Request {
	if r.State == RequestPending {
		r.State = RequestInProgress
	}
	if r.Kind == "" {
		r.Kind = KindErasure
	}
	return r
}

// RequestFilter selects requests for Requests.List. Zero fields select everything.
type RequestFilter struct {
	// Institution: "" for every institution (the anonymiser's sweep of blocked requests).
	Institution string
	// States: any of them (after Normalised: a stored "pending" matches in_progress).
	States []string
	// ContactID and Kind narrow further (recency completing the access requests of a contact).
	ContactID string
	Kind      string
}

// Match reports whether a normalised request passes the filter.
func (f RequestFilter) Match(r Request) bool {
	return (f.Institution == "" || r.Institution == f.Institution) &&
		(len(f.States) == 0 || slices.Contains(f.States, r.State)) &&
		(f.ContactID == "" || r.ContactID == f.ContactID) &&
		(f.Kind == "" || r.Kind == f.Kind)
}

// SortByDue orders requests by deadline, then id; a request without a deadline last.
func SortByDue(rs []Request) {
	slices.SortFunc(rs, func(a, b Request) int {
		switch {
		case a.DueAt.Equal(b.DueAt):
		case a.DueAt.IsZero():
			return 1
		case b.DueAt.IsZero():
			return -1
		case a.DueAt.Before(b.DueAt):
			return -1
		default:
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Requests holds data subjects' requests. Request ids are unique across institutions, so
// GET /v1/requests/{id} needs no institution in its path.
type Requests interface {
	// Create stores r at version 1; ErrExists if the id is taken (a redelivered request event
	// derives the same id, so it is created once).
	Create(ctx context.Context, r Request) error
	// Get returns the request, Normalised, or ErrNotFound.
	Get(ctx context.Context, id string) (Request, error)
	// Update writes r if the stored version equals r.Version and returns the stored copy with
	// its version incremented; ErrConflict otherwise.
	Update(ctx context.Context, r Request) (Request, error)
	// List returns the requests f selects, Normalised, by deadline (SortByDue). Requests are
	// few (people file them), so adapters may scan an institution's requests.
	List(ctx context.Context, f RequestFilter) ([]Request, error)
}
