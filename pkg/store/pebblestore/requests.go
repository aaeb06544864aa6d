package pebblestore

import (
	"context"
	"errors"
	"fmt"

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
	return req, decodeJSON(v, &req)
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
