package ledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/ledger"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
)

// Replay re-applies what the store does not reflect, once: a second replay finds nothing to
// do, and a dry run changes nothing.
func TestReplayReappliesWhatTheStoreLacksOnceAndDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		_, js := platformtest.Bus(t)
		if err := bus.EnsureStreams(ctx, js, bus.StreamsConfig{}); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
		// c-back: restored (active, key present); c-gone: erased in the store already.
		for _, id := range []string{"c-back", "c-gone"} {
			if _, err := st.Keys().Create(ctx, "inst-a", id, []byte("wrapped-key-of-"+id)); err != nil {
				t.Fatal(err)
			}
			c := store.Contact{Institution: "inst-a", ID: id, Status: store.StatusActive, Created: true,
				Profile: map[string]store.Field{"email": {Value: "sealed:v1:x", Sealed: true}}}
			if _, err := st.Contacts().Put(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Keys().Destroy(ctx, "inst-a", "c-gone", at); err != nil {
			t.Fatal(err)
		}
		gone, _ := st.Contacts().Get(ctx, "inst-a", "c-gone")
		gone.Status, gone.Profile = store.StatusAnonymised, nil
		if _, err := st.Contacts().Put(ctx, gone); err != nil {
			t.Fatal(err)
		}
		pub := ledger.NewPublisher(js)
		entries := []ledger.Entry{
			{ID: "out_1", Institution: "inst-a", ContactID: "c-back", Kind: ledger.KindAnonymised, At: at, Actor: "run:r1", RunID: "r1"},
			{ID: "out_2", Institution: "inst-a", ContactID: "c-gone", Kind: ledger.KindAnonymised, At: at, Actor: "run:r1", RunID: "r1"},
		}
		if err := pub.Record(ctx, entries...); err != nil {
			t.Fatal(err)
		}
		if err := pub.Record(ctx, entries[0]); err != nil { // republished: deduplicated
			t.Fatal(err)
		}
		if err := pub.Record(ctx, ledger.Entry{ID: "out_3", Institution: "inst-a", ContactID: "c", Kind: "forgotten", At: at}); !errors.Is(err, ledger.ErrInvalid) {
			t.Fatalf("an entry of unknown kind: %v, want ErrInvalid", err)
		}

		dry, err := ledger.Replay(ctx, js, st, ledger.DryRun())
		if err != nil {
			t.Fatal(err)
		}
		if dry != (ledger.Stats{Entries: 2, Reapplied: 1, Keys: 1, Contacts: 1}) {
			t.Fatalf("dry run: %+v, want 2 entries, 1 to re-apply (its key and its contact)", dry)
		}
		if _, err := st.Keys().Get(ctx, "inst-a", "c-back"); err != nil {
			t.Fatalf("the dry run destroyed the key: %v", err)
		}
		got, err := ledger.Replay(ctx, js, st)
		if err != nil || got != dry {
			t.Fatalf("replay: %+v, %v; want what the dry run said, %+v", got, err, dry)
		}
		if _, err := st.Keys().Get(ctx, "inst-a", "c-back"); !errors.Is(err, store.ErrKeyDestroyed) {
			t.Fatalf("c-back's key after the replay: %v, want destroyed", err)
		}
		c, _ := st.Contacts().Get(ctx, "inst-a", "c-back")
		if c.Status != store.StatusAnonymised || c.ErasedBy != "run:r1" || len(c.Profile) != 0 {
			t.Fatalf("c-back after the replay: %s by %q, profile %v; want anonymised by run:r1, no profile", c.Status, c.ErasedBy, c.Profile)
		}
		again, err := ledger.Replay(ctx, js, st)
		if err != nil || again != (ledger.Stats{Entries: 2}) {
			t.Fatalf("second replay: %+v, %v; want nothing to re-apply", again, err)
		}
	})
}
