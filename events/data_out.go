package events

import "time"

// The outcome data carries ids, dates, counts and field names only — never a personal
// value — so downstream CRMs may keep LETHE_RESULTS as long as they like.

// ContactAnonymised is the data of lethe.contact.anonymised.v1. Exactly one of RunID
// (a retention run) and RequestID (an on-demand erasure) is set.
type ContactAnonymised struct {
	Institution string    `json:"institution"`
	ContactID   string    `json:"contact_id"`
	RunID       string    `json:"run_id,omitempty"`
	RequestID   string    `json:"request_id,omitempty"`
	At          time.Time `json:"at"`
	// ErasedFields names what was erased, as PersonalField names ("profile.email",
	// "profile.custom.shoe_size", "items.beneficiary.first_name"): never a value.
	ErasedFields []string `json:"erased_fields"`
}

// ContactDeleted is the data of lethe.contact.deleted.v1 (a prospect, removed whole).
type ContactDeleted struct {
	Institution string    `json:"institution"`
	ContactID   string    `json:"contact_id"`
	RunID       string    `json:"run_id,omitempty"`
	RequestID   string    `json:"request_id,omitempty"`
	At          time.Time `json:"at"`
}

// ContactSkipped is the data of lethe.contact.skipped.v1: the contact was due but blocked.
type ContactSkipped struct {
	Institution string    `json:"institution"`
	ContactID   string    `json:"contact_id"`
	RunID       string    `json:"run_id,omitempty"`
	RequestID   string    `json:"request_id,omitempty"`
	At          time.Time `json:"at"`
	// Reason is one of debt, credit, active_subscription, legal_hold, became_active, not_in_scope.
	Reason string `json:"reason"`
}

// RunCompleted is the data of lethe.run.completed.v1.
type RunCompleted struct {
	Institution string    `json:"institution"`
	RunID       string    `json:"run_id"`
	Mode        string    `json:"mode"` // simulation, execute or apply
	At          time.Time `json:"at"`
	Counts      RunCounts `json:"counts"`
	// SkippedByReason splits Counts.Skipped by skip reason; optional.
	SkippedByReason map[string]int64 `json:"skipped_by_reason,omitempty"`
}

// RunCounts counts a run's contacts by outcome (planned outcomes for a simulation).
type RunCounts struct {
	Anonymised int64 `json:"anonymised"`
	Deleted    int64 `json:"deleted"`
	Skipped    int64 `json:"skipped"`
}

func (ContactAnonymised) EventType() string { return TypeContactAnonymised }
func (ContactDeleted) EventType() string    { return TypeContactDeleted }
func (ContactSkipped) EventType() string    { return TypeContactSkipped }
func (RunCompleted) EventType() string      { return TypeRunCompleted }

// outcome is what the three contact outcomes share, for the envelope cross-checks.
type outcome interface {
	Data
	outcome() (institution, contactID string)
}

func (d *ContactAnonymised) outcome() (string, string) { return d.Institution, d.ContactID }
func (d *ContactDeleted) outcome() (string, string)    { return d.Institution, d.ContactID }
func (d *ContactSkipped) outcome() (string, string)    { return d.Institution, d.ContactID }

// outcomeFields builds the shared members of a contact outcome; get returns the struct's
// common fields so the three types share one table shape.
func outcomeFields[T any](get func(*T) (inst, contact, run, request *string, at *time.Time)) []field[T] {
	return []field[T]{
		{name: "institution", required: true, read: func(r *reader, p *path, d *T) { i, _, _, _, _ := get(d); *i = r.token(p) }},
		{name: "contact_id", required: true, read: func(r *reader, p *path, d *T) { _, c, _, _, _ := get(d); *c = r.contactID(p) }},
		{name: "run_id", read: func(r *reader, p *path, d *T) { _, _, run, _, _ := get(d); *run = r.id(p) }},
		{name: "request_id", read: func(r *reader, p *path, d *T) { _, _, _, req, _ := get(d); *req = r.id(p) }},
		{name: "at", required: true, read: func(r *reader, p *path, d *T) { _, _, _, _, at := get(d); *at = r.timestamp(p) }},
	}
}

// runOrRequest enforces "exactly one of run_id and request_id".
func runOrRequest[T any](r *reader, p *path, seen uint32, fields []field[T]) {
	if r.s.bad() {
		return
	}
	run, req := has(seen, fields, "run_id"), has(seen, fields, "request_id")
	switch {
	case run && req:
		kp := p.key("request_id")
		r.add(&kp, "must not be given with run_id: an outcome comes from a run or from a request")
	case !run && !req:
		kp := p.key("run_id")
		r.add(&kp, "is required (or request_id, for an on-demand erasure)")
	}
}

var contactAnonymisedFields = append(outcomeFields(func(d *ContactAnonymised) (*string, *string, *string, *string, *time.Time) {
	return &d.Institution, &d.ContactID, &d.RunID, &d.RequestID, &d.At
}), field[ContactAnonymised]{name: "erased_fields", required: true, read: func(r *reader, p *path, d *ContactAnonymised) {
	d.ErasedFields = readNames(r, p)
}})

var contactDeletedFields = outcomeFields(func(d *ContactDeleted) (*string, *string, *string, *string, *time.Time) {
	return &d.Institution, &d.ContactID, &d.RunID, &d.RequestID, &d.At
})

var contactSkippedFields = append(outcomeFields(func(d *ContactSkipped) (*string, *string, *string, *string, *time.Time) {
	return &d.Institution, &d.ContactID, &d.RunID, &d.RequestID, &d.At
}), field[ContactSkipped]{name: "reason", required: true, read: func(r *reader, p *path, d *ContactSkipped) {
	d.Reason = r.enum(p, skipReasons)
}})

func readNames(r *reader, p *path) []string {
	if !r.expect(p, kArray) {
		return nil
	}
	names := []string{}
	r.s.enter()
	first := true
	for i := 0; r.s.next(']', &first); i++ {
		ip := p.elem(i)
		v, ok := r.str(&ip)
		if ok && !validFieldPath(v) {
			r.add(&ip, "must be a field name such as profile.email (parts of A-Z, a-z, 0-9, _ and -, joined by dots), never a value")
		}
		names = append(names, v)
	}
	return names
}

// validFieldPath is validName; it keeps a value (an e-mail, a sentence) out of
// erased_fields by shape.
func validFieldPath(s string) bool { return validName(s) }

var runCountsFields = []field[RunCounts]{
	{name: "anonymised", required: true, read: func(r *reader, p *path, d *RunCounts) { d.Anonymised = r.integer(p, 0) }},
	{name: "deleted", required: true, read: func(r *reader, p *path, d *RunCounts) { d.Deleted = r.integer(p, 0) }},
	{name: "skipped", required: true, read: func(r *reader, p *path, d *RunCounts) { d.Skipped = r.integer(p, 0) }},
}

var runCompletedFields = []field[RunCompleted]{
	{name: "institution", required: true, read: func(r *reader, p *path, d *RunCompleted) { d.Institution = r.token(p) }},
	{name: "run_id", required: true, read: func(r *reader, p *path, d *RunCompleted) { d.RunID = r.id(p) }},
	{name: "mode", required: true, read: func(r *reader, p *path, d *RunCompleted) { d.Mode = r.enum(p, runModes) }},
	{name: "at", required: true, read: func(r *reader, p *path, d *RunCompleted) { d.At = r.timestamp(p) }},
	{name: "counts", required: true, read: func(r *reader, p *path, d *RunCompleted) { object(r, p, &d.Counts, runCountsFields) }},
	{name: "skipped_by_reason", read: func(r *reader, p *path, d *RunCompleted) {
		d.SkippedByReason = readReasonCounts(r, p)
	}},
}

func readReasonCounts(r *reader, p *path) map[string]int64 {
	if !r.expect(p, kObject) {
		return nil
	}
	m := map[string]int64{}
	r.s.enter()
	first := true
	for r.s.next('}', &first) {
		k := r.s.key()
		kp := p.key(k)
		if !oneOf(k, skipReasons) {
			r.add(&kp, "is not a skip reason; reasons are debt, credit, active_subscription, legal_hold, became_active, not_in_scope")
		}
		m[k] = r.integer(&kp, 0)
	}
	return m
}

func (d *ContactAnonymised) decode(r *reader, p *path) {
	runOrRequest(r, p, object(r, p, d, contactAnonymisedFields), contactAnonymisedFields)
}
func (d *ContactDeleted) decode(r *reader, p *path) {
	runOrRequest(r, p, object(r, p, d, contactDeletedFields), contactDeletedFields)
}
func (d *ContactSkipped) decode(r *reader, p *path) {
	runOrRequest(r, p, object(r, p, d, contactSkippedFields), contactSkippedFields)
}
func (d *RunCompleted) decode(r *reader, p *path) { object(r, p, d, runCompletedFields) }
