package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

var _ store.Store = (*Store)(nil)

// ErrClosed is returned by every call made after Close.
var ErrClosed = errors.New("pebblestore: closed")

// layoutVersion names the key layout of doc.go; Open refuses a directory written with another.
const layoutVersion = "lethe-pebble-1"

var metaLayoutKey = []byte{tagMeta, 'l', 'a', 'y', 'o', 'u', 't'}

// stripes is the number of compare-and-swap locks; a power of two well above the number of
// concurrent writers, so unrelated documents rarely share one.
const stripes = 1024

// Option configures Open.
type Option func(*options) error

type options struct {
	logger    *slog.Logger
	cacheSize int64
	noSync    bool
}

// WithLogger receives Pebble's own messages (compactions, WAL recovery). Default: discarded.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("pebblestore: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithCacheSize sets the block cache in bytes (default 64 MiB).
func WithCacheSize(bytes int64) Option {
	return func(o *options) error {
		if bytes <= 0 {
			return fmt.Errorf("pebblestore: cache size %d must be positive", bytes)
		}
		o.cacheSize = bytes
		return nil
	}
}

// withoutSync skips the WAL fsync: for benchmarks that measure what durability costs.
func withoutSync() Option {
	return func(o *options) error {
		o.noSync = true
		return nil
	}
}

// Store is the embedded adapter of the store port, one Pebble database in one directory.
type Store struct {
	db    *pebble.DB
	write *pebble.WriteOptions
	seed  maphash.Seed
	locks [stripes]sync.Mutex

	// auditMu serialises the check-then-insert of Append; purgeMu makes PurgeBefore's count exact.
	auditMu sync.Mutex
	purgeMu sync.Mutex

	// life guards db against Close while a call is in flight.
	life   sync.RWMutex
	closed bool
}

// Open opens (or creates) the store in dir.
func Open(dir string, opts ...Option) (*Store, error) {
	o := options{logger: slog.New(slog.DiscardHandler), cacheSize: 64 << 20}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	cache := pebble.NewCache(o.cacheSize)
	defer cache.Unref() // the DB holds its own reference
	db, err := pebble.Open(dir, &pebble.Options{
		Cache:              cache,
		Logger:             pebbleLogger{o.logger},
		FormatMajorVersion: pebble.FormatNewest,
	})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: open %s: %w", dir, err)
	}
	s := &Store{db: db, write: pebble.Sync, seed: maphash.MakeSeed()}
	if o.noSync {
		s.write = pebble.NoSync
	}
	if err := s.checkLayout(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) checkLayout() error {
	v, closer, err := s.db.Get(metaLayoutKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return s.db.Set(metaLayoutKey, []byte(layoutVersion), pebble.Sync)
	case err != nil:
		return fmt.Errorf("pebblestore: read layout: %w", err)
	}
	defer closer.Close()
	if string(v) != layoutVersion {
		return fmt.Errorf("pebblestore: directory holds layout %q, this build reads %q", v, layoutVersion)
	}
	return nil
}

func (s *Store) Contacts() store.Contacts { return contacts{s} }
func (s *Store) Keys() store.Keys         { return keys{s} }
func (s *Store) Runs() store.Runs         { return runs{s} }
func (s *Store) RunItems() store.RunItems { return runItems{s} }
func (s *Store) Audit() store.Audit       { return audit{s} }

// Ping reports whether the database is open and readable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	_, closer, err := s.db.Get(metaLayoutKey)
	if err != nil {
		return fmt.Errorf("pebblestore: ping: %w", err)
	}
	return closer.Close()
}

// Close waits for calls in flight and closes the database; closing twice is harmless.
func (s *Store) Close(context.Context) error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("pebblestore: close: %w", err)
	}
	return nil
}

// enter starts a call: it fails once the store is closed or the context is done.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.life.RUnlock() }

// lock takes the compare-and-swap stripe of a primary key. One process owns the directory
// (Pebble holds a file lock), so an in-process lock is all a read-check-write needs.
func (s *Store) lock(key []byte) *sync.Mutex {
	m := &s.locks[maphash.Bytes(s.seed, key)&(stripes-1)]
	m.Lock()
	return m
}

// lockAll takes the stripes of several primary keys, each once and in ascending order so
// that two callers locking overlapping sets cannot deadlock, and returns their unlock.
func (s *Store) lockAll(keys [][]byte) (unlock func()) {
	idx := make([]int, 0, len(keys))
	for _, k := range keys {
		idx = append(idx, int(maphash.Bytes(s.seed, k)&(stripes-1)))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		s.locks[i].Lock()
	}
	return func() {
		for _, i := range idx {
			s.locks[i].Unlock()
		}
	}
}

// get returns a copy of the value under key, or nil and store.ErrNotFound.
func get(r pebble.Reader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("pebblestore: get: %w", err)
	}
	out := append([]byte(nil), v...)
	return out, closer.Close()
}

// commit writes b durably (fsync of the WAL unless the store was opened without sync).
func (s *Store) commit(b *pebble.Batch) error {
	defer b.Close()
	if err := b.Commit(s.write); err != nil {
		return fmt.Errorf("pebblestore: commit: %w", err)
	}
	return nil
}

// iterate calls fn for each key in [lower, upper) of r, forwards, checking ctx between keys.
func iterate(ctx context.Context, r pebble.Reader, lower, upper []byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("pebblestore: iterator: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			_ = it.Close()
			return err
		}
		if err := fn(it.Key(), it.Value()); err != nil {
			_ = it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("pebblestore: iterate: %w", err)
	}
	return nil
}

// pebbleLogger carries Pebble's messages to slog; they hold file names and counters, never
// document contents.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Info(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble")
	panic("pebble: " + msg) // Pebble expects Fatalf not to return
}
