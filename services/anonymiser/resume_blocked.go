package anonymiser

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// defaultSweepEvery is how often blocked requests are re-checked. A blocker goes when
// recency folds an event into the projection (balance back to zero, subscription
// terminated, hold lifted); within this delay the erasure resumes.
const defaultSweepEvery = 30 * time.Second

// sweepPart is the sweep's name in the service's readiness.
const sweepPart = "requests-sweep"

// Why a periodic sweep of blocked requests, rather than a consumer on LETHE_ACTIVITY's
// blocker events: the projection is what the erasure is decided on, and it changes only
// once recency has folded the event (a consumer of the event would have to wait for it, as
// requests by event do); the sweep reads the projection itself, so it also sees blockers
// cleared by a --rebuild-projection or a restore, survives restarts with no state of its own,
// and costs one List and one contact read per blocked request per round — blocked requests
// are few. The same round counts requests for the gauges.

// sweepLoop re-checks blocked requests and recounts the gauges at start and then every
// sweepEvery, until ctx is done.
func (s *Service) sweepLoop(ctx context.Context) {
	s.ready.Running(sweepPart)
	defer s.ready.Stopped(sweepPart)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.sweepRequests(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "requests sweep failed; retrying at the next round", "error", err)
		}
		t.Reset(s.sweepEvery)
	}
}

// sweepRequests is one round: every blocked erasure whose contact has no blocker any more
// resumes (a new attempt, the original deadline), and the gauges are recounted.
func (s *Service) sweepRequests(ctx context.Context) error {
	all, err := s.requests.List(ctx, store.RequestFilter{})
	if err != nil {
		return err
	}
	now := s.now()
	counts := map[string]int64{}
	overdue := map[string]int64{}
	var errs []error
	for _, r := range all {
		r = withDue(r)
		if r.State == store.RequestBlocked && r.Kind == store.KindErasure {
			resumed, err := s.resumeIfUnblocked(ctx, r)
			if err != nil {
				errs = append(errs, err)
			} else {
				r = resumed
			}
		}
		counts[r.State]++
		if r.Open() && retention.Overdue(r.DueAt, now) {
			overdue[r.Blocker]++
		}
	}
	s.gauges.set(counts, overdue)
	return errors.Join(errs...)
}

// resumeIfUnblocked resumes a blocked erasure whose contact is free of blockers (or gone:
// the next attempt then ends the request as not in scope).
func (s *Service) resumeIfUnblocked(ctx context.Context, r store.Request) (store.Request, error) {
	c, err := s.contacts.Get(ctx, r.Institution, r.ContactID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return r, err
	case c.Status == store.StatusActive || c.Status == "":
		if b := retention.Blockers(c); len(b) > 0 {
			if b[0] != r.Blocker { // another blocker now: named as it is
				return s.changeRequest(ctx, r, "lethe", store.RequestBlocked, func(q *store.Request) bool {
					if q.State != store.RequestBlocked || q.Attempt != r.Attempt {
						return false
					}
					q.Blocker = b[0]
					return true
				})
			}
			return r, nil
		}
	}
	out, err := s.resume(ctx, r, "lethe", func(q *store.Request) bool {
		return q.State == store.RequestBlocked && q.Attempt == r.Attempt
	})
	if err == nil && out.Attempt > r.Attempt {
		s.log.InfoContext(ctx, "blocked erasure resumed: its blocker went", "request", r.ID, "institution", r.Institution, "blocker", r.Blocker, "attempt", out.Attempt)
	}
	return out, err
}

// requestGauges are lethe_requests{state} and lethe_requests_overdue{blocker}, as the last
// sweep counted them (every request by state; open requests past their deadline by what
// blocks them, "" for nothing).
type requestGauges struct {
	mu      sync.Mutex
	counts  map[string]int64
	overdue map[string]int64
}

func newRequestGauges(m metric.Meter) (*requestGauges, error) {
	g := &requestGauges{}
	byState, err := m.Int64ObservableGauge("lethe.requests",
		metric.WithDescription("data subjects' requests by state, as the last sweep counted them"))
	if err != nil {
		return nil, err
	}
	overdue, err := m.Int64ObservableGauge("lethe.requests.overdue",
		metric.WithDescription("open requests past their deadline, by blocker (empty: none)"))
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, state := range []string{store.RequestReceived, store.RequestInProgress, store.RequestBlocked,
			store.RequestExtended, store.RequestCompleted, store.RequestRefused, store.RequestFailed} {
			o.ObserveInt64(byState, g.counts[state], metric.WithAttributes(attribute.String("state", state)))
		}
		o.ObserveInt64(overdue, g.overdue[""], metric.WithAttributes(attribute.String("blocker", "")))
		for blocker, n := range g.overdue {
			if blocker != "" {
				o.ObserveInt64(overdue, n, metric.WithAttributes(attribute.String("blocker", blocker)))
			}
		}
		return nil
	}, byState, overdue)
	if err != nil {
		return nil, err
	}
	return g, nil
}

func (g *requestGauges) set(counts, overdue map[string]int64) {
	g.mu.Lock()
	g.counts, g.overdue = counts, overdue
	g.mu.Unlock()
}
