package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// ApplyRequest asks to execute a simulation's plan.
type ApplyRequest struct {
	Institution string
	// Simulation is the id of the planned simulation to apply.
	Simulation  string
	RequestedBy string
}

// ApplyRun executes exactly the set a simulation planned: it records an apply run (its own
// id, derived from the simulation's so that a plan is applied once; the simulation's as_of
// and period; SourceRun the simulation) whose items are the simulation's, then publishes one
// command per planned delete or anonymise. What changed since the plan is not re-decided here:
// the anonymiser re-checks every contact at execution and reports the drift.
//
// ErrRunNotFound if there is no such run, ErrNotApplicable unless it is a planned simulation,
// ErrAlreadyApplied (with the existing apply run) if it was applied before.
func (s *Service) ApplyRun(ctx context.Context, req ApplyRequest) (store.Run, error) {
	sim, err := s.GetRun(ctx, req.Institution, req.Simulation)
	if err != nil {
		return store.Run{}, err
	}
	if sim.Mode != store.ModeSimulation {
		return store.Run{}, fmt.Errorf("%w: run %s is a %s run, not a simulation", ErrNotApplicable, sim.ID, sim.Mode)
	}
	if sim.State != store.RunPlanned {
		return store.Run{}, fmt.Errorf("%w: simulation %s is %s, not planned", ErrNotApplicable, sim.ID, sim.State)
	}
	now := s.now().UTC()
	// Erasure happens as of now: a look ahead is read, never applied (a run stored before
	// forecasts were marked is judged by its date).
	if sim.Forecast || sim.AsOf.After(now.Add(ClockSkew)) {
		return store.Run{}, fmt.Errorf("%w: simulation %s is a forecast as of %s, after now", ErrNotApplicable, sim.ID, sim.AsOf.Format(time.RFC3339))
	}
	run := store.Run{
		ID: applyRunID(sim.ID), Institution: sim.Institution, Mode: store.ModeApply,
		AsOf: sim.AsOf, InactivityMonths: sim.InactivityMonths, Trigger: TriggerAPI,
		SourceRun: sim.ID, RequestedBy: req.RequestedBy,
		State: store.RunPending, CreatedAt: now, UpdatedAt: now,
	}
	created, err := s.create(ctx, run)
	if errors.Is(err, store.ErrExists) {
		existing, gerr := s.store.Runs().Get(ctx, run.Institution, run.ID)
		if gerr != nil {
			return store.Run{}, fmt.Errorf("%w: %w", ErrAlreadyApplied, err)
		}
		return existing, fmt.Errorf("%w: by run %s", ErrAlreadyApplied, existing.ID)
	}
	return created, err
}
