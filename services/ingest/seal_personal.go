package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/seal"
)

// Errors of the use cases, checked with errors.Is; the ports turn them into status codes
// (HTTP) or nak/term (NATS). Validation errors are the events package's own
// (*events.ValidationError, *events.BatchError, both matching events.ErrInvalid).
var (
	// ErrUnavailable: JetStream or the key store could not take the events now; nothing is
	// acknowledged, and a retry of the same events is safe (they dedupe on the bus).
	ErrUnavailable = errors.New("ingest: events could not be stored now")
	// ErrKeys: a data key exists but cannot be used (a master key missing from the
	// configuration, or a corrupted key). Retrying does not help until an operator acts.
	ErrKeys = errors.New("ingest: a contact's data key cannot be used")
)

// Keys hands out a contact's data key for sealing; *seal.Sealer is the implementation.
type Keys interface {
	For(ctx context.Context, institution, contact string) (*seal.ContactKey, error)
	// Prepare loads (or creates together) the keys of a batch's contacts ahead of For.
	Prepare(ctx context.Context, contacts []seal.Contact) error
}

var _ Keys = (*seal.Sealer)(nil)

// Publisher stores events durably; *bus.Publisher is the implementation.
type Publisher interface {
	PublishBatch(ctx context.Context, batch []bus.Outgoing) error
}

var _ Publisher = (*bus.Publisher)(nil)

// checkEvent validates one event against the contract and the ingest rule that only "in"
// types come from outside. It returns the decoded data, for sealing without a second
// decode. The error is a *events.ValidationError.
func checkEvent(e event.Event) (events.Data, error) {
	d, err := events.Decode(e)
	typ := ""
	if e.Context != nil {
		typ = e.Type()
	}
	if events.IsKnownType(typ) && !events.IsInType(typ) {
		// The accepted types by name, from the contract: a glob such as lethe.contact.* would
		// cover lethe.contact.deleted.v1, the very kind of type refused here.
		p := events.Problem{Pointer: "/type", Reason: "is a type Lethe publishes, not one it accepts: " + events.AcceptedTypes()}
		var ve *events.ValidationError
		if errors.As(err, &ve) {
			ve.Problems = append(ve.Problems, p)
			slices.SortStableFunc(ve.Problems, func(a, b events.Problem) int { return strings.Compare(a.Pointer, b.Pointer) })
			return nil, ve
		}
		return nil, &events.ValidationError{Problems: []events.Problem{p}}
	}
	if ps := injectedTechnical(e); len(ps) > 0 {
		var ve *events.ValidationError
		if !errors.As(err, &ve) {
			ve = &events.ValidationError{}
		}
		ve.Problems = append(ve.Problems, ps...)
		slices.SortStableFunc(ve.Problems, func(a, b events.Problem) int { return strings.Compare(a.Pointer, b.Pointer) })
		return nil, ve
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// keptExtensions are the extension attributes that travel on: the tenant, the organisation
// and the trace context. Any other extension is dropped at the door, like unknown data
// members, because it could carry personal data that nobody would seal.
var keptExtensions = []string{events.ExtInstitution, events.ExtOrganisation, "traceparent", "tracestate"}

// sealPersonal seals every personal value of d (decoded from e) with the contact's data
// key, then re-encodes d as e's data. It asks for the key once per event, and only when
// there is a value to seal. When the contact's key was destroyed the personal values are
// dropped instead (dropped is true): the event still counts for its dates, but erased data
// never comes back under a fresh key.
//
// It differs from events.Seal on purpose in one way: a value that merely looks sealed
// (events.IsSealed checks a prefix only) is kept only if it opens with this contact's key
// for this field; anything else is sealed again, so an upstream cannot smuggle a clear
// value past ingest by prefixing it with "sealed:v1:". It also reuses the data decoded by
// validation, so a batch is decoded once.
func sealPersonal(ctx context.Context, keys Keys, e *event.Event, d events.Data) (dropped bool, err error) {
	if p, ok := d.(events.Personal); ok {
		fields := p.PersonalFields()
		if hasValue(fields) {
			ck, err := keys.For(ctx, events.Institution(*e), e.Subject())
			switch {
			case errors.Is(err, seal.ErrKeyDestroyed):
				p.DropPersonal()
				dropped = true
			case errors.Is(err, seal.ErrWrappedKey), errors.Is(err, seal.ErrUnknownMasterKey):
				return false, fmt.Errorf("%w: event %s: %w", ErrKeys, e.ID(), err)
			case err != nil:
				return false, fmt.Errorf("%w: data key for event %s: %w", ErrUnavailable, e.ID(), err)
			default:
				if err := sealFields(ck, fields); err != nil {
					return false, fmt.Errorf("%w: event %s: %w", ErrKeys, e.ID(), err)
				}
			}
		}
	}
	for name := range e.Extensions() {
		if !slices.Contains(keptExtensions, name) {
			e.SetExtension(name, nil)
		}
	}
	// Re-encoding from the typed struct also drops data members this version does not know.
	if err := events.SetData(e, d); err != nil {
		return false, err
	}
	return dropped, nil
}

func hasValue(fields []events.PersonalField) bool {
	for _, f := range fields {
		if *f.Value != "" {
			return true
		}
	}
	return false
}

func sealFields(ck *seal.ContactKey, fields []events.PersonalField) error {
	for _, f := range fields {
		v := *f.Value
		if v == "" { // an empty string clears the field: nothing personal in it
			continue
		}
		if events.IsSealed(v) {
			if _, err := ck.Open(f.Name, v); err == nil {
				continue // genuinely sealed for this contact and field, e.g. a replay
			}
		}
		s, err := ck.Seal(f.Name, v)
		if err != nil {
			return fmt.Errorf("seal %s: %w", f.Name, err)
		}
		*f.Value = s
	}
	return nil
}

// sealWorkers bounds how many events of one batch are sealed at once. Sealing is mostly
// CPU, but an event for a contact never seen waits for its new data key to be written to
// the store; running several lets the store commit those writes together.
const sealWorkers = 8

// sealAll runs sealPersonal on every event i of es for which data[i] is not nil, a few at
// a time, and returns the error of each (nil when sealed) and how many had their personal
// fields dropped. When technical is not nil, the technical data it returns for an event is
// sealed onto it too (sealTechnical).
func sealAll(ctx context.Context, keys Keys, es []event.Event, data []events.Data, technical func(e *event.Event) (Origin, bool)) (errs []error, dropped int) {
	errs = make([]error, len(es))
	// One read per contact and one write for all the new ones, instead of a write (and a wait
	// for the disk) per new contact. A failure here comes back, per event, from For below,
	// which then classifies it.
	_ = keys.Prepare(ctx, contactsNeedingKeys(es, data, technical != nil))
	var drops atomic.Int64
	work := func(i int) {
		if data[i] == nil {
			return
		}
		d, err := sealPersonal(ctx, keys, &es[i], data[i])
		if err == nil && !d && technical != nil {
			if o, ok := technical(&es[i]); ok {
				err = sealTechnical(ctx, keys, &es[i], o)
			}
		}
		errs[i] = err
		if d {
			drops.Add(1)
		}
	}
	workers := min(sealWorkers, len(es)/16)
	if workers < 2 {
		for i := range es {
			work(i)
		}
		return errs, int(drops.Load())
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(es); i = int(next.Add(1)) - 1 {
				work(i)
			}
		})
	}
	wg.Wait()
	return errs, int(drops.Load())
}

// contactsNeedingKeys lists the contacts whose events of es have something to seal: personal
// values, or technical data when it is recorded.
func contactsNeedingKeys(es []event.Event, data []events.Data, technical bool) []seal.Contact {
	out := make([]seal.Contact, 0, len(es))
	for i := range es {
		if data[i] == nil {
			continue
		}
		p, ok := data[i].(events.Personal)
		if technical || (ok && hasValue(p.PersonalFields())) {
			out = append(out, seal.Contact{Institution: events.Institution(es[i]), ID: es[i].Subject()})
		}
	}
	return out
}
