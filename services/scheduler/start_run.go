package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// MaxInactivityMonths bounds the period a run may ask for (100 years).
const MaxInactivityMonths = 1200

// ClockSkew is how far after now an execute run's as_of may lie: the caller's clock and ours
// differ by a few seconds, never by more. Past it the date is in the future, and erasing as
// of a future date would erase people who are not inactive yet.
const ClockSkew = 5 * time.Minute

// EarliestAsOf is the first date a run may judge at (docs/contract.md, "HTTP API": after 1900): before it the
// threshold leaves the years JSON and the stores represent, and no activity is that old.
var EarliestAsOf = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// RunRequest asks for a retention run of an institution.
type RunRequest struct {
	Institution string
	// Mode is store.ModeSimulation (default) or store.ModeExecute.
	Mode string
	// InactivityMonths is the period; 0 takes the institution's policy (default 36).
	InactivityMonths int
	// AsOf is the date the run judges inactivity at; zero is now.
	AsOf time.Time
	// Trigger is TriggerAPI (default) or TriggerSchedule; RequestedBy names who asked
	// (a token name), never a person.
	Trigger     string
	RequestedBy string
}

// StartRun records a run and drives it in the background: a simulation plans its report and
// stops there; an execute run plans, then publishes one command per contact to erase.
// Wait tells when it is done.
func (s *Service) StartRun(ctx context.Context, req RunRequest) (store.Run, error) {
	return s.startRun(ctx, req, "")
}

func (s *Service) startRun(ctx context.Context, req RunRequest, id string) (store.Run, error) {
	run, err := s.newRun(req, id)
	if err != nil {
		return store.Run{}, err
	}
	return s.create(ctx, run)
}

// newRun validates req and fills in the institution's policy.
func (s *Service) newRun(req RunRequest, id string) (store.Run, error) {
	var bad []FieldError
	if !events.ValidInstitution(req.Institution) {
		bad = append(bad, FieldError{"/institution", "must be 1-64 characters of A-Z a-z 0-9 _ -"})
	}
	switch req.Mode {
	case "":
		req.Mode = store.ModeSimulation
	case store.ModeSimulation, store.ModeExecute:
	default:
		bad = append(bad, FieldError{"/mode", `must be "simulation" or "execute"`})
	}
	policy, _ := s.cfg.Institution(req.Institution)
	if req.InactivityMonths == 0 {
		req.InactivityMonths = policy.InactivityMonths
	}
	if req.InactivityMonths < 1 || req.InactivityMonths > MaxInactivityMonths {
		bad = append(bad, FieldError{"/inactivity_months", fmt.Sprintf("must be between 1 and %d", MaxInactivityMonths)})
	}
	now := s.now().UTC()
	asOf := req.AsOf.UTC()
	if req.AsOf.IsZero() {
		asOf = now
	}
	forecast := false
	switch {
	case asOf.Before(EarliestAsOf):
		bad = append(bad, FieldError{"/as_of", "must be on or after 1900-01-01"})
	case asOf.After(now.Add(ClockSkew)):
		if req.Mode == store.ModeExecute {
			bad = append(bad, FieldError{"/as_of", "an execute run erases as of now or earlier, never as of a future date; a simulation may look ahead"})
		}
		forecast = true
	}
	if len(bad) > 0 {
		return store.Run{}, &InvalidError{Fields: bad}
	}
	if req.Trigger == "" {
		req.Trigger = TriggerAPI
	}
	if id == "" {
		id = newRunID(now)
	}
	return store.Run{
		ID: id, Institution: req.Institution, Mode: req.Mode,
		AsOf: asOf, InactivityMonths: req.InactivityMonths, Forecast: forecast,
		Trigger: req.Trigger, RequestedBy: req.RequestedBy,
		State: store.RunPending, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// create inserts run and launches it. store.ErrExists comes back wrapped, unlaunched.
func (s *Service) create(ctx context.Context, run store.Run) (store.Run, error) {
	if err := s.store.Runs().Create(ctx, run); err != nil {
		return store.Run{}, fmt.Errorf("scheduler: create run %s/%s: %w", run.Institution, run.ID, err)
	}
	// Create stores the run at version 1; read it back rather than assume so.
	stored, err := s.store.Runs().Get(ctx, run.Institution, run.ID)
	if err != nil {
		return store.Run{}, fmt.Errorf("scheduler: read run %s/%s: %w", run.Institution, run.ID, err)
	}
	if _, err := s.launch(ctx, stored); err != nil {
		// The run is recorded; the next start-up resumes it.
		return stored, err
	}
	s.log.Info("run started", "institution", run.Institution, "run", run.ID, "mode", run.Mode, "trigger", run.Trigger,
		"as_of", run.AsOf, "inactivity_months", run.InactivityMonths)
	return stored, nil
}

// isExists reports a lost insert-if-absent.
func isExists(err error) bool { return errors.Is(err, store.ErrExists) }
