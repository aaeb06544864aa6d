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
		Key:         fmt.Sprintf("erase:cmd-%d", seq),
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
		minimal := store.AuditEntry{Seq: 13, At: at(13), Institution: "inst-1", Actor: "token:ops", Action: "exported", Key: "k13", PrevHash: "h12", Hash: "h13"}
		purge := store.AuditEntry{Seq: 14, At: at(14), Actor: "system:retention", Action: "purged", Reason: "3 entries",
			Key: "purge:3", AnchorSeq: 4, AnchorHash: "h3", PrevHash: "h13", Hash: "h14"}
		appendAll(t, s, minimal, purge)
		mustEqual(t, "minimal and purge entries", scanAll(t, s, 12), []store.AuditEntry{minimal, purge})
	})

	t.Run("AppendTakenSeqIsErrExists", func(t *testing.T) {
		s := open(t)
		appendAll(t, s, entry(1, 0))
		other := entry(1, 5)
		other.Hash, other.Key = "forged", "erase:other"
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
				for i := range each {
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
						e.Key = fmt.Sprintf("w%d-%d", w, i)
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

	t.Run("AppendWithoutKeyIsRefused", func(t *testing.T) {
		s := open(t)
		e := entry(1, 0)
		e.Key = ""
		if err := s.Audit().Append(t.Context(), e); err == nil {
			t.Fatal("Append accepted an entry without an idempotency key")
		}
		if g := scanAll(t, s, 0); len(g) != 0 {
			t.Fatalf("log holds %v after the refused Append, want nothing", seqs(g))
		}
	})

	t.Run("AppendTakenKeyIsErrDuplicate", func(t *testing.T) {
		s := open(t)
		appendAll(t, s, entry(1, 0))
		again := entry(2, 1) // a free seq, the key of seq 1: a redelivered command
		again.Key = entry(1, 0).Key
		if err := s.Audit().Append(t.Context(), again); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("Append with a taken key: err = %v, want ErrDuplicate", err)
		}
		both := entry(1, 2) // seq and key both taken: the key is checked first
		if err := s.Audit().Append(t.Context(), both); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("Append with a taken seq and key: err = %v, want ErrDuplicate", err)
		}
		seqTaken := entry(1, 3)
		seqTaken.Key = "erase:another"
		if err := s.Audit().Append(t.Context(), seqTaken); !errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("Append with a taken seq and a new key: err = %v, want ErrExists only", err)
		}
		mustEqual(t, "log after the refused Appends", scanAll(t, s, 0), []store.AuditEntry{entry(1, 0)})
		appendAll(t, s, entry(2, 1)) // the seq refused above was left free
	})

	t.Run("AppendManyEqualsAppendsOneByOne", func(t *testing.T) {
		one, many := open(t), open(t)
		var es []store.AuditEntry
		for seq := int64(1); seq <= 40; seq++ {
			e := entry(seq, int(seq))
			if seq%5 == 0 {
				e.ContactID = "" // an entry about no contact (a purge)
			}
			es = append(es, e)
		}
		appendAll(t, one, es...)
		if n, err := many.Audit().AppendMany(t.Context(), es[:25]); n != 25 || err != nil {
			t.Fatalf("AppendMany of 25 = %d, %v", n, err)
		}
		if n, err := many.Audit().AppendMany(t.Context(), es[25:]); n != 15 || err != nil {
			t.Fatalf("AppendMany of 15 = %d, %v", n, err)
		}
		mustEqual(t, "Scan", scanAll(t, many, 0), scanAll(t, one, 0))
		for _, e := range es {
			got, err := many.Audit().ByKey(t.Context(), e.Key)
			if err != nil {
				t.Fatalf("ByKey %s: %v", e.Key, err)
			}
			mustEqual(t, "ByKey "+e.Key, got, e)
		}
		for _, id := range []string{"c3", "c5", "c7"} {
			a, err := one.Audit().ForContact(t.Context(), "inst-1", id)
			if err != nil {
				t.Fatal(err)
			}
			b, err := many.Audit().ForContact(t.Context(), "inst-1", id)
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "ForContact "+id, b, a)
		}
		last, err := many.Audit().Last(t.Context())
		if err != nil || last.Seq != 40 {
			t.Fatalf("Last after AppendMany = %d, %v; want 40", last.Seq, err)
		}
	})

	t.Run("AppendManyRedeliveredIsHarmless", func(t *testing.T) {
		s := open(t)
		es := []store.AuditEntry{entry(1, 1), entry(2, 2), entry(3, 3)}
		if n, err := s.Audit().AppendMany(t.Context(), es); n != 3 || err != nil {
			t.Fatalf("AppendMany = %d, %v", n, err)
		}
		before := scanAll(t, s, 0)
		// The same batch again (a retried group commit whose first attempt landed).
		if n, err := s.Audit().AppendMany(t.Context(), es); n != 0 || !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("AppendMany again = %d, %v; want 0, ErrDuplicate", n, err)
		}
		// The same keys under the next sequences: still refused, by key.
		again := []store.AuditEntry{entry(1, 1), entry(2, 2)}
		again[0].Seq, again[1].Seq = 4, 5
		if n, err := s.Audit().AppendMany(t.Context(), again); n != 0 || !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("AppendMany of logged keys at new seqs = %d, %v; want 0, ErrDuplicate", n, err)
		}
		mustEqual(t, "log after redeliveries", scanAll(t, s, 0), before)
	})

	t.Run("AppendManyStopsAtTheFirstRefusedEntry", func(t *testing.T) {
		s := open(t)
		appendAll(t, s, entry(1, 1), entry(5, 5))
		dupKey := entry(4, 4)
		dupKey.Key = entry(1, 1).Key
		n, err := s.Audit().AppendMany(t.Context(), []store.AuditEntry{entry(2, 2), entry(3, 3), dupKey, entry(6, 6)})
		if n != 2 || !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("AppendMany over a logged key = %d, %v; want 2, ErrDuplicate", n, err)
		}
		seqTaken := entry(5, 5)
		seqTaken.Key = "erase:another"
		n, err = s.Audit().AppendMany(t.Context(), []store.AuditEntry{entry(4, 4), seqTaken, entry(6, 6)})
		if n != 1 || !errors.Is(err, store.ErrExists) {
			t.Fatalf("AppendMany over a taken seq = %d, %v; want 1, ErrExists", n, err)
		}
		twice := entry(7, 7)
		twice.Key = entry(6, 6).Key
		n, err = s.Audit().AppendMany(t.Context(), []store.AuditEntry{entry(6, 6), twice})
		if n != 1 || !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("AppendMany with a key twice = %d, %v; want 1, ErrDuplicate", n, err)
		}
		if got := seqs(scanAll(t, s, 0)); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6}) {
			t.Fatalf("log holds seqs %v, want 1-6", got)
		}
	})

	t.Run("ByKey", func(t *testing.T) {
		s := open(t)
		appendAll(t, s, entry(1, 0), entry(2, 1), entry(3, 2))
		got, err := s.Audit().ByKey(t.Context(), entry(2, 1).Key)
		if err != nil {
			t.Fatalf("ByKey: %v", err)
		}
		mustEqual(t, "ByKey", got, entry(2, 1))
		if _, err := s.Audit().ByKey(t.Context(), "erase:never"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ByKey of an unknown key: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("ForContactInSeqOrder", func(t *testing.T) {
		s := open(t)
		mk := func(seq int64, inst, contact string) store.AuditEntry {
			e := entry(seq, int(seq))
			e.Institution, e.ContactID = inst, contact
			return e
		}
		es := []store.AuditEntry{
			mk(1, "inst-1", "c1"), mk(2, "inst-1", "c10"), mk(3, "inst-2", "c1"), mk(4, "inst-1", ""),
			mk(5, "inst-1", "c1"), mk(6, "inst-1", "c"), mk(7, "inst-1", "c1"),
		}
		appendAll(t, s, es[6], es[0], es[4], es[1], es[2], es[3], es[5])
		got, err := s.Audit().ForContact(t.Context(), "inst-1", "c1")
		if err != nil {
			t.Fatalf("ForContact: %v", err)
		}
		mustEqual(t, "ForContact inst-1/c1", got, []store.AuditEntry{es[0], es[4], es[6]})
		if got, err := s.Audit().ForContact(t.Context(), "inst-2", "c1"); err != nil || !slices.Equal(seqs(got), []int64{3}) {
			t.Fatalf("ForContact inst-2/c1 = %v, %v; want [3]", seqs(got), err)
		}
		if got, err := s.Audit().ForContact(t.Context(), "inst-1", "c2"); err != nil || len(got) != 0 {
			t.Fatalf("ForContact of a contact with no entry = %v, %v; want none", seqs(got), err)
		}
	})

	t.Run("PurgeThroughKeepsLaterEntriesAndTheHead", func(t *testing.T) {
		s := open(t)
		es := []store.AuditEntry{entry(1, -30), entry(2, -20), entry(3, -10), entry(4, 0), entry(5, 10)}
		for i := range es {
			es[i].ContactID = "c-same"
		}
		appendAll(t, s, es...)
		n, err := s.Audit().PurgeThrough(t.Context(), 3)
		if err != nil || n != 3 {
			t.Fatalf("PurgeThrough(3) = %d, %v; want 3 removed", n, err)
		}
		mustEqual(t, "log after purge", scanAll(t, s, 0), es[3:])
		n, err = s.Audit().PurgeThrough(t.Context(), 3)
		if err != nil || n != 0 {
			t.Fatalf("second PurgeThrough(3) = %d, %v; want 0 removed", n, err)
		}
		last, err := s.Audit().Last(t.Context())
		if err != nil || last.Seq != 5 {
			t.Fatalf("Last after purge = %d, %v; want 5", last.Seq, err)
		}
		if _, err := s.Audit().ByKey(t.Context(), es[1].Key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ByKey of a purged entry: err = %v, want ErrNotFound", err)
		}
		if got, err := s.Audit().ByKey(t.Context(), es[3].Key); err != nil || got.Seq != 4 {
			t.Fatalf("ByKey of a kept entry = %d, %v; want seq 4", got.Seq, err)
		}
		if got, err := s.Audit().ForContact(t.Context(), "inst-1", "c-same"); err != nil || !slices.Equal(seqs(got), []int64{4, 5}) {
			t.Fatalf("ForContact after purge = %v, %v; want [4 5]", seqs(got), err)
		}
		appendAll(t, s, entry(6, 11)) // the head goes on from where it was
	})

	// Batch boundaries are the adapters' own business (their package tests shrink the batch);
	// this shows a longer prefix written by concurrent appenders goes whole.
	t.Run("PurgeThroughALongPrefix", func(t *testing.T) {
		s := open(t)
		const total, through, writers = 120, 100, 8
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for seq := int64(w + 1); seq <= total; seq += writers {
					if err := s.Audit().Append(t.Context(), entry(seq, 0)); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		n, err := s.Audit().PurgeThrough(t.Context(), through)
		if err != nil || n != through {
			t.Fatalf("PurgeThrough(%d) = %d, %v; want %d removed", through, n, err, through)
		}
		got := seqs(scanAll(t, s, 0))
		if len(got) != total-through || got[0] != through+1 || got[len(got)-1] != total {
			t.Fatalf("after purge the log holds %d entries from %v, want %d..%d", len(got), got[:min(3, len(got))], through+1, total)
		}
	})
}
