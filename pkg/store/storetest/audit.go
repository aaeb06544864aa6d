package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

func entry(seq int64, day int) store.AuditEntry {
	return store.AuditEntry{
		Seq:         seq,
		At:          at(day),
		Institution: "inst-1",
		ContactID:   fmt.Sprintf("c%d", seq),
		Actor:       "run:r1",
		Action:      "anonymised",
		Reason:      "inactive",
		Fields:      []string{"profile.email", "profile.last_name"},
		PrevHash:    fmt.Sprintf("h%d", seq-1),
		Hash:        fmt.Sprintf("h%d", seq),
	}
}

func seqs(es []store.AuditEntry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func runAudit(t *testing.T, open func(t *testing.T) store.Store) {
	scanAll := func(t *testing.T, s store.Store, after int64) []store.AuditEntry {
		t.Helper()
		var out []store.AuditEntry
		if err := s.Audit().Scan(t.Context(), after, func(e store.AuditEntry) error {
			out = append(out, e)
			return nil
		}); err != nil {
			t.Fatalf("Scan after %d: %v", after, err)
		}
		return out
	}
	appendAll := func(t *testing.T, s store.Store, es ...store.AuditEntry) {
		t.Helper()
		for _, e := range es {
			if err := s.Audit().Append(t.Context(), e); err != nil {
				t.Fatalf("Append %d: %v", e.Seq, err)
			}
		}
	}

	t.Run("LastOfEmptyLogIsNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.Audit().Last(t.Context()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Last: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("AppendLastScanInNumericOrder", func(t *testing.T) {
		s := open(t)
		var want []store.AuditEntry
		for seq := int64(1); seq <= 12; seq++ { // 10 after 9, not after 1
			want = append(want, entry(seq, int(seq)))
		}
		appendAll(t, s, want[11], want[1], want[9], want[0])
		appendAll(t, s, want[2:9]...)
		appendAll(t, s, want[10])
		last, err := s.Audit().Last(t.Context())
		if err != nil {
			t.Fatalf("Last: %v", err)
		}
		mustEqual(t, "Last", last, want[11])
		got := scanAll(t, s, 0)
		mustEqual(t, "Scan from 0", got, want)
		if g := seqs(scanAll(t, s, 9)); !slices.Equal(g, []int64{10, 11, 12}) {
			t.Fatalf("Scan after 9 = %v, want [10 11 12]", g)
		}
		if g := scanAll(t, s, 12); len(g) != 0 {
			t.Fatalf("Scan after the head = %v, want none", seqs(g))
		}
		minimal := store.AuditEntry{Seq: 13, At: at(13), Institution: "inst-1", Actor: "token:ops", Action: "exported", PrevHash: "h12", Hash: "h13"}
		appendAll(t, s, minimal)
		mustEqual(t, "minimal entry", scanAll(t, s, 12)[0], minimal)
	})

	t.Run("AppendTakenSeqIsErrExists", func(t *testing.T) {
		s := open(t)
		appendAll(t, s, entry(1, 0))
		other := entry(1, 5)
		other.Hash = "forged"
		if err := s.Audit().Append(t.Context(), other); !errors.Is(err, store.ErrExists) {
			t.Fatalf("Append on a taken seq: err = %v, want ErrExists", err)
		}
		mustEqual(t, "entry after the refused Append", scanAll(t, s, 0), []store.AuditEntry{entry(1, 0)})
	})

	t.Run("ConcurrentAppendersSerialiseOnTheHead", func(t *testing.T) {
		s := open(t)
		const writers, each = 4, 10
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for range each {
					for {
						var next int64 = 1
						prev := ""
						head, err := s.Audit().Last(ctx)
						switch {
						case err == nil:
							next, prev = head.Seq+1, head.Hash
						case !errors.Is(err, store.ErrNotFound):
							errs <- err
							return
						}
						e := entry(next, 0)
						e.PrevHash, e.Hash, e.Actor = prev, fmt.Sprintf("h%d-w%d", next, w), fmt.Sprintf("run:w%d", w)
						err = s.Audit().Append(ctx, e)
						if err == nil {
							break
						}
						if !errors.Is(err, store.ErrExists) {
							errs <- err
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got := scanAll(t, s, 0)
		if len(got) != writers*each {
			t.Fatalf("log holds %d entries, want %d", len(got), writers*each)
		}
		for i, e := range got {
			if e.Seq != int64(i+1) {
				t.Fatalf("entry %d has seq %d", i, e.Seq)
			}
			if i > 0 && e.PrevHash != got[i-1].Hash {
				t.Fatalf("chain broken at seq %d: prev %q, previous hash %q", e.Seq, e.PrevHash, got[i-1].Hash)
			}
		}
	})

	t.Run("ScanStopsOnCallbackError", func(t *testing.T) {
		s := open(t)
		appendAll(t, s, entry(1, 0), entry(2, 0), entry(3, 0))
		stop := errors.New("enough")
		var seen []int64
		err := s.Audit().Scan(t.Context(), 0, func(e store.AuditEntry) error {
			seen = append(seen, e.Seq)
			if e.Seq == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || !slices.Equal(seen, []int64{1, 2}) {
			t.Fatalf("Scan: err = %v after %v, want the callback's error after [1 2]", err, seen)
		}
	})

	t.Run("PurgeBeforeRemovesStrictlyOlderEntries", func(t *testing.T) {
		s := open(t)
		appendAll(t, s, entry(1, -30), entry(2, -20), entry(3, -10), entry(4, 0), entry(5, 10))
		n, err := s.Audit().PurgeBefore(t.Context(), at(-10))
		if err != nil || n != 2 {
			t.Fatalf("PurgeBefore = %d, %v; want 2 removed", n, err)
		}
		if g := seqs(scanAll(t, s, 0)); !slices.Equal(g, []int64{3, 4, 5}) {
			t.Fatalf("after purge the log holds %v, want [3 4 5]", g)
		}
		n, err = s.Audit().PurgeBefore(t.Context(), at(-10))
		if err != nil || n != 0 {
			t.Fatalf("second PurgeBefore = %d, %v; want 0 removed", n, err)
		}
		last, err := s.Audit().Last(t.Context())
		if err != nil || last.Seq != 5 {
			t.Fatalf("Last after purge = %d, %v; want 5", last.Seq, err)
		}
		appendAll(t, s, entry(6, 11)) // the head goes on from where it was
	})
}
