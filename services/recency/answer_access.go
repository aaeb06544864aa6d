package recency

import (
	"context"
	"errors"
	"fmt"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// AnswerAccess completes every open access request of the contact: the export served to a
// token with the export scope is the answer to a right-of-access request. The requests are
// the anonymiser's, met in the store (services never import each other); the change is a
// compare-and-swap like the anonymiser's own, recording who was served and when.
func (uc *ExportContact) AnswerAccess(ctx context.Context, institution, contact, by string) (int, error) {
	open, err := uc.store.Requests().List(ctx, store.RequestFilter{Institution: institution, ContactID: contact,
		Kind: store.KindAccess, States: store.OpenStates})
	if err != nil {
		return 0, fmt.Errorf("recency: access requests of %s/%s: %w", institution, contact, err)
	}
	answered := 0
	for _, r := range open {
		for range 16 {
			now := uc.now().UTC()
			r.State, r.CompletedAt, r.UpdatedAt = store.RequestCompleted, now, now
			r.Actions = append(r.Actions, store.RequestAction{At: now, By: by, Action: store.RequestCompleted})
			_, err = uc.store.Requests().Update(ctx, r)
			if !errors.Is(err, store.ErrConflict) {
				break
			}
			if r, err = uc.store.Requests().Get(ctx, r.ID); err != nil || !r.Open() {
				break
			}
		}
		if err != nil {
			return answered, fmt.Errorf("recency: answer access request %s: %w", r.ID, err)
		}
		answered++
	}
	return answered, nil
}
