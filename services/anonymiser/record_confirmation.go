package anonymiser

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// expectConfirmations is step 4's first half: an anonymisation or a deletion is expected to be
// confirmed by every destination following the institution (lethe.yaml destinations). A skip
// erased nothing, so nobody confirms it. Idempotent: a redelivered command expects again and
// changes nothing.
func (s *Service) expectConfirmations(ctx context.Context, cmd retention.Command, res Result, at time.Time) error {
	if res.Outcome == OutcomeSkipped {
		return nil
	}
	dests := s.config.DestinationsOf(cmd.Institution)
	if len(dests) == 0 {
		return nil
	}
	es := make([]store.Expectation, len(dests))
	for i, d := range dests {
		es[i] = store.Expectation{Institution: cmd.Institution, Destination: d.Name, OutcomeID: outcomeID(cmd),
			ContactID: cmd.ContactID, Outcome: res.Outcome, By: actorOf(cmd), PublishedAt: at.UTC()}
	}
	if err := s.confirmations.Expect(ctx, es); err != nil {
		return fmt.Errorf("anonymiser: expect confirmations of %s: %w", cmd.CommandID(), err)
	}
	return nil
}

// Confirmation is one lethe.erasure.confirmed.v1 as it was accepted: ingest checked that its
// sender speaks for Data.Destination and that the destination follows Institution.
type Confirmation struct {
	EventID     string
	Institution string
	ContactID   string
	Data        events.ErasureConfirmed
}

// ErrForeignConfirmation: a confirmation on the bus for a destination that does not follow
// its institution (ingest refuses those; this guards the store against any that got past).
var ErrForeignConfirmation = errors.New("anonymiser: confirmation from a destination that does not follow the institution")

// Confirm records a destination's confirmation. One that names no outcome expected from it —
// an unknown outcome id, another institution's, another contact's — is kept as unmatched
// (counted per destination), never lost: it is evidence that the destination erased
// something, and a sign that it confirms the wrong ids. It returns whether it matched.
func (s *Service) Confirm(ctx context.Context, c Confirmation) (matched bool, err error) {
	d := c.Data
	if dest, ok := s.config.Destination(d.Destination); !ok || !dest.Follows(c.Institution) {
		return false, fmt.Errorf("%w: %s, %s", ErrForeignConfirmation, d.Destination, c.Institution)
	}
	e, err := s.confirmations.Get(ctx, c.Institution, d.Destination, d.OutcomeID)
	switch {
	case err == nil && e.ContactID == c.ContactID:
		if _, err := s.confirmations.Confirm(ctx, c.Institution, d.Destination, d.OutcomeID, d.ConfirmedAt, c.EventID); err != nil {
			return false, fmt.Errorf("anonymiser: record confirmation %s: %w", c.EventID, err)
		}
		return true, s.finishConfirmed(ctx, e)
	case err == nil, errors.Is(err, store.ErrNotFound):
		u := store.Unmatched{Institution: c.Institution, Destination: d.Destination, EventID: c.EventID,
			OutcomeID: d.OutcomeID, ContactID: c.ContactID, ConfirmedAt: d.ConfirmedAt}
		if err := s.confirmations.RecordUnmatched(ctx, u); err != nil {
			return false, fmt.Errorf("anonymiser: record unmatched confirmation %s: %w", c.EventID, err)
		}
		return false, nil
	default:
		return false, fmt.Errorf("anonymiser: read expectation of %s: %w", d.OutcomeID, err)
	}
}

// finishConfirmed completes the erasure request an expectation is of once no destination is
// left to confirm it. A redelivered confirmation finds the request completed: nothing changes.
func (s *Service) finishConfirmed(ctx context.Context, e store.Expectation) error {
	id, ok := strings.CutPrefix(e.By, "request:")
	if !ok {
		return nil
	}
	left, err := s.Unconfirmed(ctx, e.Institution, e.ContactID, e.By)
	if err != nil || len(left) > 0 {
		return err
	}
	if _, err := s.FinishRequest(ctx, id, "lethe"); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("anonymiser: finish request %s: %w", id, err)
	}
	return nil
}

// Unconfirmed names the destinations that have not yet confirmed the erasure of contact by
// by (run:<id> or request:<id>), in name order; empty once every expected destination
// confirmed (or none was expected). A request is completed when Lethe erased and this is
// empty (confirmedCompletion), and its view and deadline report name what is left in it.
func (s *Service) Unconfirmed(ctx context.Context, institution, contactID, by string) ([]string, error) {
	out := outcomeID(commandOfActor(institution, contactID, by))
	es, err := s.confirmations.ForContact(ctx, institution, contactID)
	if err != nil {
		return nil, fmt.Errorf("anonymiser: confirmations of %s/%s: %w", institution, contactID, err)
	}
	var names []string
	for _, e := range es {
		if e.OutcomeID == out && !e.Confirmed() {
			names = append(names, e.Destination)
		}
	}
	return names, nil
}

// commandOfActor is the command an erasure by by (run:<id> or request:<id>, as
// store.Contact.ErasedBy and the audit's actor name it) came from: enough to derive its
// outcome's id.
func commandOfActor(institution, contactID, by string) retention.Command {
	cmd := retention.Command{Institution: institution, ContactID: contactID}
	if run, ok := strings.CutPrefix(by, "run:"); ok {
		cmd.RunID = run
	} else {
		cmd.RequestID = strings.TrimPrefix(by, "request:")
	}
	return cmd
}
