package pebblestore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

type runItems struct{ s *Store }

// Put writes every item in one batch, one key per item. There is no by-contact index entry:
// a simulation's report is 100,000 items, and a second key per item was half of the keys it
// wrote, flushed and compacted; ForContact seeks each run's range instead (see there).
func (r runItems) Put(ctx context.Context, items []store.RunItem) error {
	if len(items) == 0 {
		return ctx.Err()
	}
	if err := r.s.enter(ctx); err != nil {
		return err
	}
	defer r.s.leave()
	b := r.s.db.NewBatch()
	// Set copies key and value into the batch: one scratch buffer serves every item (a
	// simulation writes 100,000 of them).
	var key, val []byte
	for _, it := range items {
		if it.Institution == "" || it.RunID == "" || it.ContactID == "" {
			_ = b.Close()
			return errNoIdentity
		}
		val = encodeRunItem(val[:0], it)
		key = appendItemKey(key[:0], it.Institution, it.RunID, it.ContactID)
		_ = b.Set(key, val, nil)
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
	err := iterate(ctx, r.s.db, lower, prefixEnd(prefix), func(k, v []byte) error {
		contactID, _, err := readString(k[len(prefix):])
		if err != nil {
			return err
		}
		it, err := decodeRunItem(inst, runID, contactID, v)
		if err != nil {
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

func (r runItems) Get(ctx context.Context, inst, runID, contactID string) (store.RunItem, error) {
	if err := r.s.enter(ctx); err != nil {
		return store.RunItem{}, err
	}
	defer r.s.leave()
	v, err := get(r.s.db, itemKey(inst, runID, contactID))
	if err != nil {
		return store.RunItem{}, err
	}
	return decodeRunItem(inst, runID, contactID, v)
}

// ForContact returns the contact's items in ascending run id order. The items are keyed
// (institution, run, contact), so it seeks the contact's key in each run of the institution
// and then the next run's start: two seeks per run, whatever the runs' sizes, and no index to
// write beside every item. The by-contact entries that builds before it wrote (tag 'j') are
// no longer read; their items are found by the same seeks.
func (r runItems) ForContact(ctx context.Context, inst, contactID string) ([]store.RunItem, error) {
	if err := r.s.enter(ctx); err != nil {
		return nil, err
	}
	defer r.s.leave()
	instPrefix := appendString([]byte{tagItem}, inst)
	it, err := r.s.db.NewIter(&pebble.IterOptions{LowerBound: instPrefix, UpperBound: prefixEnd(instPrefix)})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: iterator: %w", err)
	}
	var out []store.RunItem
	var want []byte
	for ok := it.First(); ok; {
		if err := ctx.Err(); err != nil {
			_ = it.Close()
			return nil, err
		}
		runID, _, err := readString(it.Key()[len(instPrefix):])
		if err != nil {
			_ = it.Close()
			return nil, err
		}
		want = appendItemKey(want[:0], inst, runID, contactID)
		if it.SeekGE(want) && bytes.Equal(it.Key(), want) {
			item, err := decodeRunItem(inst, runID, contactID, it.Value())
			if err != nil {
				_ = it.Close()
				return nil, err
			}
			out = append(out, item)
		}
		ok = it.SeekGE(prefixEnd(itemPrefix(inst, runID)))
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("pebblestore: run items of a contact: %w", err)
	}
	return out, nil
}

// formatItem starts a run item's value in the binary codec (a simulation writes one item per
// inactive contact, and JSON was most of its cost). The value leaves out what its key holds
// (institution, run, contact): a simulation's report is fewer bytes to write and compact.
// Values written before it are JSON objects, which start with '{', and still read.
const formatItem = 1

func encodeRunItem(b []byte, it store.RunItem) []byte {
	w := writer{append(b, formatItem)}
	w.str(it.Outcome)
	w.str(it.Reason)
	w.str(it.Role)
	w.bool(it.Customer)
	w.time(it.Recency)
	w.source(it.RecencySource)
	w.str(it.Result)
	w.time(it.ResultAt)
	return w.b
}

// decodeRunItem reads the item of (inst, runID, contactID), the identity its key holds.
func decodeRunItem(inst, runID, contactID string, v []byte) (store.RunItem, error) {
	var it store.RunItem
	if len(v) > 0 && v[0] == '{' {
		err := decodeJSON(v, &it)
		return it, err
	}
	if len(v) == 0 || v[0] != formatItem {
		return it, errBadValue
	}
	r := reader{b: v[1:]}
	it = store.RunItem{
		Institution: inst, RunID: runID, ContactID: contactID,
		Outcome: r.str(), Reason: r.str(), Role: r.str(), Customer: r.bool(), Recency: r.time(),
		RecencySource: r.source(), Result: r.str(), ResultAt: r.time(),
	}
	if r.bad || len(r.b) != 0 {
		return store.RunItem{}, errBadValue
	}
	return it, nil
}
