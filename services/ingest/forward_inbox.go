package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// ErrWrongInstitution: an inbox message was published under another institution's subject
// than the institution its event names. Publishing rights on NATS subjects are how a tenant
// is confined there, so the event is refused rather than trusted.
var ErrWrongInstitution = errors.New("ingest: the inbox subject's institution differs from the event's institution")

// ForwardInbox is the use case behind the NATS ingress: each event an upstream published on
// lethe.inbox.<institution> is validated like an HTTP one, sealed and forwarded to
// LETHE_ACTIVITY. Unlike an HTTP batch, inbox messages are independent: one bad message
// does not hold back the others.
//
// A lethe.erasure.confirmed.v1 is accepted only on its destination's own subject,
// bus.ConfirmationSubject(<institution>, <destination>), which the bus grants only to a user
// speaking for that destination, and only from a destination following the institution.
type ForwardInbox struct {
	keys Keys
	pub  Publisher
	// follows says whether a destination follows an institution (lethe.yaml destinations).
	follows func(destination, institution string) bool
}

// NewForwardInbox returns the use case sealing with keys and publishing with pub; follows
// says which destinations follow which institutions (nil: none, so no confirmation passes).
func NewForwardInbox(keys Keys, pub Publisher, follows func(destination, institution string) bool) *ForwardInbox {
	if follows == nil {
		follows = func(string, string) bool { return false }
	}
	return &ForwardInbox{keys: keys, pub: pub, follows: follows}
}

// Inbound is one event taken from LETHE_INBOX and the subject it was published on.
type Inbound struct {
	Subject string
	Event   event.Event
}

// Handle forwards msgs and returns one result per message, in order: nil once the event is
// stored on LETHE_ACTIVITY; an error matching events.ErrInvalid, ErrWrongInstitution or
// ErrNotDestination for an event that can never be accepted; ErrUnavailable or ErrKeys for
// one worth retrying.
func (uc *ForwardInbox) Handle(ctx context.Context, msgs []Inbound) []error {
	errs := make([]error, len(msgs))
	es := make([]event.Event, len(msgs))
	data := make([]events.Data, len(msgs))
	for i := range msgs {
		es[i] = msgs[i].Event
		d, err := checkEvent(es[i])
		if err != nil {
			errs[i] = err
			continue
		}
		inst := events.Institution(es[i])
		if err := uc.checkSubject(msgs[i].Subject, inst, d); err != nil {
			errs[i] = err
			continue
		}
		data[i] = d
	}
	sealErrs, _ := sealAll(ctx, uc.keys, es, data, nil)
	out := make([]bus.Outgoing, 0, len(msgs))
	idx := make([]int, 0, len(msgs))
	for i := range es {
		if data[i] == nil {
			continue
		}
		if sealErrs[i] != nil {
			errs[i] = sealErrs[i]
			continue
		}
		out = append(out, bus.Outgoing{Subject: bus.ActivitySubject(events.Institution(es[i]), es[i].Type()), Event: es[i]})
		idx = append(idx, i)
	}
	if err := uc.pub.PublishBatch(ctx, out); err != nil {
		// Some may have landed; all are retried, and dedupe stores each once.
		err = publishFailure(err)
		for _, i := range idx {
			errs[i] = err
		}
	}
	return errs
}

// checkSubject is who may have published the event, as the subject says (the bus grants
// subjects by user): an institution's inbox for anything but a confirmation, a destination's
// confirmation subject for its confirmations only.
func (uc *ForwardInbox) checkSubject(subject, inst string, d events.Data) error {
	inbox := bus.InboxSubject(inst)
	c, confirmation := d.(*events.ErasureConfirmed)
	switch {
	case confirmation && subject == bus.ConfirmationSubject(inst, c.Destination):
		if !uc.follows(c.Destination, inst) {
			return fmt.Errorf("%w: destination %s does not follow institution %s (lethe.yaml destinations)", ErrNotDestination, c.Destination, inst)
		}
		return nil
	case confirmation && (subject == inbox || strings.HasPrefix(subject, inbox+".")):
		return fmt.Errorf("%w: a confirmation for destination %s published on %s; only a bus user speaking for %s may confirm for it, on %s",
			ErrNotDestination, c.Destination, subject, c.Destination, bus.ConfirmationSubject(inst, c.Destination))
	case !confirmation && strings.HasPrefix(subject, inbox+"."):
		return fmt.Errorf("%w: %s carries a destination's confirmations only, not %s", ErrNotDestination, subject, d.EventType())
	case subject != inbox:
		return fmt.Errorf("%w: published on %s, but its institution is %s", ErrWrongInstitution, subject, inst)
	}
	return nil
}
