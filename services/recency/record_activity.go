package recency

import (
	"context"
	"errors"
	"fmt"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// maxConflictRetries bounds the read-fold-write loop for one contact. Conflicts only happen
// when replicas fold events of the same contact at the same moment; each retry re-reads.
const maxConflictRetries = 16

// RecordActivity folds activities into the projection: per contact one read, the fold of
// every activity of the batch for it, one compare-and-swap write, retried on conflict. No
// transactions, no per-contact affinity between replicas: the fold makes any order right.
type RecordActivity struct {
	contacts store.Contacts
}

// NewRecordActivity returns the use case over the contacts port.
func NewRecordActivity(contacts store.Contacts) *RecordActivity {
	return &RecordActivity{contacts: contacts}
}

type contactKey struct{ institution, id string }

// Handle folds acts, which may come in any order and hold duplicates.
func (r *RecordActivity) Handle(ctx context.Context, acts []Activity) error {
	groups := map[contactKey][]Activity{}
	var order []contactKey
	for _, a := range acts {
		k := contactKey{a.Institution, a.Contact}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], a)
	}
	for _, k := range order {
		if err := r.foldContact(ctx, k, groups[k]); err != nil {
			return err
		}
	}
	return nil
}

func (r *RecordActivity) foldContact(ctx context.Context, k contactKey, acts []Activity) error {
	for range maxConflictRetries {
		c, err := r.contacts.Get(ctx, k.institution, k.id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			c = store.Contact{Institution: k.institution, ID: k.id, Status: store.StatusActive}
		case err != nil:
			return fmt.Errorf("recency: read contact: %w", err)
		}
		for _, a := range acts {
			Fold(&c, a)
		}
		if _, err := r.contacts.Put(ctx, c); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("recency: write contact: %w", err)
		}
	}
	return fmt.Errorf("recency: contact %s/%s: %w after %d attempts", k.institution, k.id, store.ErrConflict, maxConflictRetries)
}
