package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// errStop ends an iteration early without being an error for the caller.
var errStop = errors.New("pebblestore: stop")

// purgeChunk bounds the batch of one PurgeBefore commit.
const purgeChunk = 1000

type audit struct{ s *Store }

func (a audit) Append(ctx context.Context, e store.AuditEntry) error {
	if err := a.s.enter(ctx); err != nil {
		return err
	}
	defer a.s.leave()
	a.s.auditMu.Lock()
	defer a.s.auditMu.Unlock()
	key := auditKey(e.Seq)
	switch _, err := get(a.s.db, key); {
	case err == nil:
		return fmt.Errorf("audit seq %d: %w", e.Seq, store.ErrExists)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	v, err := encodeJSON(e)
	if err != nil {
		return err
	}
	b := a.s.db.NewBatch()
	_ = b.Set(auditByTimeKey(e.At, e.Seq), nil, nil)
	_ = b.Set(key, v, nil)
	return a.s.commit(b)
}

func (a audit) Last(ctx context.Context) (store.AuditEntry, error) {
	var e store.AuditEntry
	if err := a.s.enter(ctx); err != nil {
		return e, err
	}
	defer a.s.leave()
	it, err := a.s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagAudit}, UpperBound: []byte{tagAudit + 1}})
	if err != nil {
		return e, fmt.Errorf("pebblestore: iterator: %w", err)
	}
	defer it.Close()
	if !it.Last() {
		if err := it.Error(); err != nil {
			return e, fmt.Errorf("pebblestore: iterate: %w", err)
		}
		return e, fmt.Errorf("audit log empty: %w", store.ErrNotFound)
	}
	return e, decodeJSON(it.Value(), &e)
}

func (a audit) Scan(ctx context.Context, afterSeq int64, fn func(store.AuditEntry) error) error {
	if err := a.s.enter(ctx); err != nil {
		return err
	}
	defer a.s.leave()
	return iterate(ctx, a.s.db, auditAfter(afterSeq), []byte{tagAudit + 1}, func(_, v []byte) error {
		var e store.AuditEntry
		if err := decodeJSON(v, &e); err != nil {
			return err
		}
		return fn(e)
	})
}

// PurgeBefore walks the (at, seq) index up to t and deletes entries in bounded batches.
func (a audit) PurgeBefore(ctx context.Context, t time.Time) (int, error) {
	if err := a.s.enter(ctx); err != nil {
		return 0, err
	}
	defer a.s.leave()
	a.s.purgeMu.Lock()
	defer a.s.purgeMu.Unlock()
	upper := appendTime([]byte{tagAuditByTime}, t)
	total := 0
	for {
		b := a.s.db.NewBatch()
		n := 0
		err := iterate(ctx, a.s.db, []byte{tagAuditByTime}, upper, func(k, _ []byte) error {
			seq, _, err := readInt64(k[1+timeLen:])
			if err != nil {
				return err
			}
			_ = b.Delete(auditKey(seq), nil)
			_ = b.Delete(k, nil)
			if n++; n == purgeChunk {
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			_ = b.Close()
			return total, err
		}
		if n == 0 {
			_ = b.Close()
			return total, nil
		}
		if err := a.s.commit(b); err != nil {
			return total, err
		}
		total += n
	}
}
