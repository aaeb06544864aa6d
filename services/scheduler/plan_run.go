package scheduler

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// plan writes the run's report: one item per inactive contact in scope, with its outcome,
// skip reason, recency and the event that set it, and the counts on the run. A simulation
// ends here; an execute or apply run moves on to executing.
//
// A resumed plan starts over: items are upserts keyed by (run, contact), so rewriting them
// is harmless, and the counts are then recomputed from the stored items so that they always
// describe exactly the items a reader will see.
func (s *Service) plan(ctx context.Context, run store.Run, resumed bool) (store.Run, error) {
	var err error
	if run.State == store.RunPending {
		run.State = store.RunPlanning
		if run, err = s.update(ctx, run); err != nil {
			return run, err
		}
	}
	// As of now means with everything accepted until now: an activity ingest acknowledged
	// before the run started is folded before the run reads the projection (and before an
	// apply's commands go out, whose re-check reads it too).
	if err := s.folded(ctx); err != nil {
		return run, fmt.Errorf("scheduler: run %s: the projection has not folded the activity accepted before the run: %w", run.ID, err)
	}
	var t tally
	switch run.Mode {
	case store.ModeApply:
		t, err = s.copyPlan(ctx, run)
	case store.ModeSimulation, store.ModeExecute:
		t, err = s.scanPlan(ctx, run)
		if err == nil && resumed {
			t, err = s.recount(ctx, run)
		}
	default:
		err = fmt.Errorf("scheduler: run %s has unknown mode %q", run.ID, run.Mode)
	}
	if err != nil {
		return run, err
	}
	run.Counts, run.Reasons = t.counts, t.reasons
	t.record(ctx, s.planned, run.Mode)
	if run.Mode != store.ModeSimulation {
		// The plan is kept apart: Counts will say what happened once every result is in.
		run.Planned, run.PlannedReasons = t.counts, t.reasons
		run.State, run.Cursor, run.Queued, run.Results = store.RunExecuting, "", false, 0
		return s.update(ctx, run)
	}
	// Announce before recording the end: if the process dies in between, the resumed run
	// announces again under the same event id, which is better than never.
	if err := s.announce(ctx, run); err != nil {
		return run, err
	}
	run.State, run.FinishedAt = store.RunPlanned, s.now().UTC()
	return s.update(ctx, run)
}

// scanPlan walks the (institution, status, recency) index of active contacts whose recency is
// strictly before the threshold — never the whole institution, and never a whole contact: the
// index holds what the decision reads (store.Candidate) — decides each with the same rule the
// anonymiser re-checks with, and writes the candidates in batches.
func (s *Service) scanPlan(ctx context.Context, run store.Run) (tally, error) {
	t := newTally()
	threshold := retention.Threshold(run.AsOf, run.InactivityMonths)

	// The items are written by a second goroutine, so the scan goes on while a batch waits
	// for the disk; at most two batches are queued, which bounds the memory.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan []store.RunItem, 2)
	var werr error
	written := make(chan struct{})
	go func() {
		defer close(written)
		for items := range queue {
			if werr != nil {
				continue // drain: the scan stops at its next check
			}
			if err := s.store.RunItems().Put(wctx, items); err != nil {
				werr = fmt.Errorf("scheduler: write items of run %s/%s: %w", run.Institution, run.ID, err)
				cancel()
			}
		}
	}()
	buf := make([]store.RunItem, 0, s.batch)
	err := s.store.Contacts().Candidates(wctx, run.Institution, store.StatusActive, threshold, func(c store.Candidate) error {
		d := retention.DecideCandidate(c, run.AsOf, run.InactivityMonths)
		if !d.Candidate {
			// Out of scope (structures, suppliers, …, or not created yet): not in the report at all.
			return nil
		}
		it := store.RunItem{
			Institution: run.Institution, RunID: run.ID, ContactID: c.ID,
			Outcome: d.Outcome, Reason: d.Reason, Role: c.Role, Customer: c.Customer,
			Recency: c.Recency, RecencySource: c.RecencySource,
		}
		t.add(it)
		buf = append(buf, it)
		if len(buf) == cap(buf) {
			queue <- buf
			buf = make([]store.RunItem, 0, s.batch)
		}
		return nil
	})
	if err == nil && len(buf) > 0 {
		queue <- buf
	}
	close(queue)
	<-written
	if werr != nil {
		return t, werr
	}
	if err != nil {
		return t, fmt.Errorf("scheduler: scan inactive contacts of %s for run %s: %w", run.Institution, run.ID, err)
	}
	return t, nil
}

// copyPlan makes an apply run's items exactly its simulation's: the reviewed set, with the
// planned outcomes, whatever the contacts have done since (the anonymiser re-checks each one
// and reports the drift).
func (s *Service) copyPlan(ctx context.Context, run store.Run) (tally, error) {
	t := newTally()
	err := s.eachItem(ctx, run.Institution, run.SourceRun, "", func(page []store.RunItem) error {
		for i := range page {
			page[i].RunID = run.ID
			page[i].Result, page[i].ResultAt = "", time.Time{}
			t.add(page[i])
		}
		if err := s.store.RunItems().Put(ctx, page); err != nil {
			return fmt.Errorf("scheduler: write items of run %s/%s: %w", run.Institution, run.ID, err)
		}
		return nil
	})
	return t, err
}

// recount computes the counts from the run's stored items.
func (s *Service) recount(ctx context.Context, run store.Run) (tally, error) {
	t := newTally()
	err := s.eachItem(ctx, run.Institution, run.ID, "", func(page []store.RunItem) error {
		for _, it := range page {
			t.add(it)
		}
		return nil
	})
	return t, err
}

// eachItem hands fn the run's items strictly after `after`, one page of the batch size at a
// time, in contact id order.
func (s *Service) eachItem(ctx context.Context, institution, runID, after string, fn func([]store.RunItem) error) error {
	for {
		page, err := s.store.RunItems().Page(ctx, institution, runID, after, s.batch)
		if err != nil {
			return fmt.Errorf("scheduler: read items of run %s/%s: %w", institution, runID, err)
		}
		if len(page) == 0 {
			return nil
		}
		after = page[len(page)-1].ContactID
		if err := fn(page); err != nil {
			return err
		}
		if len(page) < s.batch {
			return nil
		}
	}
}

// tally counts a run's items by outcome, and its skips by reason.
type tally struct {
	counts  map[string]int
	reasons map[string]int
}

func newTally() tally {
	return tally{
		counts:  map[string]int{store.OutcomeDelete: 0, store.OutcomeAnonymise: 0, store.OutcomeSkip: 0},
		reasons: map[string]int{},
	}
}

func (t tally) add(it store.RunItem) {
	t.counts[it.Outcome]++
	if it.Outcome == store.OutcomeSkip {
		t.reasons[it.Reason]++
	}
}

func (t tally) record(ctx context.Context, c metric.Int64Counter, mode string) {
	for outcome, n := range t.counts {
		if outcome == store.OutcomeSkip || n == 0 {
			continue
		}
		c.Add(ctx, int64(n), metric.WithAttributes(attribute.String("mode", mode), attribute.String("outcome", outcome)))
	}
	for reason, n := range t.reasons {
		c.Add(ctx, int64(n), metric.WithAttributes(attribute.String("mode", mode),
			attribute.String("outcome", store.OutcomeSkip), attribute.String("reason", reason)))
	}
}
