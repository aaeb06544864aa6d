package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// drive moves a run through its states until it ends or ctx does:
//
//	simulation: pending → planning → planned (the report; run.completed published)
//	execute:    pending → planning → executing (commands queued, then every result awaited) → completed
//	apply:      pending → planning (copy of the simulation's items) → executing → completed
//
// Every transition is a compare-and-swap on the run's version. When ctx ends the run stays in
// its state and resumes at the next start; when a CAS loses, another scheduler has taken the
// run over and this one lets go; any other error fails the run.
func (s *Service) drive(ctx context.Context, run store.Run) {
	ctx, span := s.tracer.Start(ctx, "scheduler.run", trace.WithAttributes(
		attribute.String("lethe.institution", run.Institution),
		attribute.String("lethe.run_id", run.ID),
		attribute.String("lethe.run_mode", run.Mode),
		attribute.String("lethe.run_state", run.State),
	))
	defer span.End()
	resumed := run.State != store.RunPending
	var err error
	for err == nil && !terminal(run.State) {
		switch run.State {
		case store.RunPending, store.RunPlanning:
			run, err = s.plan(ctx, run, resumed)
		case store.RunExecuting, store.RunPublishing:
			if run.Queued {
				run, err = s.complete(ctx, run)
			} else {
				run, err = s.publish(ctx, run)
			}
		default:
			err = fmt.Errorf("scheduler: run %s in unknown state %q", run.ID, run.State)
		}
	}
	switch {
	case err == nil:
		span.SetAttributes(attribute.String("lethe.run_state", run.State))
		s.log.Info("run finished", "institution", run.Institution, "run", run.ID, "mode", run.Mode, "state", run.State,
			"delete", run.Counts[store.OutcomeDelete], "anonymise", run.Counts[store.OutcomeAnonymise], "skip", run.Counts[store.OutcomeSkip])
	case ctx.Err() != nil:
		span.SetAttributes(attribute.Bool("lethe.run_interrupted", true))
		s.log.Info("run interrupted; it resumes at the next start", "institution", run.Institution, "run", run.ID, "state", run.State, "cursor", run.Cursor)
	case errors.Is(err, errLostRun):
		s.log.Warn("run taken over by another scheduler", "institution", run.Institution, "run", run.ID)
	default:
		span.RecordError(err)
		span.SetStatus(codes.Error, "run failed")
		s.fail(run, err)
	}
}

// terminal states are the ones no scheduler drives any further.
func terminal(state string) bool { return store.Finished(state) }

// unfinished states are the ones Resume picks up.
func unfinished(state string) bool {
	return state == store.RunPending || state == store.RunPlanning || state == store.RunExecuting || state == store.RunPublishing
}

// fail records err on the run. The message carries ids, never a personal value: store and bus
// errors name institutions, runs and contacts by id only.
func (s *Service) fail(run store.Run, cause error) {
	s.log.Error("run failed", "institution", run.Institution, "run", run.ID, "state", run.State, "err", cause)
	// The service's own context may be what ended; recording the failure must still happen.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.life), 10*time.Second)
	defer cancel()
	run.State, run.Error = store.RunFailed, cause.Error()
	run.FinishedAt = s.now().UTC()
	if _, err := s.update(ctx, run); err != nil {
		// A lost CAS means another scheduler drives the run now: its outcome stands.
		s.log.Error("recording the run's failure", "institution", run.Institution, "run", run.ID, "err", err)
	}
}

// update writes run with a compare-and-swap; a lost CAS means someone else drives the run.
func (s *Service) update(ctx context.Context, run store.Run) (store.Run, error) {
	run.UpdatedAt = s.now().UTC()
	next, err := s.store.Runs().Update(ctx, run)
	if errors.Is(err, store.ErrConflict) {
		return run, fmt.Errorf("%w: %w", errLostRun, err)
	}
	if err != nil {
		return run, fmt.Errorf("scheduler: update run %s/%s: %w", run.Institution, run.ID, err)
	}
	return next, nil
}
