package anonymiser

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
)

// Consumer settings. Commands run many at a time: each is a handful of store round trips and
// two publishes, each of which waits (a durable commit, a JetStream ack) rather than computes,
// and contacts are independent; Pebble, the audit log and JetStream group what arrives
// together, so more in flight means fewer waits per command. MaxAckPending leaves the pump a
// second round of deliveries beyond the ones being handled. Erasure requests wait for the
// projection, so they get many deliveries with a long back-off before they would be
// dead-lettered.
const (
	commandConcurrency  = 256
	requestMaxDeliver   = 50
	projectionWait      = 10 * time.Second
	auditPurgeEvery     = 24 * time.Hour
	requestsFilterToken = "lethe.erasure.requested.v1"
)

// Run executes LETHE_COMMANDS, turns erasure request events into commands, resumes blocked
// requests (resume_blocked.go), records downstream destinations' confirmations and purges the
// audit trail past its retention, until ctx is done; the routes are Register's.
func (s *Service) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		err := s.consume(ctx, bus.ConsumerConfig{
			Stream: bus.StreamCommands, Durable: bus.DurableCommands, Concurrency: commandConcurrency, MaxAckPending: 2 * commandConcurrency,
			MaxDeliver: s.commandMaxDeliver, Backoff: s.commandBackoff,
		}, commandHandler(s))
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("anonymiser commands consumer: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		err := s.consume(ctx, bus.ConsumerConfig{
			Stream: bus.StreamActivity, Durable: bus.DurableErasureRequests, MaxDeliver: requestMaxDeliver,
			FilterSubjects: []string{bus.ActivitySubject("*", requestsFilterToken)},
		}, requestHandler(s, s.js, projectionWait))
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("anonymiser requests consumer: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		err := s.consume(ctx, bus.ConsumerConfig{
			Stream: bus.StreamActivity, Durable: bus.DurableConfirmations,
			FilterSubjects: []string{bus.ActivitySubject("*", events.TypeErasureConfirmed)},
		}, confirmationHandler(s))
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("anonymiser confirmations consumer: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		purgeAuditLoop(ctx, s, s.auditLog, s.retention)
		return nil
	})
	g.Go(func() error {
		s.sweepLoop(ctx)
		return nil
	})
	return g.Wait()
}

// consume runs one of the service's consumers, marked running in its readiness (by its
// durable name) while it pulls.
func (s *Service) consume(ctx context.Context, cfg bus.ConsumerConfig, h bus.Handler) error {
	defer s.ready.Stopped(cfg.Durable)
	return bus.Consume(ctx, s.js, cfg, h, bus.WithLogger(s.log), bus.WithTracerProvider(s.tp),
		bus.WithStarted(func() { s.ready.Running(cfg.Durable) }))
}

// purgeAuditLoop removes audit entries older than the retention, at start and then daily;
// the purge leaves an anchor so that the chain still verifies.
func purgeAuditLoop(ctx context.Context, s *Service, trail *audit.Log, retention config.Period) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := trail.Purge(ctx, retention.Before(s.now()))
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "audit purge failed; retrying at the next round", "error", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "audit entries past retention purged", "entries", n)
		}
		t.Reset(auditPurgeEvery)
	}
}
