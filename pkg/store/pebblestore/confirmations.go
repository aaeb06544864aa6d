package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Key layout of downstream confirmations (doc.go):
//
//	C | inst | destination | outcome               → expectation (JSON)
//	U | inst | destination | published | outcome   → empty: the unconfirmed, oldest first
//	V | inst | contact | outcome | destination     → empty: a contact's expectations (receipts)
//	W | inst | destination | event                 → unmatched confirmation (JSON)
const (
	tagExpectation        = 'C'
	tagUnconfirmed        = 'U'
	tagExpectationContact = 'V'
	tagUnmatched          = 'W'
)

func expectationKey(inst, dest, outcome string) []byte {
	return appendString(appendString(appendString([]byte{tagExpectation}, inst), dest), outcome)
}

func unconfirmedKey(e store.Expectation) []byte {
	k := appendString(appendString([]byte{tagUnconfirmed}, e.Institution), e.Destination)
	return appendString(appendTime(k, e.PublishedAt), e.OutcomeID)
}

func expectationContactKey(e store.Expectation) []byte {
	k := appendString(appendString([]byte{tagExpectationContact}, e.Institution), e.ContactID)
	return appendString(appendString(k, e.OutcomeID), e.Destination)
}

type confirmations struct{ s *Store }

var _ store.Confirmations = confirmations{}

// Confirmations implements store.Store.
func (s *Store) Confirmations() store.Confirmations { return confirmations{s} }

func (c confirmations) Expect(ctx context.Context, es []store.Expectation) error {
	if err := c.s.enter(ctx); err != nil {
		return err
	}
	defer c.s.leave()
	keys := make([][]byte, len(es))
	for i, e := range es {
		if e.Institution == "" || e.Destination == "" || e.OutcomeID == "" {
			return errNoIdentity
		}
		keys[i] = expectationKey(e.Institution, e.Destination, e.OutcomeID)
	}
	defer c.s.lockAll(keys)()
	b := c.s.db.NewBatch()
	for i, e := range es {
		switch _, err := get(c.s.db, keys[i]); {
		case err == nil:
			continue // expected already: confirmed or not, it stays
		case !errors.Is(err, store.ErrNotFound):
			_ = b.Close()
			return err
		}
		e.PublishedAt = e.PublishedAt.UTC()
		v, err := encodeJSON(e)
		if err != nil {
			_ = b.Close()
			return err
		}
		_ = b.Set(keys[i], v, nil)
		_ = b.Set(expectationContactKey(e), nil, nil)
		if !e.Confirmed() {
			_ = b.Set(unconfirmedKey(e), nil, nil)
		}
	}
	return c.s.commit(b)
}

func (c confirmations) Confirm(ctx context.Context, inst, dest, outcome string, at time.Time, confirmationID string) (store.Expectation, error) {
	if err := c.s.enter(ctx); err != nil {
		return store.Expectation{}, err
	}
	defer c.s.leave()
	key := expectationKey(inst, dest, outcome)
	defer c.s.lock(key).Unlock()
	e, err := c.get(key)
	if err != nil || e.Confirmed() {
		return e, err
	}
	e.ConfirmedAt, e.ConfirmationID = at.UTC(), confirmationID
	v, err := encodeJSON(e)
	if err != nil {
		return store.Expectation{}, err
	}
	b := c.s.db.NewBatch()
	_ = b.Set(key, v, nil)
	_ = b.Delete(unconfirmedKey(e), nil)
	if err := c.s.commit(b); err != nil {
		return store.Expectation{}, err
	}
	return e, nil
}

func (c confirmations) get(key []byte) (store.Expectation, error) {
	var e store.Expectation
	v, err := get(c.s.db, key)
	if err != nil {
		return e, err
	}
	return e, decodeJSON(v, &e)
}

func (c confirmations) Get(ctx context.Context, inst, dest, outcome string) (store.Expectation, error) {
	if err := c.s.enter(ctx); err != nil {
		return store.Expectation{}, err
	}
	defer c.s.leave()
	return c.get(expectationKey(inst, dest, outcome))
}

func (c confirmations) ForContact(ctx context.Context, inst, contact string) ([]store.Expectation, error) {
	if err := c.s.enter(ctx); err != nil {
		return nil, err
	}
	defer c.s.leave()
	prefix := appendString(appendString([]byte{tagExpectationContact}, inst), contact)
	var out []store.Expectation
	err := iterate(ctx, c.s.db, prefix, prefixEnd(prefix), func(k, _ []byte) error {
		outcome, rest, err := readString(k[len(prefix):])
		if err != nil {
			return err
		}
		dest, _, err := readString(rest)
		if err != nil {
			return err
		}
		e, err := c.get(expectationKey(inst, dest, outcome))
		if err != nil {
			return fmt.Errorf("pebblestore: expectation index without its expectation: %w", err)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

func (c confirmations) RecordUnmatched(ctx context.Context, u store.Unmatched) error {
	if u.Institution == "" || u.Destination == "" || u.EventID == "" {
		return errNoIdentity
	}
	if err := c.s.enter(ctx); err != nil {
		return err
	}
	defer c.s.leave()
	key := appendString(appendString(appendString([]byte{tagUnmatched}, u.Institution), u.Destination), u.EventID)
	defer c.s.lock(key).Unlock()
	switch _, err := get(c.s.db, key); {
	case err == nil:
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	u.ConfirmedAt = u.ConfirmedAt.UTC()
	v, err := encodeJSON(u)
	if err != nil {
		return err
	}
	b := c.s.db.NewBatch()
	_ = b.Set(key, v, nil)
	return c.s.commit(b)
}

// Backlog counts by scanning the institution's expectation keys, then its (usually short)
// index of unconfirmed ones, whose first key per destination is the oldest.
func (c confirmations) Backlog(ctx context.Context, inst string) ([]store.Backlog, error) {
	if err := c.s.enter(ctx); err != nil {
		return nil, err
	}
	defer c.s.leave()
	by := map[string]*store.Backlog{}
	at := func(dest string) *store.Backlog {
		if by[dest] == nil {
			by[dest] = &store.Backlog{Destination: dest}
		}
		return by[dest]
	}
	scan := func(tag byte, fn func(dest string, rest []byte) error) error {
		prefix := []byte{tag}
		if inst != "" {
			prefix = appendString(prefix, inst)
		}
		return iterate(ctx, c.s.db, prefix, prefixEnd(prefix), func(k, _ []byte) error {
			_, rest, err := readString(k[1:]) // the institution
			if err != nil {
				return err
			}
			dest, rest, err := readString(rest)
			if err != nil {
				return err
			}
			return fn(dest, rest)
		})
	}
	if err := scan(tagExpectation, func(dest string, _ []byte) error { at(dest).Confirmed++; return nil }); err != nil {
		return nil, err
	}
	if err := scan(tagUnconfirmed, func(dest string, rest []byte) error {
		b := at(dest)
		b.Unconfirmed++
		b.Confirmed--
		published, _, err := readTime(rest)
		if err != nil {
			return err
		}
		if b.OldestUnconfirmed.IsZero() || published.Before(b.OldestUnconfirmed) {
			b.OldestUnconfirmed = published
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := scan(tagUnmatched, func(dest string, _ []byte) error { at(dest).Unmatched++; return nil }); err != nil {
		return nil, err
	}
	out := make([]store.Backlog, 0, len(by))
	for _, b := range by {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b store.Backlog) int { return strings.Compare(a.Destination, b.Destination) })
	return out, nil
}
