package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Key values: a kind byte, then the wrapped key or the tombstone's date.
const (
	keyLive      = 'K'
	keyTombstone = 'T'
)

type keys struct{ s *Store }

// Create is CreateMany of one key: one insert-if-absent path for both.
func (k keys) Create(ctx context.Context, inst, id string, wrapped []byte) ([]byte, error) {
	res, err := k.CreateMany(ctx, []store.NewKey{{Institution: inst, ID: id, Wrapped: wrapped}})
	if err != nil {
		return nil, err
	}
	return res[0].Wrapped, res[0].Err
}

// CreateMany reads every key under the stripes of all the contacts and writes the absent
// ones in one batch: one commit (one WAL sync) however many contacts are new.
func (k keys) CreateMany(ctx context.Context, ks []store.NewKey) ([]store.KeyResult, error) {
	if err := k.s.enter(ctx); err != nil {
		return nil, err
	}
	defer k.s.leave()
	keys := make([][]byte, len(ks))
	for i, nk := range ks {
		keys[i] = keyKey(nk.Institution, nk.ID)
	}
	defer k.s.lockAll(keys)()

	results := make([]store.KeyResult, len(ks))
	b := k.s.db.NewBatch()
	written := make(map[string]int, len(ks))
	for i, nk := range ks {
		if nk.Institution == "" || nk.ID == "" || len(nk.Wrapped) == 0 {
			results[i].Err = errNoIdentity
			continue
		}
		if j, ok := written[string(keys[i])]; ok { // the same contact twice: the first key wins
			results[i] = results[j]
			continue
		}
		v, err := get(k.s.db, keys[i])
		switch {
		case err == nil:
			results[i].Wrapped, results[i].Err = readKey(nk.Institution, nk.ID, v)
			continue
		case !errors.Is(err, store.ErrNotFound):
			b.Close()
			return nil, err
		}
		_ = b.Set(keys[i], append([]byte{keyLive}, nk.Wrapped...), nil)
		results[i].Wrapped = append([]byte(nil), nk.Wrapped...)
		written[string(keys[i])] = i
	}
	if b.Empty() { // nothing to write: no commit, no WAL sync
		b.Close()
		return results, nil
	}
	if err := k.s.commit(b); err != nil {
		return nil, err
	}
	return results, nil
}

func (k keys) Get(ctx context.Context, inst, id string) ([]byte, error) {
	if err := k.s.enter(ctx); err != nil {
		return nil, err
	}
	defer k.s.leave()
	v, err := get(k.s.db, keyKey(inst, id))
	if err != nil {
		return nil, err
	}
	return readKey(inst, id, v)
}

func readKey(inst, id string, v []byte) ([]byte, error) {
	if len(v) == 0 {
		return nil, errBadValue
	}
	switch v[0] {
	case keyLive:
		return v[1:], nil
	case keyTombstone:
		return nil, fmt.Errorf("key of %s/%s: %w", inst, id, store.ErrKeyDestroyed)
	}
	return nil, errBadValue
}

// Destroy overwrites the key with a tombstone; a tombstone already there keeps its first date.
func (k keys) Destroy(ctx context.Context, inst, id string, at time.Time) error {
	if inst == "" || id == "" {
		return errNoIdentity
	}
	if err := k.s.enter(ctx); err != nil {
		return err
	}
	defer k.s.leave()
	key := keyKey(inst, id)
	defer k.s.lock(key).Unlock()
	v, err := get(k.s.db, key)
	switch {
	case err == nil && len(v) > 0 && v[0] == keyTombstone:
		return nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	b := k.s.db.NewBatch()
	_ = b.Set(key, appendTime([]byte{keyTombstone}, at), nil)
	return k.s.commit(b)
}
