package store

import (
	"slices"
	"time"
)

// Status of a contact in the projection.
type Status string

const (
	StatusActive     Status = "active"
	StatusAnonymised Status = "anonymised"
	StatusDeleted    Status = "deleted"
)

// Source names the event that set a value: it is how a report says why a contact is still active.
type Source struct {
	EventID string    `json:"event_id" bson:"event_id"`
	Type    string    `json:"type" bson:"type"`
	At      time.Time `json:"at" bson:"at"`
}

// Before orders sources by (At, EventID): the deterministic tie-break that makes every
// last-writer-wins register in the projection independent of delivery order.
func (s Source) Before(o Source) bool {
	if !s.At.Equal(o.At) {
		return s.At.Before(o.At)
	}
	return s.EventID < o.EventID
}

// Field is one profile value. Personal values are sealed (AES-GCM under the contact's data
// key, base64); values that identify nobody (address country, company name) stay clear.
type Field struct {
	Value  string `json:"value" bson:"value"`
	Sealed bool   `json:"sealed,omitempty" bson:"sealed,omitempty"`
	Source Source `json:"source" bson:"source"`
}

// Balance is the latest known balance in minor units; negative: the contact owes.
type Balance struct {
	Amount   int64  `json:"amount" bson:"amount"`
	Currency string `json:"currency" bson:"currency"`
	Source   Source `json:"source" bson:"source"`
}

// Subscription is the latest known state of one subscription.
type Subscription struct {
	Status string `json:"status" bson:"status"`
	Source Source `json:"source" bson:"source"`
}

// LegalHold is the latest known legal-hold state. Reason is personal: sealed under the
// contact's key (events.FieldLegalHoldReason), erased on anonymisation.
type LegalHold struct {
	Held   bool   `json:"held" bson:"held"`
	Reason string `json:"reason,omitempty" bson:"reason,omitempty"`
	Source Source `json:"source" bson:"source"`
}

// Authorisation is the latest value (yes, no, unset) of one consent.
type Authorisation struct {
	Value  string `json:"value" bson:"value"`
	Source Source `json:"source" bson:"source"`
}

// ConsentChange is one lethe.consent.changed.v1: the authorisations it set.
type ConsentChange struct {
	Source         Source            `json:"source" bson:"source"`
	Authorisations map[string]string `json:"authorisations" bson:"authorisations"`
}

// Item is one line of an order or option.
type Item struct {
	ProductID string    `json:"product_id" bson:"product_id"`
	Dated     bool      `json:"dated" bson:"dated"`
	ValidAt   time.Time `json:"valid_at,omitzero" bson:"valid_at,omitempty"`
	// Beneficiary names, sealed; erased on anonymisation.
	BeneficiaryFirstName string `json:"beneficiary_first_name,omitempty" bson:"beneficiary_first_name,omitempty"`
	BeneficiaryLastName  string `json:"beneficiary_last_name,omitempty" bson:"beneficiary_last_name,omitempty"`
}

// Order is an order (or option) the contact took part in.
type Order struct {
	ID     string `json:"id" bson:"id"`
	Kind   string `json:"kind" bson:"kind"` // order, option
	Role   string `json:"role,omitempty" bson:"role,omitempty"`
	Items  []Item `json:"items" bson:"items"`
	Source Source `json:"source" bson:"source"`
}

// Technical is technical data of a request (IP address, user agent), sealed, kept only for
// the register's after_collection window.
type Technical struct {
	EventID     string    `json:"event_id" bson:"event_id"`
	CollectedAt time.Time `json:"collected_at" bson:"collected_at"`
	IP          string    `json:"ip,omitempty" bson:"ip,omitempty"`
	UserAgent   string    `json:"user_agent,omitempty" bson:"user_agent,omitempty"`
}

// Contact is the projection of one contact of an institution: every fact the retention
// decision needs, with the event that set each.
type Contact struct {
	Institution string `json:"institution" bson:"institution"`
	ID          string `json:"id" bson:"contact_id"`
	// Version is the optimistic-concurrency counter; 0 means "not stored yet".
	Version int64  `json:"version" bson:"version"`
	Status  Status `json:"status" bson:"status"`

	// Created is set once the lethe.contact.created.v1 event was seen; events may come first.
	Created   bool      `json:"created" bson:"created"`
	Role      string    `json:"role,omitempty" bson:"role,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero" bson:"created_at,omitempty"`

	// CreatedSource is the created event; CreatedAt is the recency of a contact with no activity
	// that counts (the fallback, not a floor).
	CreatedSource Source `json:"created_source,omitzero" bson:"created_source,omitempty"`

	// Recency is the GDPR recency; RecencySource the event that set it. Both are derived:
	// the latest of Activity and the consent changes that count, or the creation date
	// when there is none.
	Recency       time.Time `json:"recency,omitzero" bson:"recency,omitempty"`
	RecencySource Source    `json:"recency_source" bson:"recency_source"`
	// Activity is the latest activity that sets recency other than creation and consent
	// (options, orders, waiting lists, clicks, criteria): a max-register.
	Activity Source `json:"activity,omitzero" bson:"activity,omitempty"`
	// Consents is every consent change, in (At, EventID) order. Whether a change counts for
	// recency depends on the authorisations after it, so the history is kept and the
	// contribution recomputed: late or out-of-order changes then give the same answer.
	Consents []ConsentChange `json:"consents,omitempty" bson:"consents,omitempty"`

	// Customer: has bought or benefited (an order as buyer or attendee); otherwise a prospect.
	Customer       bool   `json:"customer" bson:"customer"`
	CustomerSource Source `json:"customer_source,omitzero" bson:"customer_source,omitempty"`

	Balance        Balance                  `json:"balance" bson:"balance"`
	Subscriptions  map[string]Subscription  `json:"subscriptions,omitempty" bson:"subscriptions,omitempty"`
	LegalHold      LegalHold                `json:"legal_hold" bson:"legal_hold"`
	Authorisations map[string]Authorisation `json:"authorisations,omitempty" bson:"authorisations,omitempty"`
	Profile        map[string]Field         `json:"profile,omitempty" bson:"profile,omitempty"`
	// Criteria is the latest value of each contact criterion, by criterion name: a value
	// sealed like the profile's (events.CriterionValueField), erased on anonymisation.
	Criteria      map[string]Field `json:"criteria,omitempty" bson:"criteria,omitempty"`
	Organisations []string         `json:"organisations,omitempty" bson:"organisations,omitempty"`
	Orders        map[string]Order `json:"orders,omitempty" bson:"orders,omitempty"`
	Technical     []Technical      `json:"technical,omitempty" bson:"technical,omitempty"`

	// ErasedAt and ErasedBy (run:<id> or request:<id>) are set when the contact is anonymised or deleted.
	ErasedAt  time.Time `json:"erased_at,omitzero" bson:"erased_at,omitempty"`
	ErasedBy  string    `json:"erased_by,omitempty" bson:"erased_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero" bson:"updated_at,omitempty"`
	// ErasedFields names what the erasure removed (field names, never values), kept so that
	// a resumed erasure reports the same list as the first attempt.
	ErasedFields []string `json:"erased_fields,omitempty" bson:"erased_fields,omitempty"`
}

// Run modes and states.
const (
	ModeSimulation = "simulation"
	ModeExecute    = "execute"
	ModeApply      = "apply"

	RunPending  = "pending"
	RunPlanning = "planning"
	RunPlanned  = "planned"
	// RunExecuting (apply and execute runs): commands are being queued, then outcomes arrive;
	// the run stays here until every item has its result.
	RunExecuting = "executing"
	RunCompleted = "completed"
	RunFailed    = "failed"
	// RunPublishing is what an executing run was called before it waited for its results;
	// a run stored in it is driven as RunExecuting.
	RunPublishing = "publishing"
)

// Finished reports whether a run in state is driven no further: a planned simulation, a
// completed run, a failed one.
func Finished(state string) bool {
	return state == RunPlanned || state == RunCompleted || state == RunFailed
}

// Run is one retention run of an institution.
type Run struct {
	ID               string    `json:"id" bson:"run_id"`
	Institution      string    `json:"institution" bson:"institution"`
	Version          int64     `json:"version" bson:"version"`
	Mode             string    `json:"mode" bson:"mode"`
	AsOf             time.Time `json:"as_of" bson:"as_of"`
	InactivityMonths int       `json:"inactivity_months" bson:"inactivity_months"`
	Trigger          string    `json:"trigger" bson:"trigger"` // api, schedule
	// SourceRun is the simulation an apply run executes.
	SourceRun   string         `json:"source_run,omitempty" bson:"source_run,omitempty"`
	RequestedBy string         `json:"requested_by,omitempty" bson:"requested_by,omitempty"`
	State       string         `json:"state" bson:"state"`
	Error       string         `json:"error,omitempty" bson:"error,omitempty"`
	Counts      map[string]int `json:"counts,omitempty" bson:"counts,omitempty"`   // by outcome
	Reasons     map[string]int `json:"reasons,omitempty" bson:"reasons,omitempty"` // skips by reason
	// Forecast: a simulation as of a date after its creation — a look ahead, never appliable.
	Forecast bool `json:"forecast,omitempty" bson:"forecast,omitempty"`
	// Planned and PlannedReasons keep an apply or execute run's plan once Counts and Reasons
	// say what actually happened (at completion), so the drift between the two stays readable.
	Planned        map[string]int `json:"planned,omitempty" bson:"planned,omitempty"`
	PlannedReasons map[string]int `json:"planned_reasons,omitempty" bson:"planned_reasons,omitempty"`
	// Queued is set once every command of an apply or execute run is on the bus; Results counts
	// the items whose outcome is known, so a reader follows the run to completion.
	Queued  bool `json:"queued,omitempty" bson:"queued,omitempty"`
	Results int  `json:"results,omitempty" bson:"results,omitempty"`
	// Cursor is the last contact id whose command was published, so an interrupted run resumes.
	Cursor     string    `json:"cursor,omitempty" bson:"cursor,omitempty"`
	CreatedAt  time.Time `json:"created_at" bson:"created_at"`
	UpdatedAt  time.Time `json:"updated_at" bson:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero" bson:"finished_at,omitempty"`
}

// Run item outcomes.
const (
	OutcomeDelete    = "delete"
	OutcomeAnonymise = "anonymise"
	OutcomeSkip      = "skip"
)

// RunItem is one contact a run considered.
type RunItem struct {
	Institution   string    `json:"institution" bson:"institution"`
	RunID         string    `json:"run_id" bson:"run_id"`
	ContactID     string    `json:"contact_id" bson:"contact_id"`
	Outcome       string    `json:"outcome" bson:"outcome"`
	Reason        string    `json:"reason,omitempty" bson:"reason,omitempty"`
	Role          string    `json:"role,omitempty" bson:"role,omitempty"`
	Customer      bool      `json:"customer" bson:"customer"`
	Recency       time.Time `json:"recency" bson:"recency"`
	RecencySource Source    `json:"recency_source" bson:"recency_source"`
	// Result is what the anonymiser did (anonymised, deleted, skipped:<reason>), once known.
	Result   string    `json:"result,omitempty" bson:"result,omitempty"`
	ResultAt time.Time `json:"result_at,omitzero" bson:"result_at,omitempty"`
}

// AuditEntry is one outcome or access, chained by hash; it never holds a personal value.
type AuditEntry struct {
	Seq         int64     `json:"seq" bson:"seq"`
	At          time.Time `json:"at" bson:"at"`
	Institution string    `json:"institution" bson:"institution"`
	ContactID   string    `json:"contact_id,omitempty" bson:"contact_id,omitempty"`
	Actor       string    `json:"actor" bson:"actor"`   // run:<id>, request:<id>, token:<name>, system:retention
	Action      string    `json:"action" bson:"action"` // anonymised, deleted, skipped, exported, purged
	Reason      string    `json:"reason,omitempty" bson:"reason,omitempty"`
	Fields      []string  `json:"fields,omitempty" bson:"fields,omitempty"`
	// Key makes appending idempotent: unique across the log, never empty (e.g. "erase:<command
	// id>", so a redelivered command never appends twice).
	Key string `json:"key" bson:"key"`
	// AnchorSeq and AnchorHash are set on a purge entry only: the chain now starts at AnchorSeq,
	// whose PrevHash is AnchorHash, so a log with its oldest entries purged still verifies.
	AnchorSeq  int64  `json:"anchor_seq,omitempty" bson:"anchor_seq,omitempty"`
	AnchorHash string `json:"anchor_hash,omitempty" bson:"anchor_hash,omitempty"`
	PrevHash   string `json:"prev_hash" bson:"prev_hash"`
	Hash       string `json:"hash" bson:"hash"`
}

// Candidate is what a run's decision reads of a contact, and all it reads: kept beside the
// (institution, status, recency) index so that planning a run is one range scan, never a
// whole contact decoded per inactive one (Contacts.Candidates). No personal value is in it.
type Candidate struct {
	ID            string
	Status        Status
	Created       bool
	Role          string
	Recency       time.Time
	RecencySource Source
	Customer      bool
	// Balance is Balance.Amount: its sign is the money blocker.
	Balance   int64
	LegalHold bool
	// Subscriptions are the statuses of the contact's subscriptions, each once, sorted;
	// pkg/retention says which of them block.
	Subscriptions []string
}

// CandidateOf is the candidate of a contact: what every adapter keeps in its index, and what
// pkg/retention decides on, so the index and the full contact can never decide differently.
func CandidateOf(c Contact) Candidate {
	e := Candidate{
		ID: c.ID, Status: c.Status, Created: c.Created, Role: c.Role,
		Recency: c.Recency, RecencySource: c.RecencySource, Customer: c.Customer,
		Balance: c.Balance.Amount, LegalHold: c.LegalHold.Held,
	}
	for _, s := range c.Subscriptions {
		if !slices.Contains(e.Subscriptions, s.Status) {
			e.Subscriptions = append(e.Subscriptions, s.Status)
		}
	}
	slices.Sort(e.Subscriptions)
	return e
}
