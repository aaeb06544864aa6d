package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

type contacts struct{ s *Store }

var errNoIdentity = errors.New("pebblestore: institution and id are required")

func (c contacts) Get(ctx context.Context, inst, id string) (store.Contact, error) {
	if err := c.s.enter(ctx); err != nil {
		return store.Contact{}, err
	}
	defer c.s.leave()
	v, err := get(c.s.db, contactKey(inst, id))
	if err != nil {
		return store.Contact{}, err
	}
	return decodeContact(v)
}

// Put is PutMany of one contact: one compare-and-swap path for both.
func (c contacts) Put(ctx context.Context, doc store.Contact) (store.Contact, error) {
	res, err := c.PutMany(ctx, []store.Contact{doc})
	if err != nil {
		return store.Contact{}, err
	}
	return res[0].Contact, res[0].Err
}

// PutMany checks every version under the stripes of all the contacts, then writes the ones
// that match in one batch: one commit (one WAL sync) for the lot.
func (c contacts) PutMany(ctx context.Context, docs []store.Contact) ([]store.PutResult, error) {
	if err := c.s.enter(ctx); err != nil {
		return nil, err
	}
	defer c.s.leave()
	keys := make([][]byte, len(docs))
	for i, doc := range docs {
		keys[i] = contactKey(doc.Institution, doc.ID)
	}
	defer c.s.lockAll(keys)()

	results := make([]store.PutResult, len(docs))
	b := c.s.db.NewBatch()
	seen := make(map[string]bool, len(docs))
	for i, doc := range docs {
		if doc.Institution == "" || doc.ID == "" {
			results[i].Err = errNoIdentity
			continue
		}
		if seen[string(keys[i])] {
			results[i].Err = fmt.Errorf("pebblestore: contact %s/%s twice in one PutMany", doc.Institution, doc.ID)
			continue
		}
		seen[string(keys[i])] = true
		old, found, err := c.head(keys[i])
		if err != nil {
			b.Close()
			return nil, err
		}
		if old.version != doc.Version {
			results[i].Err = fmt.Errorf("contact %s/%s at version %d, not %d: %w", doc.Institution, doc.ID, old.version, doc.Version, store.ErrConflict)
			continue
		}
		doc.Version++
		v, err := encodeContact(doc)
		if err != nil {
			results[i].Err = err
			continue
		}
		if found && !old.recency.IsZero() && (old.status != string(doc.Status) || !old.recency.Equal(doc.Recency)) {
			_ = b.Delete(inactiveKey(doc.Institution, old.status, old.recency, doc.ID), nil)
		}
		if !doc.Recency.IsZero() {
			// The candidate changes with the blockers even when the key stays: always rewritten.
			_ = b.Set(inactiveKey(doc.Institution, string(doc.Status), doc.Recency, doc.ID), encodeCandidate(nil, store.CandidateOf(doc)), nil)
		}
		_ = b.Set(keys[i], v, nil)
		results[i].Contact = doc
	}
	if b.Empty() { // nothing to write: no commit, no WAL sync
		b.Close()
		return results, nil
	}
	if err := c.s.commit(b); err != nil {
		return nil, err
	}
	return results, nil
}

// head reads the stored header under key; an absent contact reads as version 0.
func (c contacts) head(key []byte) (contactHead, bool, error) {
	v, closer, err := c.s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return contactHead{}, false, nil
	}
	if err != nil {
		return contactHead{}, false, fmt.Errorf("pebblestore: get: %w", err)
	}
	defer closer.Close()
	h, _, err := readHead(v)
	return h, true, err
}

func (c contacts) Delete(ctx context.Context, inst, id string, version int64) error {
	if err := c.s.enter(ctx); err != nil {
		return err
	}
	defer c.s.leave()
	key := contactKey(inst, id)
	defer c.s.lock(key).Unlock()
	old, found, err := c.head(key)
	if err != nil || !found {
		return err
	}
	if old.version != version {
		return fmt.Errorf("contact %s/%s at version %d, not %d: %w", inst, id, old.version, version, store.ErrConflict)
	}
	b := c.s.db.NewBatch()
	if !old.recency.IsZero() {
		_ = b.Delete(inactiveKey(inst, old.status, old.recency, id), nil)
	}
	_ = b.Delete(key, nil)
	return c.s.commit(b)
}

// Inactive walks the (institution, status, recency, id) index up to `before` and reads each
// document from the same snapshot, so index and document always agree.
func (c contacts) Inactive(ctx context.Context, inst string, status store.Status, before time.Time, fn func(store.Contact) error) error {
	if err := c.s.enter(ctx); err != nil {
		return err
	}
	defer c.s.leave()
	snap := c.s.db.NewSnapshot()
	defer snap.Close()
	prefix := inactivePrefix(inst, string(status))
	upper := appendTime(append([]byte(nil), prefix...), before)
	return iterate(ctx, snap, prefix, upper, func(k, _ []byte) error {
		doc, err := indexedContact(snap, inst, k[len(prefix):])
		if err != nil {
			return err
		}
		return fn(doc)
	})
}

func (c contacts) Scan(ctx context.Context, inst, afterID string, fn func(store.Contact) error) error {
	if err := c.s.enter(ctx); err != nil {
		return err
	}
	defer c.s.leave()
	prefix := contactPrefix(inst)
	lower := prefix
	if afterID != "" {
		lower = after(contactKey(inst, afterID))
	}
	return iterate(ctx, c.s.db, lower, prefixEnd(prefix), func(_, v []byte) error {
		doc, err := decodeContact(v)
		if err != nil {
			return err
		}
		return fn(doc)
	})
}
