package anonymiser

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// ErrRefused: a command that matches nothing Lethe decided — no stored item of an apply or
// execute run, no stored erasure request. It is never executed: it is audited as refused
// and dead-lettered with the reason.
var ErrRefused = errors.New("anonymiser: command refused")

// clockSkew is how far after now a run's as_of may lie before its commands are refused; the
// scheduler refuses such runs already (scheduler.ClockSkew), this is the second lock.
const clockSkew = 5 * time.Minute

// authority is what a command was found to stand for: the run and its item, or the request.
// The command's own dates and planned outcome are replaced by the stored ones, so a command
// whose data was altered on the way still executes exactly what was decided.
type authority struct {
	cmd     retention.Command
	item    *store.RunItem
	request *store.Request
}

// authorise matches cmd against the store: ErrRefused when nothing stored decided it, a
// plain error when the store could not be read (the command is retried).
func (s *Service) authorise(ctx context.Context, cmd retention.Command) (authority, error) {
	if cmd.RequestID != "" {
		r, err := s.requests.Get(ctx, cmd.RequestID)
		if errors.Is(err, store.ErrNotFound) {
			return authority{}, fmt.Errorf("%w: no erasure request %s", ErrRefused, cmd.RequestID)
		}
		if err != nil {
			return authority{}, fmt.Errorf("anonymiser: read request %s: %w", cmd.RequestID, err)
		}
		if r.Institution != cmd.Institution || r.ContactID != cmd.ContactID {
			return authority{}, fmt.Errorf("%w: erasure request %s is about another contact", ErrRefused, cmd.RequestID)
		}
		switch {
		case r.Kind != store.KindErasure:
			return authority{}, fmt.Errorf("%w: request %s is an %s request, not an erasure", ErrRefused, cmd.RequestID, r.Kind)
		case r.State == store.RequestRefused:
			return authority{}, fmt.Errorf("%w: erasure request %s was refused", ErrRefused, cmd.RequestID)
		case cmd.Attempt > r.Attempt:
			return authority{}, fmt.Errorf("%w: erasure request %s has no attempt %d", ErrRefused, cmd.RequestID, cmd.Attempt)
		}
		cmd.AsOf, cmd.InactivityMonths, cmd.Planned = r.CreatedAt, 0, ""
		return authority{cmd: cmd, request: &r}, nil
	}
	run, err := s.runOf(ctx, cmd.Institution, cmd.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return authority{}, fmt.Errorf("%w: no run %s in institution %s", ErrRefused, cmd.RunID, cmd.Institution)
	}
	if err != nil {
		return authority{}, err
	}
	switch {
	case run.Mode != store.ModeApply && run.Mode != store.ModeExecute:
		return authority{}, fmt.Errorf("%w: run %s is a %s, which erases nothing", ErrRefused, run.ID, run.Mode)
	case run.State == store.RunPending || run.State == store.RunPlanning:
		return authority{}, fmt.Errorf("%w: run %s has not queued its commands (it is %s)", ErrRefused, run.ID, run.State)
	case run.AsOf.After(s.now().Add(clockSkew)):
		return authority{}, fmt.Errorf("%w: run %s is as of %s, after now", ErrRefused, run.ID, run.AsOf.UTC().Format(time.RFC3339))
	}
	it, err := s.runItems.Get(ctx, cmd.Institution, cmd.RunID, cmd.ContactID)
	if errors.Is(err, store.ErrNotFound) {
		return authority{}, fmt.Errorf("%w: contact %s is not an item of run %s", ErrRefused, cmd.ContactID, cmd.RunID)
	}
	if err != nil {
		return authority{}, fmt.Errorf("anonymiser: read run item %s of %s/%s: %w", cmd.RunID, cmd.Institution, cmd.ContactID, err)
	}
	switch it.Outcome {
	case store.OutcomeDelete, store.OutcomeAnonymise, store.OutcomeSkip:
	default:
		return authority{}, fmt.Errorf("%w: item %s of run %s has no planned outcome", ErrRefused, cmd.ContactID, cmd.RunID)
	}
	cmd.AsOf, cmd.InactivityMonths, cmd.Planned = run.AsOf, run.InactivityMonths, it.Outcome
	return authority{cmd: cmd, item: &it}, nil
}

// runOf reads a run, cached: the fields a command is checked against (mode, as_of, period)
// never change once the run queues commands, and an apply executes thousands per run. The
// state is re-read while the run is not yet past planning.
func (s *Service) runOf(ctx context.Context, institution, id string) (store.Run, error) {
	k := institution + "\x00" + id
	s.runsMu.Lock()
	run, ok := s.runs[k]
	s.runsMu.Unlock()
	if ok {
		return run, nil
	}
	run, err := s.runStore.Get(ctx, institution, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Run{}, err
		}
		return store.Run{}, fmt.Errorf("anonymiser: read run %s/%s: %w", institution, id, err)
	}
	if run.State != store.RunPending && run.State != store.RunPlanning {
		s.runsMu.Lock()
		if len(s.runs) >= maxCachedRuns {
			clear(s.runs)
		}
		s.runs[k] = run
		s.runsMu.Unlock()
	}
	return run, nil
}

// maxCachedRuns bounds the run cache; runs are few, so clearing it now and then costs a read.
const maxCachedRuns = 256

// refuse records a refused command in the audit trail, once per command id, with the reason.
// The actor is the bus: the command's own claim (run or request) is what was not found.
func (s *Service) refuse(ctx context.Context, cmd retention.Command, why error) error {
	_, err := s.audit.Record(ctx, store.AuditEntry{
		Key: "refused:" + cmd.CommandID(), Institution: cmd.Institution, ContactID: cmd.ContactID,
		Actor: "bus:unverified", Action: ActionRefused, Reason: why.Error(),
	})
	if err != nil {
		return fmt.Errorf("anonymiser: audit refused command %s: %w", cmd.CommandID(), err)
	}
	s.log.WarnContext(ctx, "erasure command refused", "institution", cmd.Institution, "contact", cmd.ContactID, "command", cmd.CommandID(), "reason", why.Error())
	return nil
}
