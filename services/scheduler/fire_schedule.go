package scheduler

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Schedule fires every institution's cron schedule (lethe.yaml `schedule`, standard five
// fields, descriptors such as @daily, and an optional CRON_TZ= prefix; UTC otherwise) until
// ctx ends. An occurrence missed while no scheduler ran is not caught up: the next one
// covers the same contacts.
func (s *Service) Schedule(ctx context.Context) {
	var wg sync.WaitGroup
	for _, sch := range s.schedules {
		wg.Go(func() { s.scheduleLoop(ctx, sch) })
	}
	wg.Wait()
}

func (s *Service) scheduleLoop(ctx context.Context, sch schedule) {
	last := s.now()
	for {
		next := sch.cron.Next(last)
		if next.IsZero() {
			s.log.Warn("schedule never fires", "institution", sch.institution, "schedule", sch.spec)
			return
		}
		if err := s.sleep(ctx, next); err != nil {
			return
		}
		if _, _, err := s.FireScheduled(ctx, sch.institution, next); err != nil && ctx.Err() == nil {
			s.log.Error("scheduled run not started", "institution", sch.institution, "at", next, "err", err)
		}
		// After a long pause (a suspended machine) start again from now, instead of firing
		// every missed occurrence in a burst.
		last = next
		if now := s.now(); now.After(last) {
			last = now
		}
	}
}

// FireScheduled starts the institution's scheduled run for the occurrence at: its policy's
// mode and period, as of the occurrence. Every scheduler instance derives the same run id from
// (institution, occurrence), so the store's insert-if-absent elects exactly one of them; the
// others get won == false and the winner's run.
func (s *Service) FireScheduled(ctx context.Context, institution string, at time.Time) (run store.Run, won bool, err error) {
	policy, _ := s.cfg.Institution(institution)
	req := RunRequest{
		Institution: institution, Mode: policy.Mode, InactivityMonths: policy.InactivityMonths,
		AsOf: at, Trigger: TriggerSchedule, RequestedBy: TriggerSchedule,
	}
	id := scheduledRunID(at)
	run, err = s.startRun(ctx, req, id)
	switch {
	case errors.Is(err, store.ErrExists):
		run, err = s.GetRun(ctx, institution, id)
		won = false
	case err == nil:
		won = true
	}
	if err == nil && !won {
		s.log.Debug("scheduled run started by another scheduler", "institution", institution, "run", id)
	}
	if s.onFire != nil && err == nil {
		s.onFire(run, won)
	}
	return run, won, err
}
