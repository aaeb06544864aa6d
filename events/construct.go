package events

import (
	"errors"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
)

// Option adjusts an event built by New.
type Option func(*event.Event) error

// WithID sets the event id (default: a random UUID). Reuse the upstream's own id for the
// same fact when re-sending: ids dedupe on the bus.
func WithID(id string) Option {
	return func(e *event.Event) error { e.SetID(id); return nil }
}

// WithTime sets the event time (default: now, UTC).
func WithTime(t time.Time) Option {
	return func(e *event.Event) error { e.SetTime(t); return nil }
}

// WithOrganisation sets the organisation extension.
func WithOrganisation(org string) Option {
	return func(e *event.Event) error { e.SetExtension(ExtOrganisation, org); return nil }
}

// WithExtension sets any other extension attribute (traceparent, …).
func WithExtension(name string, value any) Option {
	return func(e *event.Event) error { return e.Context.SetExtension(name, value) }
}

// ErrNilData is returned by New when no data is given.
var ErrNilData = errors.New("events: nil data")

// New builds a valid CloudEvent of d's type: specversion 1.0, the given source, subject
// (the contact id; "" only for lethe.run.completed.v1) and institution, a fresh id, the
// current time and d as JSON data. The result is validated; the error is a
// *ValidationError when it breaks the contract.
func New(source, institution, subject string, d Data, opts ...Option) (event.Event, error) {
	if d == nil {
		return event.Event{}, ErrNilData
	}
	e := event.New()
	e.SetID(uuid.NewString())
	e.SetSource(source)
	e.SetType(d.EventType())
	e.SetTime(time.Now().UTC())
	if subject != "" {
		e.SetSubject(subject)
	}
	e.SetExtension(ExtInstitution, institution)
	if err := SetData(&e, d); err != nil {
		return event.Event{}, err
	}
	for _, o := range opts {
		if err := o(&e); err != nil {
			return event.Event{}, fmt.Errorf("events: option: %w", err)
		}
	}
	if err := Validate(e); err != nil {
		return event.Event{}, err
	}
	return e, nil
}

// NewContactAnonymised builds a lethe.contact.anonymised.v1 event; institution and
// subject come from d.
func NewContactAnonymised(source string, d ContactAnonymised, opts ...Option) (event.Event, error) {
	if d.ErasedFields == nil {
		d.ErasedFields = []string{} // "erased nothing" is still a list
	}
	return New(source, d.Institution, d.ContactID, d, opts...)
}

// NewContactDeleted builds a lethe.contact.deleted.v1 event; institution and subject come from d.
func NewContactDeleted(source string, d ContactDeleted, opts ...Option) (event.Event, error) {
	return New(source, d.Institution, d.ContactID, d, opts...)
}

// NewContactSkipped builds a lethe.contact.skipped.v1 event; institution and subject come from d.
func NewContactSkipped(source string, d ContactSkipped, opts ...Option) (event.Event, error) {
	return New(source, d.Institution, d.ContactID, d, opts...)
}

// NewRunCompleted builds a lethe.run.completed.v1 event; institution comes from d, and
// the event has no subject (it is about a run, not a contact).
func NewRunCompleted(source string, d RunCompleted, opts ...Option) (event.Event, error) {
	return New(source, d.Institution, "", d, opts...)
}

// String returns a pointer to s, for the optional members of Profile, Address and Beneficiary.
func String(s string) *string { return &s }
