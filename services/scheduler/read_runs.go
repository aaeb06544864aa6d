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

// ItemFilter narrows a run's items to one outcome and/or one reason; the zero filter keeps all.
type ItemFilter struct {
	Outcome, Reason string
}

// Keeps reports whether it passes the filter.
func (f ItemFilter) Keeps(it store.RunItem) bool {
	return (f.Outcome == "" || it.Outcome == f.Outcome) && (f.Reason == "" || it.Reason == f.Reason)
}

// Items returns up to limit items of a run that pass f, in contact id order, strictly after
// `after`, and the cursor of the next page ("" when this page is the last). A filtered page
// reads the run's items in store pages until it is full: bounded by the run, never the
// institution. ErrRunNotFound if the run does not exist.
func (s *Service) Items(ctx context.Context, institution, runID, after string, limit int, f ItemFilter) ([]store.RunItem, string, error) {
	if _, err := s.GetRun(ctx, institution, runID); err != nil {
		return nil, "", err
	}
	// One more than asked says whether a next page exists without an empty last request.
	var items []store.RunItem
	cursor := after
	for len(items) <= limit {
		page, err := s.store.RunItems().Page(ctx, institution, runID, cursor, limit+1)
		if err != nil {
			return nil, "", fmt.Errorf("scheduler: read items of run %s/%s: %w", institution, runID, err)
		}
		for _, it := range page {
			if f.Keeps(it) {
				items = append(items, it)
			}
		}
		if len(page) <= limit {
			break
		}
		cursor = page[len(page)-1].ContactID
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
