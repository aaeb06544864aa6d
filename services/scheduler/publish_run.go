package scheduler

import (
	"context"
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

// publishAttempts bounds the retries of one batch whose publish failed (the bus briefly
// unreachable); past them the run fails and can be started again.
const publishAttempts = 5

// publish sends one command per item of the run — planned deletes and anonymisations, and
// planned skips too, so that every item gets a result and an outcome on LETHE_RESULTS —
// reading its items in contact id order from the cursor on, one batch at a time. After
// JetStream has acknowledged a batch the cursor moves past it (a CAS on the run), so an
// interrupted run resumes after the last acknowledged batch. A batch republished after a crash
// between its ack and the cursor write is deduplicated by its Nats-Msg-Id, and the anonymiser
// treats a redelivered command as done. Once every command is queued the run is marked so, and
// complete waits for the results.
func (s *Service) publish(ctx context.Context, run store.Run) (store.Run, error) {
	subject := bus.CommandSubject(run.Institution, retention.CommandKind)
	batch := make([]bus.Outgoing, 0, s.batch)
	err := s.eachItem(ctx, run.Institution, run.ID, run.Cursor, func(page []store.RunItem) error {
		batch = batch[:0]
		var deletes, anonymises int64
		for _, it := range page {
			e, err := commandEvent(run, it, s.now().UTC())
			if err != nil {
				return err
			}
			batch = append(batch, bus.Outgoing{Subject: subject, Event: e})
			switch it.Outcome {
			case store.OutcomeDelete:
				deletes++
			case store.OutcomeAnonymise:
				anonymises++
			}
		}
		if err := s.publishBatch(ctx, batch); err != nil {
			return fmt.Errorf("scheduler: publish commands of run %s/%s after %q: %w", run.Institution, run.ID, run.Cursor, err)
		}
		s.published.Add(ctx, deletes, metric.WithAttributes(attribute.String("outcome", store.OutcomeDelete)))
		s.published.Add(ctx, anonymises, metric.WithAttributes(attribute.String("outcome", store.OutcomeAnonymise)))
		run.Cursor = page[len(page)-1].ContactID
		var err error
		if run, err = s.update(ctx, run); err != nil {
			return err
		}
		if s.afterBatch != nil {
			s.afterBatch(run)
		}
		return nil
	})
	if err != nil {
		return run, err
	}
	run.State, run.Queued = store.RunExecuting, true
	return s.update(ctx, run)
}

// publishBatch retries a failed batch whole, with a growing pause: the publisher's
// contract is that events before the failure may or may not be stored, and dedupe makes a
// whole retry safe.
func (s *Service) publishBatch(ctx context.Context, batch []bus.Outgoing) error {
	pause := 200 * time.Millisecond
	var err error
	for attempt := 1; ; attempt++ {
		if err = s.pub.PublishBatch(ctx, batch); err == nil || ctx.Err() != nil || attempt == publishAttempts {
			return err
		}
		if errors.Is(err, bus.ErrInvalidEvent) || errors.Is(err, bus.ErrInvalidSubject) {
			return err // retrying cannot fix it
		}
		s.log.Warn("publishing commands failed; retrying", "attempt", attempt, "err", err)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		pause *= 2
	}
}

// commandEvent is the CloudEvent of one retention.Command (retention.Command.Event).
func commandEvent(run store.Run, it store.RunItem, at time.Time) (event.Event, error) {
	cmd := retention.Command{
		Institution: run.Institution, ContactID: it.ContactID, RunID: run.ID,
		Planned: it.Outcome, AsOf: run.AsOf, InactivityMonths: run.InactivityMonths,
		RequestedBy: run.RequestedBy,
	}
	return cmd.Event(Source, at)
}

// announce publishes lethe.run.completed.v1 on LETHE_RESULTS with the run's counts: a
// simulation's plan, or what an apply or execute run actually did (complete calls it after
// every item's outcome). Its id is derived from the run, so announcing again after a resume
// is deduplicated.
func (s *Service) announce(ctx context.Context, run store.Run) error {
	d := events.RunCompleted{
		Institution: run.Institution, RunID: run.ID, Mode: run.Mode, At: s.now().UTC(),
		Counts: events.RunCounts{
			Anonymised: int64(run.Counts[store.OutcomeAnonymise]),
			Deleted:    int64(run.Counts[store.OutcomeDelete]),
			Skipped:    int64(run.Counts[store.OutcomeSkip]),
		},
	}
	if len(run.Reasons) > 0 {
		d.SkippedByReason = make(map[string]int64, len(run.Reasons))
		for r, n := range run.Reasons {
			d.SkippedByReason[r] = int64(n)
		}
	}
	e, err := events.NewRunCompleted(Source, d, events.WithID(run.ID+"-completed"), events.WithTime(d.At))
	if err != nil {
		return fmt.Errorf("scheduler: build run.completed of %s/%s: %w", run.Institution, run.ID, err)
	}
	if err := s.pub.Publish(ctx, bus.ResultSubject(run.Institution, ResultRunCompleted), e); err != nil {
		return fmt.Errorf("scheduler: announce run %s/%s: %w", run.Institution, run.ID, err)
	}
	return nil
}
