package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// ContactRun is one run's item about a contact, beside the run it belongs to.
type ContactRun struct {
	Run  store.Run
	Item store.RunItem
}

// ContactRuns returns every run item about one contact with its run, the newest run first,
// so the console can say which runs considered the contact and what happened to it. A
// contact is in few runs: each is read by id.
func (s *Service) ContactRuns(ctx context.Context, institution, contactID string) ([]ContactRun, error) {
	items, err := s.store.RunItems().ForContact(ctx, institution, contactID)
	if err != nil {
		return nil, fmt.Errorf("scheduler: runs of contact %s/%s: %w", institution, contactID, err)
	}
	out := make([]ContactRun, 0, len(items))
	for _, it := range items {
		run, err := s.store.Runs().Get(ctx, institution, it.RunID)
		if errors.Is(err, store.ErrNotFound) {
			continue // purged since
		}
		if err != nil {
			return nil, fmt.Errorf("scheduler: runs of contact %s/%s: %w", institution, contactID, err)
		}
		out = append(out, ContactRun{Run: run, Item: it})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Run.CreatedAt.After(out[j].Run.CreatedAt) })
	return out, nil
}
