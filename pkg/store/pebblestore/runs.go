package pebblestore

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

type runs struct{ s *Store }

// Create stores r at version 1, whatever r.Version says, like a contact's first Put.
func (r runs) Create(ctx context.Context, run store.Run) error {
	if run.Institution == "" || run.ID == "" {
		return errNoIdentity
	}
	if err := r.s.enter(ctx); err != nil {
		return err
	}
	defer r.s.leave()
	key := runKey(run.Institution, run.ID)
	defer r.s.lock(key).Unlock()
	switch _, err := get(r.s.db, key); {
	case err == nil:
		return fmt.Errorf("run %s/%s: %w", run.Institution, run.ID, store.ErrExists)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	run.Version = 1
	v, err := encodeJSON(run)
	if err != nil {
		return err
	}
	b := r.s.db.NewBatch()
	_ = b.Set(runByCreatedKey(run.Institution, run.CreatedAt, run.ID), nil, nil)
	_ = b.Set(key, v, nil)
	return r.s.commit(b)
}

func (r runs) Get(ctx context.Context, inst, id string) (store.Run, error) {
	if err := r.s.enter(ctx); err != nil {
		return store.Run{}, err
	}
	defer r.s.leave()
	var run store.Run
	v, err := get(r.s.db, runKey(inst, id))
	if err != nil {
		return run, err
	}
	return run, decodeJSON(v, &run)
}

func (r runs) Update(ctx context.Context, run store.Run) (store.Run, error) {
	if err := r.s.enter(ctx); err != nil {
		return store.Run{}, err
	}
	defer r.s.leave()
	key := runKey(run.Institution, run.ID)
	defer r.s.lock(key).Unlock()
	var old store.Run
	v, err := get(r.s.db, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Run{}, fmt.Errorf("run %s/%s absent: %w", run.Institution, run.ID, store.ErrConflict)
	case err != nil:
		return store.Run{}, err
	}
	if err := decodeJSON(v, &old); err != nil {
		return store.Run{}, err
	}
	if old.Version != run.Version {
		return store.Run{}, fmt.Errorf("run %s/%s at version %d, not %d: %w", run.Institution, run.ID, old.Version, run.Version, store.ErrConflict)
	}
	run.Version++
	if v, err = encodeJSON(run); err != nil {
		return store.Run{}, err
	}
	b := r.s.db.NewBatch()
	if !old.CreatedAt.Equal(run.CreatedAt) {
		_ = b.Delete(runByCreatedKey(old.Institution, old.CreatedAt, old.ID), nil)
		_ = b.Set(runByCreatedKey(run.Institution, run.CreatedAt, run.ID), nil, nil)
	}
	_ = b.Set(key, v, nil)
	if err := r.s.commit(b); err != nil {
		return store.Run{}, err
	}
	return run, nil
}

// List walks the (institution, created_at, id) index backwards: newest first, and among runs
// created at the same instant, the greatest id first.
func (r runs) List(ctx context.Context, inst string, limit int) ([]store.Run, error) {
	if err := r.s.enter(ctx); err != nil {
		return nil, err
	}
	defer r.s.leave()
	snap := r.s.db.NewSnapshot()
	defer snap.Close()
	prefix := runByCreatedPrefix(inst)
	it, err := snap.NewIter(nil)
	if err != nil {
		return nil, fmt.Errorf("pebblestore: iterator: %w", err)
	}
	it.SetBounds(prefix, prefixEnd(prefix))
	var out []store.Run
	for ok := it.Last(); ok && (limit <= 0 || len(out) < limit); ok = it.Prev() {
		if err := ctx.Err(); err != nil {
			_ = it.Close()
			return nil, err
		}
		run, err := r.indexed(snap, inst, it.Key()[len(prefix):])
		if err != nil {
			_ = it.Close()
			return nil, err
		}
		out = append(out, run)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("pebblestore: iterate: %w", err)
	}
	return out, nil
}

// indexed reads the run that a (created_at, id) index suffix points at.
func (r runs) indexed(snap pebble.Reader, inst string, suffix []byte) (store.Run, error) {
	var run store.Run
	_, rest, err := readTime(suffix)
	if err != nil {
		return run, err
	}
	id, _, err := readString(rest)
	if err != nil {
		return run, err
	}
	v, err := get(snap, runKey(inst, id))
	if err != nil {
		return run, fmt.Errorf("pebblestore: index entry of run %s/%s without its run: %w", inst, id, err)
	}
	return run, decodeJSON(v, &run)
}

// Unfinished walks every run record: runs are few (a handful per institution and day), and
// this is read once at start.
func (r runs) Unfinished(ctx context.Context) ([]store.Run, error) {
	if err := r.s.enter(ctx); err != nil {
		return nil, err
	}
	defer r.s.leave()
	prefix := []byte{tagRun}
	it, err := r.s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: iterator: %w", err)
	}
	out := []store.Run{}
	for ok := it.First(); ok; ok = it.Next() {
		var run store.Run
		if err := decodeJSON(it.Value(), &run); err != nil {
			_ = it.Close()
			return nil, err
		}
		if !store.Finished(run.State) {
			out = append(out, run)
		}
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("pebblestore: iterate: %w", err)
	}
	return out, nil
}
