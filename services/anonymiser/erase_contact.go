package anonymiser

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// casAttempts bounds the re-read/re-decide loop when the contact keeps changing under us.
const casAttempts = 16

// Result is what one command did.
type Result struct {
	Outcome string   // anonymised, deleted, skipped
	Reason  string   // skip reason
	Fields  []string // erased field names
}

// Drift (the re-check deciding otherwise than the plan) is not stored apart: the run item
// keeps both the planned outcome and the result.

// Execute carries out one erasure command. It first checks the command against what was
// decided (authorise): a command that matches no stored item of an apply or execute run and no
// stored erasure request fails with ErrRefused and changes nothing. The run's stored as_of and
// period and the item's planned outcome are used, never the command's copies. A planned skip
// is reported as that skip. Every step is idempotent and the steps are ordered so that a
// crash anywhere, followed by the redelivered command, finishes the job once:
//
//  1. decide and erase: re-read the contact, re-check it (still inactive as of the run's
//     date, in scope, not blocked — retention.Decide, or DecideErasure for a request) and
//     store the erased contact with a compare-and-swap on the version that was checked, so a
//     contact that became active or blocked in between is never erased;
//  2. destroy the contact's data key (crypto-shredding every sealed copy);
//  3. record the outcome in the audit trail under the key "erase:<command id>" (once);
//  4. record the confirmation every destination following the institution owes for an
//     erasure (store.Confirmations.Expect, idempotent), then publish the outcome on
//     LETHE_RESULTS (its id is the command's: deduplicated);
//  5. mark the run item or the request done.
//
// A redelivered command finds its own work: an audit entry under its key fixes the outcome
// (it is never decided twice), and a contact erased by the same run or request resumes at
// step 2.
func (s *Service) Execute(ctx context.Context, cmd retention.Command) (Result, error) {
	if err := validCommand(cmd); err != nil {
		return Result{}, err
	}
	auth, err := s.authorise(ctx, cmd)
	if err != nil {
		return Result{}, err
	}
	cmd = auth.cmd
	id := cmd.CommandID()
	actor := actorOf(cmd)
	key := "erase:" + id

	var res Result
	switch prior, err := s.trail.ByKey(ctx, key); {
	case err == nil:
		res = Result{Outcome: prior.Action, Reason: prior.Reason, Fields: prior.Fields}
	case errors.Is(err, store.ErrNotFound):
		if res, err = s.decideAndErase(ctx, auth, actor); err != nil {
			return Result{}, err
		}
	default:
		return Result{}, fmt.Errorf("anonymiser: read audit of %s: %w", id, err)
	}
	if err := s.step("erased", id); err != nil {
		return Result{}, err
	}
	// The ledger has the erasure before its key goes and long before its outcome is out: an
	// erasure the ledger does not hold could come back with a restored store.
	if err := s.recordErasure(ctx, cmd, res); err != nil {
		return Result{}, err
	}

	if res.Outcome != OutcomeSkipped {
		if err := s.keys.Destroy(ctx, cmd.Institution, cmd.ContactID); err != nil {
			return Result{}, fmt.Errorf("anonymiser: destroy key of %s/%s: %w", cmd.Institution, cmd.ContactID, err)
		}
	}
	if err := s.step("key_destroyed", id); err != nil {
		return Result{}, err
	}

	entry, err := s.audit.Record(ctx, store.AuditEntry{
		Key: key, Institution: cmd.Institution, ContactID: cmd.ContactID, Actor: actor,
		Action: res.Outcome, Reason: res.Reason, Fields: res.Fields,
	})
	if err != nil {
		return Result{}, fmt.Errorf("anonymiser: audit %s: %w", id, err)
	}
	res.Outcome, res.Reason, res.Fields = entry.Action, entry.Reason, entry.Fields
	if err := s.step("audited", id); err != nil {
		return Result{}, err
	}

	// Steps 4 and 5: a result already on the run item or the request means the outcome went
	// out before (step 5 follows step 4).
	mark := s.reportMark(auth)
	if mark.done {
		return res, nil
	}
	// Expected before it is published, so no confirmation of it can come first.
	if err := s.expectConfirmations(ctx, cmd, res, entry.At); err != nil {
		return Result{}, err
	}
	if err := s.publishOutcome(ctx, cmd, res, entry.At); err != nil {
		return Result{}, err
	}
	if err := s.step("published", id); err != nil {
		return Result{}, err
	}
	if err := mark.set(ctx, res, entry.At); err != nil {
		return Result{}, err
	}
	s.outcomes.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", res.Outcome), attribute.String("reason", res.Reason)))
	return res, nil
}

// decideAndErase is step 1: the re-check and the conditional write, retried when the contact
// changed between the read and the write.
func (s *Service) decideAndErase(ctx context.Context, auth authority, actor string) (Result, error) {
	cmd := auth.cmd
	if auth.item != nil && auth.item.Outcome == store.OutcomeSkip {
		// The reviewed plan skips this contact: it stays skipped whatever changed since.
		return skipped(auth.item.Reason), nil
	}
	for range casAttempts {
		c, err := s.contacts.Get(ctx, cmd.Institution, cmd.ContactID)
		if errors.Is(err, store.ErrNotFound) {
			return skipped(retention.ReasonNotInScope), nil
		}
		if err != nil {
			return Result{}, fmt.Errorf("anonymiser: read %s/%s: %w", cmd.Institution, cmd.ContactID, err)
		}
		if c.Status == store.StatusAnonymised || c.Status == store.StatusDeleted {
			if c.ErasedBy == actor { // our own erasure, interrupted after step 1
				return erasedResult(c), nil
			}
			return skipped(retention.ReasonNotInScope), nil
		}
		var d retention.Decision
		if cmd.RequestID != "" {
			d = retention.DecideErasure(c)
		} else {
			d = retention.Decide(c, cmd.AsOf, cmd.InactivityMonths)
		}
		if !d.Candidate || d.Outcome == store.OutcomeSkip {
			return skipped(d.Reason), nil
		}
		erased := retention.Erase(c, d.Outcome, actor, s.now())
		stored, err := s.contacts.Put(ctx, erased)
		if errors.Is(err, store.ErrConflict) {
			continue // the contact changed since we read it: decide again on the new version
		}
		if err != nil {
			return Result{}, fmt.Errorf("anonymiser: erase %s/%s: %w", cmd.Institution, cmd.ContactID, err)
		}
		return erasedResult(stored), nil
	}
	return Result{}, fmt.Errorf("anonymiser: %s/%s kept changing during %d attempts: %w", cmd.Institution, cmd.ContactID, casAttempts, store.ErrConflict)
}

func erasedResult(c store.Contact) Result {
	if c.Status == store.StatusDeleted {
		return Result{Outcome: OutcomeDeleted, Fields: c.ErasedFields}
	}
	return Result{Outcome: OutcomeAnonymised, Fields: c.ErasedFields}
}

func skipped(reason string) Result {
	if reason == "" {
		reason = retention.ReasonNotInScope
	}
	return Result{Outcome: OutcomeSkipped, Reason: reason}
}

// mark is where a command's result is recorded: its run item, or its request. It is read
// once per command: whether the result is already there, and then to set it.
type mark struct {
	done bool
	set  func(ctx context.Context, res Result, at time.Time) error
}

// reportMark is where the outcome of an authorised command is marked: its run item or its
// request, as authorise read them.
func (s *Service) reportMark(auth authority) mark {
	cmd := auth.cmd
	if r := auth.request; r != nil {
		// Done when the request is answered, moved on to a later attempt, or holds this
		// attempt's outcome already (completeRequest ran).
		done := !r.Open() || r.Attempt != cmd.Attempt || r.Outcome != ""
		return mark{done: done, set: func(ctx context.Context, res Result, _ time.Time) error {
			return s.completeRequest(ctx, *r, cmd.Attempt, res)
		}}
	}
	it := *auth.item
	return mark{done: it.Result != "", set: func(ctx context.Context, res Result, at time.Time) error {
		it.Result, it.ResultAt = res.Outcome, at.UTC()
		if res.Outcome == OutcomeSkipped {
			it.Result += ":" + res.Reason
		}
		if err := s.runItems.Put(ctx, []store.RunItem{it}); err != nil {
			return fmt.Errorf("anonymiser: mark run item %s/%s/%s: %w", cmd.Institution, cmd.RunID, cmd.ContactID, err)
		}
		return nil
	}}
}

// publishOutcome is step 4: lethe.contact.{anonymised,deleted,skipped}.v1 with ids, dates and
// field names only.
func (s *Service) publishOutcome(ctx context.Context, cmd retention.Command, res Result, at time.Time) error {
	at = at.UTC()
	opts := []events.Option{events.WithID(outcomeID(cmd)), events.WithTime(at)}
	var e event.Event
	var err error
	switch res.Outcome {
	case OutcomeAnonymised:
		fields := res.Fields
		if fields == nil {
			fields = []string{}
		}
		e, err = events.NewContactAnonymised(Source, events.ContactAnonymised{Institution: cmd.Institution, ContactID: cmd.ContactID,
			RunID: cmd.RunID, RequestID: cmd.RequestID, At: at, ErasedFields: fields}, opts...)
	case OutcomeDeleted:
		e, err = events.NewContactDeleted(Source, events.ContactDeleted{Institution: cmd.Institution, ContactID: cmd.ContactID,
			RunID: cmd.RunID, RequestID: cmd.RequestID, At: at}, opts...)
	default:
		e, err = events.NewContactSkipped(Source, events.ContactSkipped{Institution: cmd.Institution, ContactID: cmd.ContactID,
			RunID: cmd.RunID, RequestID: cmd.RequestID, At: at, Reason: res.Reason}, opts...)
	}
	if err != nil {
		return fmt.Errorf("anonymiser: build outcome of %s: %w", cmd.CommandID(), err)
	}
	if err := s.pub.Publish(ctx, bus.ResultSubject(cmd.Institution, res.Outcome), e); err != nil {
		return fmt.Errorf("anonymiser: publish outcome of %s: %w", cmd.CommandID(), err)
	}
	return nil
}

func actorOf(cmd retention.Command) string {
	if cmd.RunID != "" {
		return "run:" + cmd.RunID
	}
	return "request:" + cmd.RequestID
}

func validCommand(cmd retention.Command) error {
	switch {
	case cmd.Institution == "" || cmd.ContactID == "":
		return fmt.Errorf("%w: institution and contact_id are required", ErrInvalidCommand)
	case (cmd.RunID == "") == (cmd.RequestID == ""):
		return fmt.Errorf("%w: exactly one of run_id and request_id", ErrInvalidCommand)
	case cmd.RunID != "" && (cmd.InactivityMonths <= 0 || cmd.AsOf.IsZero()):
		return fmt.Errorf("%w: a run's command needs as_of and inactivity_months", ErrInvalidCommand)
	}
	return nil
}

// outcomeID is the outcome event's id, derived from the command so that a republished outcome
// is deduplicated; hashed because event ids are restricted to A-Z a-z 0-9 _ -.
func outcomeID(cmd retention.Command) string {
	h := sha256.Sum256([]byte(cmd.CommandID()))
	return "out_" + hex.EncodeToString(h[:16])
}
