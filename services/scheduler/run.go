package scheduler

import (
	"context"
)

// Run resumes the runs a previous process left unfinished, fires the institutions'
// schedules, purges technical data past its window every DefaultPurgeInterval, and blocks
// until ctx is done; runs in progress then stop where they stand and resume at the next
// start. The routes are Register's.
func (s *Service) Run(ctx context.Context) error {
	defer s.Close()
	if _, err := s.Resume(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	purging := make(chan struct{})
	go func() {
		defer close(purging)
		s.PurgeTechnicalEvery(ctx, DefaultPurgeInterval)
	}()
	s.ready.Running(partRuns)
	defer s.ready.Stopped(partRuns)
	s.Schedule(ctx)
	<-ctx.Done()
	<-purging
	return nil
}
