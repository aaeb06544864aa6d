package scheduler

import (
	"context"
	"errors"
	"fmt"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// GetRun returns one run, or ErrRunNotFound.
func (s *Service) GetRun(ctx context.Context, institution, runID string) (store.Run, error) {
	run, err := s.store.Runs().Get(ctx, institution, runID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Run{}, fmt.Errorf("%w: %s in institution %s", ErrRunNotFound, runID, institution)
	}
	if err != nil {
		return store.Run{}, fmt.Errorf("scheduler: read run %s/%s: %w", institution, runID, err)
	}
	return run, nil
}

// ListRuns returns the institution's runs, newest first, at most limit (0: all).
func (s *Service) ListRuns(ctx context.Context, institution string, limit int) ([]store.Run, error) {
	runs, err := s.store.Runs().List(ctx, institution, limit)
	if err != nil {
		return nil, fmt.Errorf("scheduler: list runs of %s: %w", institution, err)
	}
	return runs, nil
}

// Items returns up to limit items of a run, in contact id order, strictly after `after`, and
// the cursor of the next page ("" when this page is the last). ErrRunNotFound if the run does
// not exist.
func (s *Service) Items(ctx context.Context, institution, runID, after string, limit int) ([]store.RunItem, string, error) {
	if _, err := s.GetRun(ctx, institution, runID); err != nil {
		return nil, "", err
	}
	// One more than asked says whether a next page exists without an empty last request.
	items, err := s.store.RunItems().Page(ctx, institution, runID, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("scheduler: read items of run %s/%s: %w", institution, runID, err)
	}
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	return items, items[limit-1].ContactID, nil
}

// EachItem hands fn every item of the run, a page at a time, in contact id order: what the
// CSV and NDJSON exports stream, in constant memory. ErrRunNotFound if the run does not exist.
func (s *Service) EachItem(ctx context.Context, institution, runID string, fn func([]store.RunItem) error) error {
	if _, err := s.GetRun(ctx, institution, runID); err != nil {
		return err
	}
	return s.eachItem(ctx, institution, runID, "", fn)
}
