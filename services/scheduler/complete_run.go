package scheduler

import (
	"context"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Polling of an executing run's items: quick at first (a small run finishes in moments), then
// no more often than every completePollMax while a large one works through its queue.
const (
	completePollMin = 50 * time.Millisecond
	completePollMax = 2 * time.Second
)

// complete waits until every item of an executing apply or execute run has its result (the
// anonymiser marks an item after publishing its outcome), then records what actually
// happened — counts by outcome, skips by reason — announces lethe.run.completed.v1, which
// therefore comes after every outcome of the run, and only then calls the run completed.
//
// Items are read in contact id order from the first one still pending: the commands were
// queued in that order, so the items before it are counted once, and each poll reads what is
// still in the queue. A resumed run starts from the first item again.
func (s *Service) complete(ctx context.Context, run store.Run) (store.Run, error) {
	t := newTally()
	after := "" // every item up to it has its result, counted in t
	pause := completePollMin
	for {
		frontier, tailDone := true, 0
		err := s.eachItem(ctx, run.Institution, run.ID, after, func(page []store.RunItem) error {
			for _, it := range page {
				switch {
				case it.Result == "":
					frontier = false
				case frontier:
					t.addResult(it.Result)
					after = it.ContactID
				default:
					tailDone++
				}
			}
			return nil
		})
		if err != nil {
			return run, err
		}
		if frontier {
			break
		}
		if n := t.total() + tailDone; n != run.Results {
			run.Results = n
			if run, err = s.update(ctx, run); err != nil {
				return run, err
			}
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return run, ctx.Err()
		case <-timer.C:
		}
		pause = min(pause*2, completePollMax)
	}
	if run.Planned == nil { // a run left executing by a version that did not keep its plan apart
		run.Planned, run.PlannedReasons = run.Counts, run.Reasons
	}
	run.Counts, run.Reasons, run.Results = t.counts, t.reasons, t.total()
	if err := s.announce(ctx, run); err != nil {
		return run, err
	}
	run.State, run.FinishedAt = store.RunCompleted, s.now().UTC()
	return s.update(ctx, run)
}

// addResult counts an item's result (anonymised, deleted, skipped:<reason>) under the plan's
// outcome names, so the completed run's counts read like its plan's.
func (t tally) addResult(result string) {
	outcome, reason, _ := strings.Cut(result, ":")
	switch outcome {
	case "anonymised":
		t.counts[store.OutcomeAnonymise]++
	case "deleted":
		t.counts[store.OutcomeDelete]++
	case "skipped":
		t.counts[store.OutcomeSkip]++
		t.reasons[reason]++
	default:
		t.counts[outcome]++ // an outcome this version does not know is still counted, by its name
	}
}

func (t tally) total() int {
	n := 0
	for _, c := range t.counts {
		n += c
	}
	return n
}
