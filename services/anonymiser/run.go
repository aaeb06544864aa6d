package anonymiser

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/platform"
)

// Consumer settings. Commands run a few at a time: each is a handful of store round trips and
// one publish, and contacts are independent. Erasure requests wait for the projection, so
// they get many deliveries with a long back-off before they would be dead-lettered.
const (
	commandConcurrency  = 4
	requestMaxDeliver   = 50
	projectionWait      = 10 * time.Second
	auditPurgeEvery     = 24 * time.Hour
	requestsFilterToken = "lethe.erasure.requested.v1"
)

// Run registers the erasure routes, executes LETHE_COMMANDS, turns erasure request events
// into commands and purges the audit trail past its retention, until ctx is done.
func Run(ctx context.Context, d platform.Deps) error {
	pub, err := bus.NewPublisher(d.JetStream, bus.WithLogger(d.Logger), bus.WithTracerProvider(d.TracerProvider))
	if err != nil {
		return err
	}
	trail := audit.New(d.Store.Audit())
	s, err := New(d.Store, d.Sealer, trail, pub, WithLogger(d.Logger), WithMeterProvider(d.MeterProvider))
	if err != nil {
		return err
	}
	if d.Mux != nil {
		s.Register(d.Mux, d.Auth)
		d.Mux.Handle("GET /v1/audit/verify", d.Auth.Authenticate(adminOnly(audit.VerifyHandler(d.Store.Audit()))))
	}
	opts := []bus.Option{bus.WithLogger(d.Logger), bus.WithTracerProvider(d.TracerProvider)}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		err := bus.Consume(ctx, d.JetStream, bus.ConsumerConfig{
			Stream: bus.StreamCommands, Durable: bus.DurableCommands, Concurrency: commandConcurrency,
		}, commandHandler(s), opts...)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("anonymiser commands consumer: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		err := bus.Consume(ctx, d.JetStream, bus.ConsumerConfig{
			Stream: bus.StreamActivity, Durable: bus.DurableErasureRequests, MaxDeliver: requestMaxDeliver,
			FilterSubjects: []string{bus.ActivitySubject("*", requestsFilterToken)},
		}, requestHandler(s, d.JetStream, projectionWait), opts...)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("anonymiser requests consumer: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		purgeAuditLoop(ctx, s, trail, d.Config.AuditRetention())
		return nil
	})
	return g.Wait()
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
