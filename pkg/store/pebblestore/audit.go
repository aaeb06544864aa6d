package pebblestore

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// errStop ends an iteration early without being an error for the caller.
var errStop = errors.New("pebblestore: stop")

// errNoAuditKey refuses an entry that could not be deduplicated.
var errNoAuditKey = errors.New("pebblestore: audit entry without a key")

// purgeChunk bounds the batch of one PurgeThrough commit.
var purgeChunk = 1000 // a variable so that tests can cross batch boundaries cheaply

type audit struct{ s *Store }

// Append is AppendMany of one entry. The checks and the write happen under auditMu: one
// process owns the directory, so the in-process lock is the whole serialisation point.
func (a audit) Append(ctx context.Context, e store.AuditEntry) error {
	_, err := a.AppendMany(ctx, []store.AuditEntry{e})
	return err
}

// AppendMany checks each entry as Append does, against the log and the entries before it,
// and writes the ones before the first failure in one batch.
func (a audit) AppendMany(ctx context.Context, es []store.AuditEntry) (int, error) {
	if err := a.s.enter(ctx); err != nil {
		return 0, err
	}
	defer a.s.leave()
	a.s.auditMu.Lock()
	defer a.s.auditMu.Unlock()
	b := a.s.db.NewBatch()
	keys := make(map[string]bool, len(es))
	seqs := make(map[int64]bool, len(es))
	n := 0
	var failed error
	for _, e := range es {
		if failed = a.check(e, keys[e.Key], seqs[e.Seq]); failed != nil {
			break
		}
		keys[e.Key], seqs[e.Seq] = true, true
		if failed = a.write(b, e); failed != nil {
			break
		}
		n++
	}
	if n == 0 {
		_ = b.Close()
		return 0, failed
	}
	if err := a.s.commit(b); err != nil {
		return 0, err
	}
	return n, failed
}

// check is Append's check of one entry; keyTaken and seqTaken say an entry of the same
// batch already has them.
func (a audit) check(e store.AuditEntry, keyTaken, seqTaken bool) error {
	if e.Key == "" {
		return errNoAuditKey
	}
	if !keyTaken {
		switch _, err := get(a.s.db, auditByKeyKey(e.Key)); {
		case err == nil:
			keyTaken = true
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	if keyTaken {
		return fmt.Errorf("audit key %q: %w", e.Key, store.ErrDuplicate)
	}
	if !seqTaken {
		switch _, err := get(a.s.db, auditKey(e.Seq)); {
		case err == nil:
			seqTaken = true
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	if seqTaken {
		return fmt.Errorf("audit seq %d: %w", e.Seq, store.ErrExists)
	}
	return nil
}

// write adds the entry and both of its index entries to b.
func (a audit) write(b *pebble.Batch, e store.AuditEntry) error {
	v, err := encodeJSON(e)
	if err != nil {
		return err
	}
	_ = b.Set(auditByKeyKey(e.Key), appendInt64(nil, e.Seq), nil)
	if e.ContactID != "" {
		_ = b.Set(auditByContactKey(e.Institution, e.ContactID, e.Seq), nil, nil)
	}
	_ = b.Set(auditKey(e.Seq), v, nil)
	return nil
}

func (a audit) ByKey(ctx context.Context, key string) (store.AuditEntry, error) {
	var e store.AuditEntry
	if err := a.s.enter(ctx); err != nil {
		return e, err
	}
	defer a.s.leave()
	snap := a.s.db.NewSnapshot()
	defer snap.Close()
	v, err := get(snap, auditByKeyKey(key))
	if err != nil {
		return e, fmt.Errorf("audit key: %w", err)
	}
	seq, _, err := readInt64(v)
	if err != nil {
		return e, err
	}
	if v, err = get(snap, auditKey(seq)); err != nil {
		return e, fmt.Errorf("audit seq %d: %w", seq, err)
	}
	return e, decodeJSON(v, &e)
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

// ForContact walks the contact's index entries and reads each entry from the same snapshot.
func (a audit) ForContact(ctx context.Context, institution, contactID string) ([]store.AuditEntry, error) {
	if err := a.s.enter(ctx); err != nil {
		return nil, err
	}
	defer a.s.leave()
	snap := a.s.db.NewSnapshot()
	defer snap.Close()
	prefix := auditByContactPrefix(institution, contactID)
	var out []store.AuditEntry
	err := iterate(ctx, snap, prefix, prefixEnd(prefix), func(k, _ []byte) error {
		seq, _, err := readInt64(k[len(prefix):])
		if err != nil {
			return err
		}
		v, err := get(snap, auditKey(seq))
		if errors.Is(err, store.ErrNotFound) {
			return nil // an index entry never outlives its entry; tolerate it all the same
		}
		if err != nil {
			return err
		}
		var e store.AuditEntry
		if err := decodeJSON(v, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// PurgeThrough deletes the oldest entries with their index entries, purgeChunk per batch.
// Each batch is read and committed under auditMu, so an Append never interleaves with it.
func (a audit) PurgeThrough(ctx context.Context, seq int64) (int, error) {
	if err := a.s.enter(ctx); err != nil {
		return 0, err
	}
	defer a.s.leave()
	a.s.purgeMu.Lock()
	defer a.s.purgeMu.Unlock()
	upper := auditAfter(seq)
	total := 0
	for {
		n, err := a.purgeBatch(ctx, upper)
		total += n
		if err != nil || n < purgeChunk {
			return total, err
		}
	}
}

func (a audit) purgeBatch(ctx context.Context, upper []byte) (int, error) {
	a.s.auditMu.Lock()
	defer a.s.auditMu.Unlock()
	b := a.s.db.NewBatch()
	n := 0
	err := iterate(ctx, a.s.db, []byte{tagAudit}, upper, func(k, v []byte) error {
		var e store.AuditEntry
		if err := decodeJSON(v, &e); err != nil {
			return err
		}
		if e.Key != "" {
			_ = b.Delete(auditByKeyKey(e.Key), nil)
		}
		if e.ContactID != "" {
			_ = b.Delete(auditByContactKey(e.Institution, e.ContactID, e.Seq), nil)
		}
		_ = b.Delete(k, nil)
		if n++; n == purgeChunk {
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		_ = b.Close()
		return 0, err
	}
	if n == 0 {
		_ = b.Close()
		return 0, nil
	}
	if err := a.s.commit(b); err != nil {
		return 0, err
	}
	return n, nil
}
