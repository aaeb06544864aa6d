package recency

import (
	"context"
	"errors"
	"fmt"

	"github.com/lethe-gdpr/lethe/events"
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

// Handle folds acts, which may come in any order and hold duplicates: each contact is read,
// folded and written back with the others of the batch in one PutMany (one durable commit
// in the embedded store); the contacts another writer changed meanwhile are read and folded
// again, up to maxConflictRetries times.
func (r *RecordActivity) Handle(ctx context.Context, acts []Activity) error {
	// The batch grouped per contact in arrival order with a few allocations per batch, not
	// per contact: the contacts in first-seen order (pending), each with the chain of its
	// activities' indices in acts (first[g], then next[i] until -1).
	index := make(map[contactKey]int, len(acts))
	var pending []contactKey
	var first, last []int32
	next := make([]int32, len(acts))
	for i := range acts {
		a := &acts[i]
		if a.Type == events.TypeErasureConfirmed {
			// A destination's confirmation is about its copy, not a fact of the contact: it
			// must not create a contact (its id may match none), so the anonymiser alone reads it.
			continue
		}
		k := contactKey{a.Institution, a.Contact}
		g, ok := index[k]
		if !ok {
			g = len(pending)
			index[k] = g
			pending = append(pending, k)
			first, last = append(first, int32(i)), append(last, int32(i))
		} else {
			next[last[g]], last[g] = int32(i), int32(i)
		}
		next[i] = -1
	}
	group := make([]Activity, 0, 8)
	for range maxConflictRetries {
		if len(pending) == 0 {
			return nil
		}
		batch := make([]store.Contact, len(pending))
		for i, k := range pending {
			c, err := r.contacts.Get(ctx, k.institution, k.id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				c = store.Contact{Institution: k.institution, ID: k.id, Status: store.StatusActive}
			case err != nil:
				return fmt.Errorf("recency: read contact: %w", err)
			}
			group = group[:0]
			for j := first[index[k]]; j >= 0; j = next[j] {
				group = append(group, acts[j])
			}
			FoldAll(&c, group)
			batch[i] = c
		}
		results, err := r.contacts.PutMany(ctx, batch)
		if err != nil {
			return fmt.Errorf("recency: write contacts: %w", err)
		}
		var conflicted []contactKey
		for i, res := range results {
			switch {
			case errors.Is(res.Err, store.ErrConflict):
				conflicted = append(conflicted, pending[i])
			case res.Err != nil:
				return fmt.Errorf("recency: write contact: %w", res.Err)
			}
		}
		pending = conflicted
	}
	if len(pending) == 0 {
		return nil
	}
	k := pending[0]
	return fmt.Errorf("recency: contact %s/%s and %d more: %w after %d attempts", k.institution, k.id, len(pending)-1, store.ErrConflict, maxConflictRetries)
}
