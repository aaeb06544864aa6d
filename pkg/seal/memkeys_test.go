package seal_test

import (
	"bytes"
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// memKeys is an honest in-memory store.Keys: insert-if-absent under a mutex, tombstones that
// stay, copies in and out. The real adapters are tested by storetest; this one lets the seal
// tests run without them.
type memKeys struct {
	mu sync.Mutex
	m  map[[2]string]memKey

	gets, creates, createManys atomic.Int64
	// afterGet, when set, runs after Get has read the store and before it returns, to hold a
	// reader in flight while something else happens.
	afterGet func(inst, id string)
}

type memKey struct {
	wrapped     []byte
	destroyedAt time.Time // non-zero: tombstone
}

var _ store.Keys = (*memKeys)(nil)

func newMemKeys() *memKeys { return &memKeys{m: make(map[[2]string]memKey)} }

func (k *memKeys) Create(ctx context.Context, inst, id string, wrapped []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.creates.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	if cur, ok := k.m[[2]string{inst, id}]; ok {
		if !cur.destroyedAt.IsZero() {
			return nil, store.ErrKeyDestroyed
		}
		return bytes.Clone(cur.wrapped), nil
	}
	k.m[[2]string{inst, id}] = memKey{wrapped: bytes.Clone(wrapped)}
	return bytes.Clone(wrapped), nil
}

func (k *memKeys) CreateMany(ctx context.Context, ks []store.NewKey) ([]store.KeyResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.createManys.Add(1)
	out := make([]store.KeyResult, len(ks))
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, nk := range ks {
		cur, ok := k.m[[2]string{nk.Institution, nk.ID}]
		switch {
		case ok && !cur.destroyedAt.IsZero():
			out[i].Err = store.ErrKeyDestroyed
		case ok:
			out[i].Wrapped = bytes.Clone(cur.wrapped)
		default:
			k.m[[2]string{nk.Institution, nk.ID}] = memKey{wrapped: bytes.Clone(nk.Wrapped)}
			out[i].Wrapped = bytes.Clone(nk.Wrapped)
		}
	}
	return out, nil
}

func (k *memKeys) Get(ctx context.Context, inst, id string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.gets.Add(1)
	k.mu.Lock()
	cur, ok := k.m[[2]string{inst, id}]
	k.mu.Unlock()
	// A real store answers over the network: let racing callers interleave between their Get
	// and their Create.
	runtime.Gosched()
	if k.afterGet != nil {
		k.afterGet(inst, id)
	}
	switch {
	case !ok:
		return nil, store.ErrNotFound
	case !cur.destroyedAt.IsZero():
		return nil, store.ErrKeyDestroyed
	}
	return bytes.Clone(cur.wrapped), nil
}

func (k *memKeys) Destroy(ctx context.Context, inst, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[[2]string{inst, id}] = memKey{destroyedAt: at}
	return nil
}

// raw returns what is stored for a contact (nil for none or a tombstone), for tampering.
func (k *memKeys) raw(inst, id string) []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return bytes.Clone(k.m[[2]string{inst, id}].wrapped)
}

// put stores wrapped bytes directly, as an attacker with write access to the store could.
func (k *memKeys) put(inst, id string, wrapped []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[[2]string{inst, id}] = memKey{wrapped: bytes.Clone(wrapped)}
}

// live counts stored keys that are not tombstones.
func (k *memKeys) live() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, v := range k.m {
		if v.destroyedAt.IsZero() {
			n++
		}
	}
	return n
}

// clock is a settable time source for cache expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
