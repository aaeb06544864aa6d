package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// MetricOverdue is the gauge of contacts overdue (Prometheus: lethe_contacts_overdue):
// inactive past the retention period but kept because they are blocked, by institution and
// reason.
const MetricOverdue = "lethe.contacts.overdue"

// overdueReasons are the skip reasons that mean "inactive but blocked"; became_active and
// not_in_scope are not overdue.
var overdueReasons = []string{retention.ReasonDebt, retention.ReasonCredit, retention.ReasonActiveSubscription, retention.ReasonLegalHold}

// overdueLookback is how many of an institution's newest runs are read to find its latest
// finished one; a run of each mode in between is plenty.
const overdueLookback = 20

// overdueTimeout bounds the store reads of one collection.
const overdueTimeout = 2 * time.Second

// observeOverdue registers the overdue gauge. Its figures come from the latest run of each
// institution that planned (a simulation) or completed (an apply or an execute run), as of
// that run's date, and never from a forecast: counting blocked contacts afresh at every
// scrape would scan the whole projection, while every run already counts them by reason.
// The institutions are those lethe.yaml names and those this process has driven a run for
// (a token for every institution may start runs for institutions no configuration names).
func (s *Service) observeOverdue(meter metric.Meter) error {
	g, err := meter.Int64ObservableGauge(MetricOverdue,
		metric.WithDescription("contacts inactive past the retention period but blocked, by institution and reason, as counted by the institution's latest finished run"),
		metric.WithUnit("{contact}"))
	if err != nil {
		return fmt.Errorf("scheduler: overdue metric: %w", err)
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, obs metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, overdueTimeout)
		defer cancel()
		var errs []error
		for _, inst := range s.knownInstitutions() {
			run, ok, err := s.latestFinishedRun(ctx, inst)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !ok {
				continue
			}
			for _, r := range overdueReasons {
				obs.ObserveInt64(g, int64(run.Reasons[r]), metric.WithAttributes(
					attribute.String("institution", inst), attribute.String("reason", r)))
			}
		}
		return errors.Join(errs...)
	}, g)
	if err != nil {
		return fmt.Errorf("scheduler: overdue metric: %w", err)
	}
	return nil
}

// knownInstitutions is lethe.yaml's institutions and those of the runs driven here, sorted.
func (s *Service) knownInstitutions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.cfg.Institutions)+len(s.seen))
	for _, in := range s.cfg.Institutions {
		out = append(out, in.ID)
	}
	for inst := range s.seen {
		out = append(out, inst)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// latestFinishedRun is the institution's newest run that planned or completed, forecasts
// aside; ok is false when it has none among its newest overdueLookback.
func (s *Service) latestFinishedRun(ctx context.Context, institution string) (store.Run, bool, error) {
	runs, err := s.store.Runs().List(ctx, institution, overdueLookback)
	if err != nil {
		return store.Run{}, false, fmt.Errorf("scheduler: overdue metric: runs of %s: %w", institution, err)
	}
	for _, r := range runs {
		if r.Forecast {
			continue
		}
		if r.State == store.RunPlanned || r.State == store.RunCompleted {
			return r, true, nil
		}
	}
	return store.Run{}, false, nil
}
