package pebblestore

import (
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// formatCandidate starts an inactive index entry's value: the contact's store.Candidate, so
// that Candidates is a range scan that never reads the contact itself. An entry written
// before it (an empty value) is read through the contact instead, until its next Put.
const formatCandidate = 1

func encodeCandidate(b []byte, c store.Candidate) []byte {
	w := writer{append(b, formatCandidate)}
	w.str(c.ID)
	w.str(string(c.Status))
	w.bool(c.Created)
	w.str(c.Role)
	w.time(c.Recency)
	w.source(c.RecencySource)
	w.bool(c.Customer)
	w.int(c.Balance)
	w.bool(c.LegalHold)
	w.uint(uint64(len(c.Subscriptions)))
	for _, s := range c.Subscriptions {
		w.str(s)
	}
	return w.b
}

func decodeCandidate(v []byte) (store.Candidate, error) {
	if len(v) == 0 || v[0] != formatCandidate {
		return store.Candidate{}, errBadValue
	}
	r := reader{b: v[1:]}
	c := store.Candidate{
		ID: r.str(), Status: store.Status(r.str()), Created: r.bool(), Role: r.str(),
		Recency: r.time(), RecencySource: r.source(), Customer: r.bool(),
		Balance: r.int(), LegalHold: r.bool(),
	}
	if n := r.count(); n > 0 {
		c.Subscriptions = make([]string, n)
		for i := range c.Subscriptions {
			c.Subscriptions[i] = r.str()
		}
	}
	if r.bad || len(r.b) != 0 {
		return store.Candidate{}, errBadValue
	}
	return c, nil
}

// Candidates walks the same index as Inactive and decodes each entry's value only.
func (c contacts) Candidates(ctx context.Context, inst string, status store.Status, before time.Time, fn func(store.Candidate) error) error {
	if err := c.s.enter(ctx); err != nil {
		return err
	}
	defer c.s.leave()
	snap := c.s.db.NewSnapshot()
	defer snap.Close()
	prefix := inactivePrefix(inst, string(status))
	upper := appendTime(append([]byte(nil), prefix...), before)
	return iterate(ctx, snap, prefix, upper, func(k, v []byte) error {
		if len(v) > 0 {
			cand, err := decodeCandidate(v)
			if err != nil {
				return fmt.Errorf("pebblestore: index entry under %s: %w", inst, err)
			}
			return fn(cand)
		}
		contact, err := indexedContact(snap, inst, k[len(prefix):])
		if err != nil {
			return err
		}
		return fn(store.CandidateOf(contact))
	})
}

// indexedContact reads the contact an inactive index key names (rest: the key after its prefix).
func indexedContact(r pebble.Reader, inst string, rest []byte) (store.Contact, error) {
	id, err := inactiveID(rest)
	if err != nil {
		return store.Contact{}, err
	}
	v, err := get(r, contactKey(inst, id))
	if err != nil {
		return store.Contact{}, fmt.Errorf("pebblestore: index entry of %s/%s without its contact: %w", inst, id, err)
	}
	return decodeContact(v)
}

// inactiveID is the contact id of an inactive index key, after its prefix.
func inactiveID(rest []byte) (string, error) {
	_, rest, err := readTime(rest)
	if err != nil {
		return "", err
	}
	id, _, err := readString(rest)
	return id, err
}
