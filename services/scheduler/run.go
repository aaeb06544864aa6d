package scheduler

import (
	"context"
	"fmt"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/platform"
)

// Run registers the run and register routes on d.Mux (behind d.Auth), resumes the runs a
// previous process left unfinished, fires the institutions' schedules, purges technical
// data past its window every DefaultPurgeInterval, and blocks until ctx is done; runs in
// progress then stop where they stand and resume at the next start.
func Run(ctx context.Context, d platform.Deps) error {
	var busOpts []bus.Option
	opts := []Option{WithTracerProvider(d.TracerProvider), WithMeterProvider(d.MeterProvider)}
	if d.Logger != nil {
		busOpts = append(busOpts, bus.WithLogger(d.Logger))
		opts = append(opts, WithLogger(d.Logger))
	}
	if d.TracerProvider != nil {
		busOpts = append(busOpts, bus.WithTracerProvider(d.TracerProvider))
	}
	pub, err := bus.NewPublisher(d.JetStream, busOpts...)
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	s, err := New(d.Store, pub, d.Config, opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	if d.Mux != nil && d.Auth != nil {
		s.Register(d.Mux, d.Auth)
	}
	if _, err := s.Resume(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	purging := make(chan struct{})
	go func() {
		defer close(purging)
		s.PurgeTechnicalEvery(ctx, DefaultPurgeInterval)
	}()
	s.Schedule(ctx)
	<-ctx.Done()
	<-purging
	return nil
}
