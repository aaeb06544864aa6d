package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Stats counts what a replay found. Counts only: the log line says how many, never who.
type Stats struct {
	Entries int // ledger entries read
	// Reapplied is the number of entries the store did not reflect (one or more of the
	// three below), which the replay erased again (or, with DryRun, would have).
	Reapplied int
	Keys      int // data keys present again, destroyed again
	Contacts  int // projections back in clear, erased again
	Requests  int // requests open again or missing, completed again
}

// ReplayOption configures Replay.
type ReplayOption func(*replay) error

type replay struct{ dry bool }

// DryRun reports what would be re-applied and changes nothing (lethe serve --check-restore).
func DryRun() ReplayOption { return func(r *replay) error { r.dry = true; return nil } }

// Replay reads LETHE_ERASURES from its first entry to its last at the time of the call and
// re-applies each entry the store does not reflect: the data key destroyed again (a
// tombstone, as the erasure left it), the contact erased again (retention.Erase, fields
// cleared or the contact reduced to its deleted stub), the request completed again. Each
// step is idempotent, so a replay interrupted half-way is simply run again.
func Replay(ctx context.Context, js jetstream.JetStream, st store.Store, opts ...ReplayOption) (Stats, error) {
	var cfg replay
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return Stats{}, err
		}
	}
	var stats Stats
	stream, err := js.Stream(ctx, bus.StreamErasures)
	if err != nil {
		return stats, fmt.Errorf("ledger: %s: %w", bus.StreamErasures, err)
	}
	last := stream.CachedInfo().State.LastSeq
	if stream.CachedInfo().State.Msgs == 0 {
		return stats, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return stats, fmt.Errorf("ledger: read %s: %w", bus.StreamErasures, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return stats, fmt.Errorf("ledger: read %s: %w", bus.StreamErasures, err)
	}
	defer it.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		m, err := it.Next()
		if err != nil {
			return stats, fmt.Errorf("ledger: read %s: %w", bus.StreamErasures, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return stats, fmt.Errorf("ledger: entry metadata: %w", err)
		}
		var e Entry
		if err := json.Unmarshal(m.Data(), &e); err != nil || e.valid() != nil {
			// A malformed entry cannot be re-applied; it is counted as read and skipped
			// rather than holding the whole start-up.
			stats.Entries++
		} else {
			stats.Entries++
			if err := cfg.apply(ctx, st, e, &stats); err != nil {
				return stats, err
			}
		}
		if meta.Sequence.Stream >= last {
			return stats, nil
		}
	}
}

// apply re-applies one entry where the store does not reflect it.
func (r replay) apply(ctx context.Context, st store.Store, e Entry, stats *Stats) error {
	changed := false
	switch _, err := st.Keys().Get(ctx, e.Institution, e.ContactID); {
	case errors.Is(err, store.ErrKeyDestroyed):
	case err == nil || errors.Is(err, store.ErrNotFound):
		stats.Keys++
		changed = true
		if !r.dry {
			if err := st.Keys().Destroy(ctx, e.Institution, e.ContactID, e.At); err != nil {
				return fmt.Errorf("ledger: destroy key again %s: %w", e.ID, err)
			}
		}
	default:
		return fmt.Errorf("ledger: read key for %s: %w", e.ID, err)
	}
	c, err := st.Contacts().Get(ctx, e.Institution, e.ContactID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("ledger: read contact for %s: %w", e.ID, err)
	case c.Status != store.StatusAnonymised && c.Status != store.StatusDeleted:
		stats.Contacts++
		changed = true
		if !r.dry {
			if err := eraseAgain(ctx, st.Contacts(), c, e); err != nil {
				return err
			}
		}
	}
	if e.RequestID != "" {
		q, err := st.Requests().Get(ctx, e.RequestID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			stats.Requests++
			changed = true
			if !r.dry {
				if err := recreateRequest(ctx, st.Requests(), e); err != nil {
					return err
				}
			}
		case err != nil:
			return fmt.Errorf("ledger: read request for %s: %w", e.ID, err)
		case q.State != store.RequestCompleted:
			stats.Requests++
			changed = true
			if !r.dry {
				if err := completeAgain(ctx, st.Requests(), q, e); err != nil {
					return err
				}
			}
		}
	}
	if changed {
		stats.Reapplied++
	}
	return nil
}

func eraseAgain(ctx context.Context, contacts store.Contacts, c store.Contact, e Entry) error {
	outcome := store.OutcomeAnonymise
	if e.Kind == KindDeleted {
		outcome = store.OutcomeDelete
	}
	for range 16 {
		_, err := contacts.Put(ctx, retention.Erase(c, outcome, e.Actor, e.At))
		if !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return fmt.Errorf("ledger: erase again %s: %w", e.ID, err)
			}
			return nil
		}
		if c, err = contacts.Get(ctx, e.Institution, e.ContactID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return fmt.Errorf("ledger: re-read contact for %s: %w", e.ID, err)
		}
		if c.Status == store.StatusAnonymised || c.Status == store.StatusDeleted {
			return nil
		}
	}
	return fmt.Errorf("ledger: erase again %s: %w", e.ID, store.ErrConflict)
}

// recreateRequest stores, answered, a request the restored store never held (it came after
// the backup): its id, contact, receipt and completion are the ledger's.
func recreateRequest(ctx context.Context, requests store.Requests, e Entry) error {
	received := e.RequestReceivedAt
	if received.IsZero() {
		received = e.At
	}
	now := time.Now().UTC()
	err := requests.Create(ctx, store.Request{
		ID: e.RequestID, Institution: e.Institution, ContactID: e.ContactID, Kind: store.KindErasure, Origin: store.OriginLedger,
		State: store.RequestCompleted, Outcome: e.Kind, ErasedFields: e.Fields, CreatedAt: received.UTC(), DueAt: retention.DueAt(received),
		CompletedAt: e.At.UTC(), UpdatedAt: now,
		Actions: []store.RequestAction{{At: now, By: "ledger", Action: store.RequestCompleted}},
	})
	if err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("ledger: recreate request %s: %w", e.ID, err)
	}
	return nil
}

func completeAgain(ctx context.Context, requests store.Requests, q store.Request, e Entry) error {
	for range 16 {
		q.State, q.Outcome, q.ErasedFields, q.Blocker, q.Error = store.RequestCompleted, e.Kind, e.Fields, "", ""
		q.CompletedAt, q.UpdatedAt = e.At.UTC(), time.Now().UTC()
		q.Actions = append(q.Actions, store.RequestAction{At: q.UpdatedAt, By: "ledger", Action: store.RequestCompleted})
		_, err := requests.Update(ctx, q)
		if !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return fmt.Errorf("ledger: complete request again %s: %w", e.ID, err)
			}
			return nil
		}
		if q, err = requests.Get(ctx, e.RequestID); err != nil {
			return fmt.Errorf("ledger: re-read request for %s: %w", e.ID, err)
		}
		if q.State == store.RequestCompleted {
			return nil
		}
	}
	return fmt.Errorf("ledger: complete request again %s: %w", e.ID, store.ErrConflict)
}
