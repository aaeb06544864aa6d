package scheduler

import (
	"context"
	"fmt"
)

// Resume picks up every run left pending, planning or executing by a scheduler that stopped
// (this process before a restart, or another instance), and drives it on in the background:
// a plan starts over (its item writes are upserts), a publish continues after its cursor, and
// an executing run whose commands are all queued waits for the rest of its results.
// It returns how many runs it resumed.
//
// Runs are found in the store across institutions, not from lethe.yaml: a run of an
// institution known only to a token for every institution ("*") is resumed too.
func (s *Service) Resume(ctx context.Context) (int, error) {
	runs, err := s.store.Runs().Unfinished(ctx)
	if err != nil {
		return 0, fmt.Errorf("scheduler: list runs to resume: %w", err)
	}
	n := 0
	for _, run := range runs {
		if !unfinished(run.State) {
			continue
		}
		if _, err := s.launch(ctx, run); err != nil {
			return n, err
		}
		s.log.Info("resuming run", "institution", run.Institution, "run", run.ID, "mode", run.Mode, "state", run.State, "cursor", run.Cursor)
		n++
	}
	return n, nil
}
