package audit_test

import (
	"context"
	"sync"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
)

// TestGroupCommitRecordsEachEntryOnce: many concurrent Records on one Log (the anonymiser's
// command handlers) — new keys, the same new key from several of them at once, keys logged
// before — land once each on a valid chain, and every caller gets the entry stored under its
// key.
func TestGroupCommitRecordsEachEntryOnce(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		log := audit.New(s.Audit())
		for n := range 5 { // logged before: their redeliveries must get these back
			if _, err := log.Record(ctx, outcome(n)); err != nil {
				t.Fatal(err)
			}
		}
		before := scanAll(t, s.Audit())
		const writers = 200
		got := make([]store.AuditEntry, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				e, err := log.Record(ctx, outcome(i%150)) // 0-4 logged; 5-49 recorded twice at once
				if err != nil {
					t.Error(err)
				}
				got[i] = e
			})
		}
		wg.Wait()
		es := scanAll(t, s.Audit())
		if len(es) != 150 {
			t.Fatalf("log holds %d entries, want 150", len(es))
		}
		byKey := map[string]store.AuditEntry{}
		for _, e := range es {
			if _, twice := byKey[e.Key]; twice {
				t.Fatalf("key %s logged twice", e.Key)
			}
			byKey[e.Key] = e
		}
		for i, e := range got {
			if want := byKey[outcome(i%150).Key]; e.Seq != want.Seq || e.Hash != want.Hash {
				t.Fatalf("Record %d got seq %d, the log holds its key at seq %d", i, e.Seq, want.Seq)
			}
		}
		for i, e := range before {
			if es[i].Hash != e.Hash {
				t.Fatalf("entry %d changed", e.Seq)
			}
		}
		mustVerify(t, s.Audit())
	})
}
