package audit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
)

// day0 is in a non-UTC zone with sub-millisecond digits: Record must store neither.
var day0 = time.Date(2025, 1, 10, 8, 30, 0, 123_456_789, time.FixedZone("CET", 3600))

func day(n int) time.Time { return day0.AddDate(0, 0, n) }

// cut is a purge horizon at the start of day(n)'s millisecond, where Record stores day(n):
// an entry of day n is not before cut(n).
func cut(n int) time.Time { return day(n).Truncate(time.Millisecond) }

// clock is a settable clock for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func outcome(n int) store.AuditEntry {
	return store.AuditEntry{
		Institution: "inst-a",
		ContactID:   fmt.Sprintf("c%d", n),
		Actor:       "run:r-1",
		Action:      "anonymised",
		Reason:      "inactive",
		Fields:      []string{"profile.email", "profile.last_name"},
		Key:         fmt.Sprintf("erase:cmd-%d", n),
	}
}

func scanAll(t *testing.T, a store.Audit) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	if err := a.Scan(context.Background(), 0, func(e store.AuditEntry) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func mustVerify(t *testing.T, a store.Audit) audit.Report {
	t.Helper()
	r, err := audit.Verify(context.Background(), a)
	if err != nil || !r.Intact || r.Broken != nil {
		t.Fatalf("Verify = %+v, %v; want an intact chain", r, err)
	}
	return r
}

func mustBreakAt(t *testing.T, a store.Audit, seq int64, reason string) {
	t.Helper()
	r, err := audit.Verify(context.Background(), a)
	var broken *audit.BrokenError
	if !errors.As(err, &broken) {
		t.Fatalf("Verify = %+v, %v; want a *BrokenError at seq %d", r, err, seq)
	}
	if broken.Seq != seq || !strings.Contains(broken.Reason, reason) {
		t.Fatalf("Verify broke at seq %d (%s); want seq %d (%s)", broken.Seq, broken.Reason, seq, reason)
	}
	if r.Intact || r.Broken == nil || *r.Broken != *broken {
		t.Fatalf("report %+v does not carry the break %+v", r, broken)
	}
	if !strings.Contains(r.String(), fmt.Sprintf("broken at seq %d", seq)) {
		t.Fatalf("report prints %q, want it to name seq %d", r.String(), seq)
	}
}

func TestRecordChainsAndVerifies(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		a := s.Audit()
		if r := mustVerify(t, a); r.Entries != 0 || r.String() != "audit chain intact: the log is empty" {
			t.Fatalf("empty log: %+v %q", r, r.String())
		}
		clk := &clock{t: day(0)}
		log := audit.New(a, audit.WithClock(clk.now))
		var recorded []store.AuditEntry
		for n := 1; n <= 5; n++ {
			clk.set(day(n))
			e := outcome(n)
			if n == 4 {
				e = store.AuditEntry{Institution: "inst-a", Actor: "request:q-9", Action: "exported", Key: "export:q-9"}
			}
			if n == 5 {
				e.At = day(-3).Add(7 * time.Nanosecond) // a caller's own time: kept, normalised
			}
			got, err := log.Record(ctx, e)
			if err != nil {
				t.Fatalf("Record %d: %v", n, err)
			}
			recorded = append(recorded, got)
		}
		for i, e := range recorded {
			var prev string
			if i > 0 {
				prev = recorded[i-1].Hash
			}
			if e.Seq != int64(i+1) || e.PrevHash != prev || e.Hash != audit.Hash(e) || len(e.Hash) != 64 {
				t.Fatalf("entry %d = seq %d prev %q hash %q; want seq %d chained on %q", i, e.Seq, e.PrevHash, e.Hash, i+1, prev)
			}
		}
		if want := day(1).UTC().Truncate(time.Millisecond); recorded[0].At != want {
			t.Fatalf("At from the clock = %v, want %v (UTC, ms)", recorded[0].At, want)
		}
		if want := day(-3).UTC().Truncate(time.Millisecond); recorded[4].At != want {
			t.Fatalf("At given by the caller = %v, want %v (UTC, ms)", recorded[4].At, want)
		}
		stored := scanAll(t, a)
		if len(stored) != 5 {
			t.Fatalf("log holds %d entries, want 5", len(stored))
		}
		for i := range stored {
			if stored[i].Hash != recorded[i].Hash || audit.Hash(stored[i]) != recorded[i].Hash {
				t.Fatalf("stored entry %d does not hash as recorded: %+v vs %+v", i+1, stored[i], recorded[i])
			}
		}
		r := mustVerify(t, a)
		if r.Entries != 5 || r.FirstSeq != 1 || r.HeadSeq != 5 || r.HeadHash != recorded[4].Hash || r.AnchoredBy != 0 {
			t.Fatalf("report = %+v", r)
		}
		if want := fmt.Sprintf("audit chain intact: 5 entries, seq 1..5, head %s", recorded[4].Hash); r.String() != want {
			t.Fatalf("report prints %q, want %q", r.String(), want)
		}
		// A second Log (another process) goes on from the stored head.
		if e, err := audit.New(a).Record(ctx, outcome(6)); err != nil || e.Seq != 6 || e.PrevHash != recorded[4].Hash {
			t.Fatalf("Record from a fresh Log = seq %d prev %q, %v", e.Seq, e.PrevHash, err)
		}
		// And the first Log, whose cached head is stale, still chains onto the real one.
		if e, err := log.Record(ctx, outcome(7)); err != nil || e.Seq != 7 {
			t.Fatalf("Record after another appender = seq %d, %v; want 7", e.Seq, err)
		}
		mustVerify(t, a)
		if got, err := a.ForContact(ctx, "inst-a", "c2"); err != nil || len(got) != 1 || got[0].Hash != recorded[1].Hash {
			t.Fatalf("ForContact c2 = %+v, %v", got, err)
		}
	})
}

func TestRecordRefusesIncompleteEntries(t *testing.T) {
	t.Parallel()
	s := backendtest.Pebble(t)
	log := audit.New(s.Audit())
	for name, mutate := range map[string]func(*store.AuditEntry){
		"no key":    func(e *store.AuditEntry) { e.Key = "" },
		"no actor":  func(e *store.AuditEntry) { e.Actor = "" },
		"no action": func(e *store.AuditEntry) { e.Action = "" },
	} {
		e := outcome(1)
		mutate(&e)
		if _, err := log.Record(context.Background(), e); !errors.Is(err, audit.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if n := len(scanAll(t, s.Audit())); n != 0 {
		t.Fatalf("log holds %d entries after refusals", n)
	}
}

func TestDuplicateKeyAppendsOnce(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		a := s.Audit()
		first, err := audit.New(a).Record(ctx, outcome(1))
		if err != nil {
			t.Fatal(err)
		}
		// The redelivered command, handled by another replica, with a later clock.
		again := outcome(1)
		again.Reason, again.At = "redelivered", day(9)
		got, err := audit.New(a).Record(ctx, again)
		if err != nil {
			t.Fatalf("Record of a recorded key: %v", err)
		}
		if got.Seq != first.Seq || got.Hash != first.Hash || got.Reason != "inactive" {
			t.Fatalf("Record of a recorded key = %+v, want the first entry %+v", got, first)
		}
		// Many replicas racing on one new key: one entry.
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				if _, err := audit.New(a).Record(ctx, outcome(2)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if es := scanAll(t, a); len(es) != 2 || es[1].Key != outcome(2).Key {
			t.Fatalf("log holds %d entries, want 2", len(es))
		}
		mustVerify(t, a)
	})
}

// TestConcurrentRecord appends from several Logs (as several processes would) and several
// goroutines per Log: every entry lands once, on a contiguous, valid chain.
func TestConcurrentRecord(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		const logs, goroutines, each = 3, 4, 6
		var wg sync.WaitGroup
		for l := range logs {
			log := audit.New(s.Audit())
			for g := range goroutines {
				wg.Go(func() {
					for i := range each {
						e := outcome(0)
						e.Key = fmt.Sprintf("erase:l%d-g%d-%d", l, g, i)
						if _, err := log.Record(ctx, e); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
		}
		wg.Wait()
		es := scanAll(t, s.Audit())
		if len(es) != logs*goroutines*each {
			t.Fatalf("log holds %d entries, want %d", len(es), logs*goroutines*each)
		}
		keys := map[string]bool{}
		for _, e := range es {
			keys[e.Key] = true
		}
		if len(keys) != len(es) {
			t.Fatalf("%d distinct keys in %d entries", len(keys), len(es))
		}
		if r := mustVerify(t, s.Audit()); r.HeadSeq != int64(len(es)) {
			t.Fatalf("report = %+v", r)
		}
	})
}

func TestHashCoversEveryField(t *testing.T) {
	t.Parallel()
	base := outcome(1)
	base.Seq, base.At, base.PrevHash = 7, day(0), "abc"
	h := audit.Hash(base)
	for name, mutate := range map[string]func(*store.AuditEntry){
		"seq":         func(e *store.AuditEntry) { e.Seq++ },
		"at":          func(e *store.AuditEntry) { e.At = e.At.Add(time.Millisecond) },
		"institution": func(e *store.AuditEntry) { e.Institution = "inst-b" },
		"contact":     func(e *store.AuditEntry) { e.ContactID = "c2" },
		"actor":       func(e *store.AuditEntry) { e.Actor = "run:r-2" },
		"action":      func(e *store.AuditEntry) { e.Action = "deleted" },
		"reason":      func(e *store.AuditEntry) { e.Reason = "" },
		"fields":      func(e *store.AuditEntry) { e.Fields = e.Fields[:1] },
		"field order": func(e *store.AuditEntry) { e.Fields = []string{e.Fields[1], e.Fields[0]} },
		"key":         func(e *store.AuditEntry) { e.Key = "erase:other" },
		"anchor seq":  func(e *store.AuditEntry) { e.AnchorSeq = 3 },
		"anchor hash": func(e *store.AuditEntry) { e.AnchorHash = "def" },
		"prev hash":   func(e *store.AuditEntry) { e.PrevHash = "abd" },
		// Unambiguous: moving bytes between neighbours changes the encoding.
		"actor/action boundary": func(e *store.AuditEntry) { e.Actor, e.Action = e.Actor+"a", e.Action[1:] },
		"fields boundary":       func(e *store.AuditEntry) { e.Fields = []string{e.Fields[0] + e.Fields[1]} },
	} {
		e := base
		e.Fields = append([]string(nil), base.Fields...)
		mutate(&e)
		if audit.Hash(e) == h {
			t.Errorf("changing the %s leaves the hash unchanged", name)
		}
	}
	same := base
	same.At = base.At.UTC().Add(999 * time.Nanosecond) // zone and sub-millisecond digits
	same.Hash = "anything"                             // Hash is not hashed
	if audit.Hash(same) != h {
		t.Error("the hash depends on the zone, sub-millisecond digits or the Hash field")
	}
	empty, none := base, base
	empty.Fields, none.Fields = []string{}, nil
	if audit.Hash(empty) != audit.Hash(none) {
		t.Error("nil and empty Fields hash differently, but MongoDB keeps neither")
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		a := s.Audit()
		clk := &clock{}
		log := audit.New(a, audit.WithClock(clk.now))
		if n, err := log.Purge(ctx, cut(100)); err != nil || n != 0 {
			t.Fatalf("Purge of an empty log = %d, %v", n, err)
		}
		var es []store.AuditEntry
		record := func(n int, at time.Time) {
			t.Helper()
			clk.set(at)
			e, err := log.Record(ctx, outcome(n))
			if err != nil {
				t.Fatal(err)
			}
			es = append(es, e)
		}
		for n := 1; n <= 8; n++ {
			record(n, day(n))
		}
		record(9, day(2)) // recorded out of time order: the prefix stops before it anyway
		record(10, day(3))

		// Entries 1..5 are before day 6; the purge entry is seq 11.
		clk.set(day(20))
		n, err := log.Purge(ctx, cut(6))
		if err != nil || n != 5 {
			t.Fatalf("Purge = %d, %v; want 5", n, err)
		}
		r := mustVerify(t, a)
		if r.FirstSeq != 6 || r.HeadSeq != 11 || r.AnchoredBy != 11 || r.Entries != 6 {
			t.Fatalf("report after purge = %+v", r)
		}
		p, err := a.ByKey(ctx, "purge:5")
		if err != nil {
			t.Fatal(err)
		}
		if p.Seq != 11 || p.Action != audit.ActionPurged || p.Actor != audit.ActorRetention || p.AnchorSeq != 6 ||
			p.AnchorHash != es[4].Hash || !strings.Contains(p.Reason, "5 entries") || p.ContactID != "" {
			t.Fatalf("purge entry = %+v", p)
		}
		// Again with the same horizon: nothing old is left, nothing is recorded.
		if n, err := log.Purge(ctx, cut(6)); err != nil || n != 0 {
			t.Fatalf("second Purge = %d, %v; want 0", n, err)
		}
		if r := mustVerify(t, a); r.HeadSeq != 11 {
			t.Fatalf("a purge with nothing to do recorded an entry: %+v", r)
		}

		// A later purge takes the earlier purge entry with it, and never the head.
		record(12, day(21))
		clk.set(day(40))
		n, err = log.Purge(ctx, cut(30))
		if err != nil || n != 6 { // 6..11; 12 is the head before this purge's own entry
			t.Fatalf("later Purge = %d, %v; want 6", n, err)
		}
		r = mustVerify(t, a)
		if r.FirstSeq != 12 || r.HeadSeq != 13 || r.AnchoredBy != 13 {
			t.Fatalf("report after the later purge = %+v", r)
		}
		n, err = log.Purge(ctx, cut(1000)) // everything is old now: the head stays
		if err != nil || n != 1 {
			t.Fatalf("Purge of all = %d, %v; want 1", n, err)
		}
		r = mustVerify(t, a)
		if r.FirstSeq != 13 || r.HeadSeq != 14 || r.Entries != 2 {
			t.Fatalf("report after purging all = %+v", r)
		}
		if e, err := log.Record(ctx, outcome(99)); err != nil || e.Seq != 15 {
			t.Fatalf("Record after purges = seq %d, %v", e.Seq, err)
		}
		mustVerify(t, a)
	})
}

// failingPurge is a real store whose PurgeThrough fails once: a crash between recording the
// purge and deleting.
type failingPurge struct {
	store.Audit
	failed bool
}

func (f *failingPurge) PurgeThrough(ctx context.Context, seq int64) (int, error) {
	if !f.failed {
		f.failed = true
		return 0, errors.New("crash")
	}
	return f.Audit.PurgeThrough(ctx, seq)
}

func TestPurgeFinishesAfterACrash(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		a := &failingPurge{Audit: s.Audit()}
		clk := &clock{}
		log := audit.New(a, audit.WithClock(clk.now))
		for n := 1; n <= 4; n++ {
			clk.set(day(n))
			if _, err := log.Record(ctx, outcome(n)); err != nil {
				t.Fatal(err)
			}
		}
		clk.set(day(10))
		if _, err := log.Purge(ctx, cut(3)); err == nil {
			t.Fatal("Purge hid the failed deletion")
		}
		if r := mustVerify(t, a); r.FirstSeq != 1 || r.HeadSeq != 5 {
			t.Fatalf("after the crash: %+v; want the purge entry recorded and nothing deleted", r)
		}
		// The re-run, by another process, a day later.
		clk.set(day(11))
		n, err := audit.New(a, audit.WithClock(clk.now)).Purge(ctx, cut(3))
		if err != nil || n != 2 {
			t.Fatalf("re-run Purge = %d, %v; want 2", n, err)
		}
		r := mustVerify(t, a)
		if r.FirstSeq != 3 || r.HeadSeq != 5 || r.AnchoredBy != 5 {
			t.Fatalf("after the re-run: %+v; want one purge entry, seq 5, anchoring 3", r)
		}
	})
}

// TestVerifyDetectsForgedAppends writes through the port, past the Log, as someone holding
// the store's credentials could.
func TestVerifyDetectsForgedAppends(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		a := s.Audit()
		log := audit.New(a)
		var es []store.AuditEntry
		for n := 1; n <= 3; n++ {
			e, err := log.Record(ctx, outcome(n))
			if err != nil {
				t.Fatal(err)
			}
			es = append(es, e)
		}
		// An entry appended past the Log, hashed correctly but chained on nothing.
		forged := outcome(4)
		forged.Seq, forged.At, forged.PrevHash = 4, day(0).UTC().Truncate(time.Millisecond), strings.Repeat("0", 64)
		forged.Hash = audit.Hash(forged)
		if err := a.Append(ctx, forged); err != nil {
			t.Fatal(err)
		}
		mustBreakAt(t, a, 4, "prev_hash is not the hash of entry 3")
		// Entries after a gap.
		gap := outcome(6)
		gap.Seq, gap.At, gap.PrevHash = 6, day(0).UTC().Truncate(time.Millisecond), forged.Hash
		gap.Hash = audit.Hash(gap)
		if err := a.Append(ctx, gap); err != nil {
			t.Fatal(err)
		}
		mustBreakAt(t, a, 4, "prev_hash") // still the first break
	})
}
