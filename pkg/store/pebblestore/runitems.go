package pebblestore

import (
	"context"
	"fmt"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

type runItems struct{ s *Store }

// Put writes every item and its by-contact index entry in one batch: the keys depend only on
// (institution, run, contact), so an upsert never leaves a stale index entry behind.
func (r runItems) Put(ctx context.Context, items []store.RunItem) error {
	if len(items) == 0 {
		return ctx.Err()
	}
	if err := r.s.enter(ctx); err != nil {
		return err
	}
	defer r.s.leave()
	b := r.s.db.NewBatch()
	for _, it := range items {
		if it.Institution == "" || it.RunID == "" || it.ContactID == "" {
			_ = b.Close()
			return errNoIdentity
		}
		v, err := encodeJSON(it)
		if err != nil {
			_ = b.Close()
			return err
		}
		_ = b.Set(itemKey(it.Institution, it.RunID, it.ContactID), v, nil)
		_ = b.Set(itemByContactKey(it.Institution, it.ContactID, it.RunID), nil, nil)
	}
	return r.s.commit(b)
}

// Page returns up to limit items (limit <= 0: all of them).
func (r runItems) Page(ctx context.Context, inst, runID, afterContact string, limit int) ([]store.RunItem, error) {
	if err := r.s.enter(ctx); err != nil {
		return nil, err
	}
	defer r.s.leave()
	prefix := itemPrefix(inst, runID)
	lower := prefix
	if afterContact != "" {
		lower = after(itemKey(inst, runID, afterContact))
	}
	var out []store.RunItem
	err := iterate(ctx, r.s.db, lower, prefixEnd(prefix), func(_, v []byte) error {
		var it store.RunItem
		if err := decodeJSON(v, &it); err != nil {
			return err
		}
		out = append(out, it)
		if limit > 0 && len(out) >= limit {
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		return nil, err
	}
	return out, nil
}

// ForContact returns the contact's items in ascending run id order.
func (r runItems) ForContact(ctx context.Context, inst, contactID string) ([]store.RunItem, error) {
	if err := r.s.enter(ctx); err != nil {
		return nil, err
	}
	defer r.s.leave()
	snap := r.s.db.NewSnapshot()
	defer snap.Close()
	prefix := itemByContactPrefix(inst, contactID)
	var out []store.RunItem
	err := iterate(ctx, snap, prefix, prefixEnd(prefix), func(k, _ []byte) error {
		runID, _, err := readString(k[len(prefix):])
		if err != nil {
			return err
		}
		v, err := get(snap, itemKey(inst, runID, contactID))
		if err != nil {
			return fmt.Errorf("pebblestore: index entry of run item %s/%s/%s without its item: %w", inst, runID, contactID, err)
		}
		var it store.RunItem
		if err := decodeJSON(v, &it); err != nil {
			return err
		}
		out = append(out, it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
