package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// AcceptEvents is the use case behind POST /v1/events: the events of one request are
// validated, authorised, sealed and published together, or none of them is accepted.
type AcceptEvents struct {
	keys Keys
	pub  Publisher
	// records says which institutions' registers declare technical data (none by default).
	records func(institution string) bool
	// maxEvent, when set, is how many bytes one encoded event may take on the bus now (0:
	// unknown, not checked).
	maxEvent func() int
}

// WithMaxEventBytes checks every event, sealed and encoded, against max() before any is
// published: an event over the bus's payload limit is refused by the server on every try,
// so it is a *TooLargeError for the whole request, never ErrUnavailable.
func WithMaxEventBytes(max func() int) AcceptOption {
	return func(uc *AcceptEvents) { uc.maxEvent = max }
}

// TooLargeError names the events of a request that are over the bus's payload limit once
// sealed and encoded. Nothing of the request was published.
type TooLargeError struct {
	Limit  int
	Events []OversizedEvent
}

// OversizedEvent is one event over the limit: its position in the request, id and size.
type OversizedEvent struct {
	Index int
	ID    string
	Size  int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("ingest: %d events over the bus's payload limit of %d bytes (the first: index %d, id %q, %d bytes)",
		len(e.Events), e.Limit, e.Events[0].Index, e.Events[0].ID, e.Events[0].Size)
}

// NewAcceptEvents returns the use case sealing with keys and publishing with pub.
func NewAcceptEvents(keys Keys, pub Publisher, opts ...AcceptOption) *AcceptEvents {
	uc := &AcceptEvents{keys: keys, pub: pub}
	for _, o := range opts {
		o(uc)
	}
	return uc
}

// Authorize returns nil if the caller may send events for institution, else the error to
// answer with (the HTTP port passes httpapi.Require, a 403 naming the institution).
type Authorize func(institution string) error

// AuthorizeConfirmation returns nil if the caller speaks for destination and may confirm its
// erasures for institution, else the error to answer with (the HTTP port's is a 403 naming
// why). Every lethe.erasure.confirmed.v1 of a request passes it.
type AuthorizeConfirmation func(institution, destination string) error

// ErrNotDestination: a lethe.erasure.confirmed.v1 from a caller that does not speak for the
// destination it names (or for any), or for an institution that destination does not follow.
var ErrNotDestination = errors.New("ingest: the sender does not speak for the confirmation's destination")

func refuseConfirmations(_, destination string) error {
	return fmt.Errorf("%w: %s", ErrNotDestination, destination)
}

// Accepted is what Handle did.
type Accepted struct {
	// Events is how many events JetStream acknowledged (duplicates of earlier sends included).
	Events int
	// Dropped counts the events whose personal fields were dropped because their contact's
	// data key was destroyed.
	Dropped int
	// ByType counts the accepted events by type.
	ByType map[string]int
}

// Handle accepts es whole or not at all. Errors, checked with errors.As/Is:
//   - *events.BatchError naming every invalid event by its index (also for a single event);
//   - whatever authorize returned, for the first institution it refused;
//   - ErrUnavailable when JetStream or the key store could not take the events: a retry of
//     the same request is safe, since what did land is deduplicated by its Nats-Msg-Id;
//   - ErrKeys when a data key cannot be used.
//
// Validation comes first and covers every event, so a caller fixes a batch in one pass.
func (uc *AcceptEvents) Handle(ctx context.Context, es []event.Event, authorize Authorize) (Accepted, error) {
	return uc.HandleFrom(ctx, es, authorize, refuseConfirmations, nil)
}

// HandleFrom is Handle for events that came in one HTTP request: origin is that request's
// technical data, recorded on the events of the institutions whose register declares it
// (WithTechnicalData). A nil origin records nothing. Each confirmation passes confirm.
func (uc *AcceptEvents) HandleFrom(ctx context.Context, es []event.Event, authorize Authorize, confirm AuthorizeConfirmation, origin *Origin) (Accepted, error) {
	data := make([]events.Data, len(es))
	var bad []events.IndexedError
	for i := range es {
		d, err := checkEvent(es[i])
		if err != nil {
			bad = append(bad, events.IndexedError{Index: i, Err: err})
			continue
		}
		data[i] = d
	}
	if len(bad) > 0 {
		return Accepted{}, &events.BatchError{Errors: bad}
	}

	// Authorise each institution once; a batch usually holds one.
	var seen []string
	for i := range es {
		inst := events.Institution(es[i])
		if slices.Contains(seen, inst) {
			continue
		}
		seen = append(seen, inst)
		if err := authorize(inst); err != nil {
			return Accepted{}, err
		}
	}
	for i := range es {
		if c, ok := data[i].(*events.ErasureConfirmed); ok {
			if err := confirm(events.Institution(es[i]), c.Destination); err != nil {
				return Accepted{}, err
			}
		}
	}

	acc := Accepted{ByType: make(map[string]int, 4)}
	var technical func(*event.Event) (Origin, bool)
	if origin != nil && uc.records != nil {
		technical = func(e *event.Event) (Origin, bool) { return *origin, uc.records(events.Institution(*e)) }
	}
	errs, dropped := sealAll(ctx, uc.keys, es, data, technical)
	for _, err := range errs {
		if err != nil {
			return Accepted{}, err
		}
	}
	acc.Dropped = dropped
	out := make([]bus.Outgoing, len(es))
	for i := range es {
		out[i] = bus.Outgoing{Subject: bus.ActivitySubject(events.Institution(es[i]), es[i].Type()), Event: es[i]}
	}
	if err := uc.checkSizes(out); err != nil {
		return Accepted{}, err
	}
	if err := uc.pub.PublishBatch(ctx, out); err != nil {
		return Accepted{}, publishFailure(err)
	}
	for i := range es {
		acc.ByType[es[i].Type()]++
	}
	acc.Events = len(es)
	return acc, nil
}

// checkSizes refuses the batch when any of its events, as sealed, is over the bus's limit.
// It runs after sealing, since sealing is what makes an event grow (base64, nonce, tag).
func (uc *AcceptEvents) checkSizes(out []bus.Outgoing) error {
	if uc.maxEvent == nil {
		return nil
	}
	limit := uc.maxEvent()
	if limit <= 0 {
		return nil
	}
	var over []OversizedEvent
	for i := range out {
		n, err := bus.EncodedSize(out[i].Subject, out[i].Event)
		if err != nil {
			return fmt.Errorf("ingest: encode event %d: %w", i, err)
		}
		if n > limit {
			over = append(over, OversizedEvent{Index: i, ID: out[i].Event.ID(), Size: n})
		}
	}
	if len(over) > 0 {
		return &TooLargeError{Limit: limit, Events: over}
	}
	return nil
}

// publishFailure classifies an error of PublishBatch: a refused event or subject is a bug
// here (validation let it through), anything else is the bus not taking events now.
func publishFailure(err error) error {
	if errors.Is(err, bus.ErrInvalidEvent) || errors.Is(err, bus.ErrInvalidSubject) {
		return fmt.Errorf("ingest: publish: %w", err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
