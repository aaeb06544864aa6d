package pebblestore

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// tagRequest is the first byte of erasure request keys: E | id → request (JSON).
const tagRequest = 'E'

func requestKey(id string) []byte { return appendString([]byte{tagRequest}, id) }

type requests struct{ s *Store }

var _ store.Requests = requests{}

// Requests implements store.Store.
func (s *Store) Requests() store.Requests { return requests{s} }

func (r requests) Create(ctx context.Context, req store.Request) error {
	if req.Institution == "" || req.ID == "" {
		return errNoIdentity
	}
	if err := r.s.enter(ctx); err != nil {
		return err
	}
	defer r.s.leave()
	key := requestKey(req.ID)
	defer r.s.lock(key).Unlock()
	switch _, err := get(r.s.db, key); {
	case err == nil:
		return fmt.Errorf("request %s: %w", req.ID, store.ErrExists)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	req.Version = 1
	v, err := encodeJSON(req)
	if err != nil {
		return err
	}
	b := r.s.db.NewBatch()
	_ = b.Set(key, v, nil)
	return r.s.commit(b)
}

func (r requests) Get(ctx context.Context, id string) (store.Request, error) {
	if err := r.s.enter(ctx); err != nil {
		return store.Request{}, err
	}
	defer r.s.leave()
	var req store.Request
	v, err := get(r.s.db, requestKey(id))
	if err != nil {
		return req, err
	}
	if err := decodeJSON(v, &req); err != nil {
		return store.Request{}, err
	}
	return req.Normalised(), nil
}

// List scans every request (E | id): requests are few, filed by people, and scanning them
// all also finds requests stored before they had an index of their own.
func (r requests) List(ctx context.Context, f store.RequestFilter) ([]store.Request, error) {
	if err := r.s.enter(ctx); err != nil {
		return nil, err
	}
	defer r.s.leave()
	prefix := []byte{tagRequest}
	it, err := r.s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: iterator: %w", err)
	}
	out := []store.Request{}
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			_ = it.Close()
			return nil, err
		}
		var req store.Request
		if err := decodeJSON(it.Value(), &req); err != nil {
			_ = it.Close()
			return nil, err
		}
		if req = req.Normalised(); f.Match(req) {
			out = append(out, req)
		}
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("pebblestore: iterate: %w", err)
	}
	store.SortByDue(out)
	return out, nil
}

func (r requests) Update(ctx context.Context, req store.Request) (store.Request, error) {
	if err := r.s.enter(ctx); err != nil {
		return store.Request{}, err
	}
	defer r.s.leave()
	key := requestKey(req.ID)
	defer r.s.lock(key).Unlock()
	var old store.Request
	v, err := get(r.s.db, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Request{}, fmt.Errorf("request %s absent: %w", req.ID, store.ErrConflict)
	case err != nil:
		return store.Request{}, err
	}
	if err := decodeJSON(v, &old); err != nil {
		return store.Request{}, err
	}
	if old.Version != req.Version {
		return store.Request{}, fmt.Errorf("request %s at version %d, not %d: %w", req.ID, old.Version, req.Version, store.ErrConflict)
	}
	req.Version++
	if v, err = encodeJSON(req); err != nil {
		return store.Request{}, err
	}
	b := r.s.db.NewBatch()
	_ = b.Set(key, v, nil)
	if err := r.s.commit(b); err != nil {
		return store.Request{}, err
	}
	return req, nil
}
