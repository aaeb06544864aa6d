package ingest

import (
	"context"
	"errors"
	"fmt"

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
type ForwardInbox struct {
	keys Keys
	pub  Publisher
}

// NewForwardInbox returns the use case sealing with keys and publishing with pub.
func NewForwardInbox(keys Keys, pub Publisher) *ForwardInbox {
	return &ForwardInbox{keys: keys, pub: pub}
}

// Inbound is one event taken from LETHE_INBOX and the subject it was published on.
type Inbound struct {
	Subject string
	Event   event.Event
}

// Handle forwards msgs and returns one result per message, in order: nil once the event is
// stored on LETHE_ACTIVITY; an error matching events.ErrInvalid or ErrWrongInstitution for
// an event that can never be accepted; ErrUnavailable or ErrKeys for one worth retrying.
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
		if want := bus.InboxSubject(inst); msgs[i].Subject != want {
			errs[i] = fmt.Errorf("%w: published on %s, but its institution is %s", ErrWrongInstitution, msgs[i].Subject, inst)
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
