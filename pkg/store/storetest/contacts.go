package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// trickyIDs are valid ids ([A-Za-z0-9_-]) that are prefixes of each other or sort around the
// separators an adapter might use in its keys.
var trickyIDs = []string{"c1", "c10", "c1-", "c1_", "c1-0", "c", "C1", "c2", "c100", "0", "-", "_", "c1a", "c1A", "Z", "z"}

func mustPut(t *testing.T, s store.Store, c store.Contact) store.Contact {
	t.Helper()
	got, err := s.Contacts().Put(t.Context(), c)
	if err != nil {
		t.Fatalf("Put %s/%s v%d: %v", c.Institution, c.ID, c.Version, err)
	}
	return got
}

func mustGet(t *testing.T, s store.Store, inst, id string) store.Contact {
	t.Helper()
	got, err := s.Contacts().Get(t.Context(), inst, id)
	if err != nil {
		t.Fatalf("Get %s/%s: %v", inst, id, err)
	}
	return got
}

func contact(inst, id string, status store.Status, recency time.Time) store.Contact {
	return store.Contact{Institution: inst, ID: id, Status: status, Role: "individual", Recency: recency,
		RecencySource: store.Source{EventID: "evt-" + id, Type: "lethe.test.v1", At: recency}}
}

func inactive(t *testing.T, s store.Store, inst string, status store.Status, before time.Time) []store.Contact {
	t.Helper()
	var out []store.Contact
	err := s.Contacts().Inactive(t.Context(), inst, status, before, func(c store.Contact) error {
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatalf("Inactive %s %s: %v", inst, status, err)
	}
	return out
}

func scan(t *testing.T, s store.Store, inst, after string) []store.Contact {
	t.Helper()
	var out []store.Contact
	err := s.Contacts().Scan(t.Context(), inst, after, func(c store.Contact) error {
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan %s after %q: %v", inst, after, err)
	}
	return out
}

func mustIDs(t *testing.T, what string, got []store.Contact, want ...string) {
	t.Helper()
	if g := ids(got); !slices.Equal(g, want) {
		t.Fatalf("%s: got ids %q, want %q", what, g, want)
	}
}

func runContacts(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("GetAbsentIsNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.Contacts().Get(t.Context(), "inst", "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get absent: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("PutGetRoundTripsEveryField", func(t *testing.T) {
		s := open(t)
		want := fullContact("inst-1", "c1")
		got := mustPut(t, s, want)
		want.Version = 1
		mustEqual(t, "Put result", got, want)
		mustEqual(t, "Get after Put", mustGet(t, s, "inst-1", "c1"), want)
	})

	t.Run("IDsAsUpstreamsWriteThemRoundTrip", func(t *testing.T) {
		// docs/contract.md, "Events in": any printable id without whitespace, as map keys
		// too (orders, subscriptions), where MongoDB gives dots and dollars a meaning.
		s := open(t)
		want := fullContact("inst-1", "crm:12345")
		for _, id := range []string{"ORD/2022/001", "ord.2022.1", "$ord", "urn:uuid:6f1c2b7e"} {
			want.Orders[id] = store.Order{ID: id, Kind: "order", Role: "buyer", Items: []store.Item{{ProductID: "ticketing:product:" + id}}}
		}
		want.Subscriptions["sub.1$x"] = store.Subscription{Status: "terminated"}
		got := mustPut(t, s, want)
		want.Version = 1
		mustEqual(t, "Put result", got, want)
		mustEqual(t, "Get after Put", mustGet(t, s, "inst-1", "crm:12345"), want)
		var scanned []string
		if err := s.Contacts().Scan(t.Context(), "inst-1", "", func(c store.Contact) error {
			scanned = append(scanned, c.ID)
			return nil
		}); err != nil || len(scanned) != 1 || scanned[0] != "crm:12345" {
			t.Fatalf("Scan = %q, %v", scanned, err)
		}
	})

	t.Run("PutGetRoundTripsMinimalContact", func(t *testing.T) {
		s := open(t)
		want := store.Contact{Institution: "inst-1", ID: "bare", Status: store.StatusActive}
		mustPut(t, s, want)
		want.Version = 1
		got := mustGet(t, s, "inst-1", "bare")
		mustEqual(t, "Get after Put", got, want)
		for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "Recency": got.Recency, "ErasedAt": got.ErasedAt, "UpdatedAt": got.UpdatedAt} {
			if !tm.IsZero() {
				t.Errorf("%s = %v, want the zero time", name, tm)
			}
		}
	})

	t.Run("PutReturnsStoredCopyWithNextVersion", func(t *testing.T) {
		s := open(t)
		c := fullContact("inst-1", "c1")
		for want := int64(1); want <= 3; want++ {
			c.Balance.Amount = want * 100
			got := mustPut(t, s, c)
			if got.Version != want {
				t.Fatalf("Put #%d returned version %d, want %d", want, got.Version, want)
			}
			mustEqual(t, "Get after Put", mustGet(t, s, "inst-1", "c1"), got)
			c = got
		}
	})

	t.Run("InsertTwiceWithVersionZeroConflicts", func(t *testing.T) {
		s := open(t)
		first := contact("inst-1", "c1", store.StatusActive, at(0))
		mustPut(t, s, first)
		second := contact("inst-1", "c1", store.StatusActive, at(5))
		if _, err := s.Contacts().Put(t.Context(), second); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second insert: err = %v, want ErrConflict", err)
		}
		got := mustGet(t, s, "inst-1", "c1")
		if got.Version != 1 || !got.Recency.Equal(at(0)) {
			t.Fatalf("losing insert changed the stored contact: version %d recency %v", got.Version, got.Recency)
		}
	})

	t.Run("StaleOrFutureVersionConflicts", func(t *testing.T) {
		s := open(t)
		v1 := mustPut(t, s, contact("inst-1", "c1", store.StatusActive, at(0)))
		v2 := mustPut(t, s, v1)
		for _, version := range []int64{0, v1.Version, v2.Version + 1, 99} {
			stale := v2
			stale.Version = version
			stale.Role = "relay"
			if _, err := s.Contacts().Put(t.Context(), stale); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("Put with version %d over stored %d: err = %v, want ErrConflict", version, v2.Version, err)
			}
		}
		mustEqual(t, "stored contact after lost races", mustGet(t, s, "inst-1", "c1"), v2)
		absent := contact("inst-1", "c2", store.StatusActive, at(0))
		absent.Version = 3
		if _, err := s.Contacts().Put(t.Context(), absent); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Put with version 3 of an absent contact: err = %v, want ErrConflict", err)
		}
		if _, err := s.Contacts().Get(t.Context(), "inst-1", "c2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("conflicting Put created the contact: err = %v", err)
		}
	})

	t.Run("ConcurrentReadFoldPutLandsEveryUpdate", func(t *testing.T) {
		s := open(t)
		const workers, increments = 8, 25
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for range increments {
					for {
						c, err := s.Contacts().Get(ctx, "inst-1", "counter")
						if errors.Is(err, store.ErrNotFound) {
							c = contact("inst-1", "counter", store.StatusActive, at(0))
						} else if err != nil {
							errs <- fmt.Errorf("worker %d Get: %w", w, err)
							return
						}
						c.Balance.Amount++
						c.Recency = at(int(c.Balance.Amount)) // moves the index entry every time
						_, err = s.Contacts().Put(ctx, c)
						if err == nil {
							break
						}
						if !errors.Is(err, store.ErrConflict) {
							errs <- fmt.Errorf("worker %d Put: %w", w, err)
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
		got := mustGet(t, s, "inst-1", "counter")
		if got.Balance.Amount != workers*increments || got.Version != workers*increments {
			t.Fatalf("after %d increments: amount %d version %d, want both %d", workers*increments, got.Balance.Amount, got.Version, workers*increments)
		}
		// Exactly one index entry survives all those moves.
		mustIDs(t, "Inactive after concurrent moves", inactive(t, s, "inst-1", store.StatusActive, at(100000)), "counter")
		mustIDs(t, "Inactive before the final recency", inactive(t, s, "inst-1", store.StatusActive, at(workers*increments)))
	})

	t.Run("PutManyWritesTheMatchingAndReportsEachConflict", func(t *testing.T) {
		s := open(t)
		old := mustPut(t, s, contact("inst-1", "old", store.StatusActive, at(10)))
		moved := old
		moved.Recency = at(50)
		stale := mustPut(t, s, contact("inst-1", "stale", store.StatusActive, at(20)))
		stale.Version = 0 // as if read before it was inserted
		got, err := s.Contacts().PutMany(t.Context(), []store.Contact{
			contact("inst-1", "new", store.StatusActive, at(5)),
			moved,
			stale,
			contact("inst-2", "new", store.StatusActive, at(7)),
		})
		if err != nil {
			t.Fatalf("PutMany: %v", err)
		}
		if len(got) != 4 {
			t.Fatalf("PutMany returned %d results, want 4", len(got))
		}
		for _, i := range []int{0, 1, 3} {
			if got[i].Err != nil {
				t.Fatalf("result %d: %v", i, got[i].Err)
			}
		}
		if !errors.Is(got[2].Err, store.ErrConflict) {
			t.Fatalf("a stale version's result: %v, want ErrConflict", got[2].Err)
		}
		if got[0].Contact.Version != 1 || got[1].Contact.Version != 2 || got[3].Contact.Version != 1 {
			t.Fatalf("versions %d %d %d, want 1 2 1", got[0].Contact.Version, got[1].Contact.Version, got[3].Contact.Version)
		}
		mustEqual(t, "the moved contact", mustGet(t, s, "inst-1", "old"), got[1].Contact)
		mustEqual(t, "the new contact", mustGet(t, s, "inst-1", "new"), got[0].Contact)
		if g := mustGet(t, s, "inst-1", "stale"); g.Version != 1 {
			t.Fatalf("the conflicting contact was written: version %d", g.Version)
		}
		// The index follows every write of the batch: old moved from 10 to 50.
		mustIDs(t, "Inactive before 30", inactive(t, s, "inst-1", store.StatusActive, at(30)), "new", "stale")
		mustIDs(t, "Inactive before 60", inactive(t, s, "inst-1", store.StatusActive, at(60)), "new", "stale", "old")
		mustIDs(t, "inst-2", inactive(t, s, "inst-2", store.StatusActive, at(60)), "new")
	})

	t.Run("ConcurrentPutManyLandsEveryUpdate", func(t *testing.T) {
		s := open(t)
		const workers, rounds, contacts = 4, 5, 8
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for range rounds {
					pending := make([]string, contacts)
					for c := range contacts {
						pending[c] = fmt.Sprintf("c%02d", (c+w)%contacts) // overlapping sets, in different orders
					}
					for len(pending) > 0 {
						batch := make([]store.Contact, len(pending))
						for i, id := range pending {
							c, err := s.Contacts().Get(ctx, "inst-1", id)
							if errors.Is(err, store.ErrNotFound) {
								c = contact("inst-1", id, store.StatusActive, at(0))
							} else if err != nil {
								errs <- err
								return
							}
							c.Balance.Amount++
							c.Recency = at(int(c.Balance.Amount))
							batch[i] = c
						}
						res, err := s.Contacts().PutMany(ctx, batch)
						if err != nil {
							errs <- err
							return
						}
						var retry []string
						for i, r := range res {
							switch {
							case errors.Is(r.Err, store.ErrConflict):
								retry = append(retry, pending[i])
							case r.Err != nil:
								errs <- r.Err
								return
							}
						}
						pending = retry
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for c := range contacts {
			got := mustGet(t, s, "inst-1", fmt.Sprintf("c%02d", c))
			if got.Balance.Amount != workers*rounds || got.Version != workers*rounds {
				t.Fatalf("c%02d: amount %d version %d, want both %d", c, got.Balance.Amount, got.Version, workers*rounds)
			}
		}
		if n := len(inactive(t, s, "inst-1", store.StatusActive, at(100000))); n != contacts {
			t.Fatalf("%d index entries after concurrent moves, want %d", n, contacts)
		}
	})

	t.Run("PrefixIDsAndInstitutionsStayDistinct", func(t *testing.T) {
		s := open(t)
		insts := []string{"i1", "i10", "i1-", "i1_", "I1"}
		for i, inst := range insts {
			for j, id := range trickyIDs {
				c := contact(inst, id, store.StatusActive, at(i*100+j))
				c.Role = inst + "/" + id
				mustPut(t, s, c)
			}
		}
		for _, inst := range insts {
			for _, id := range trickyIDs {
				if got := mustGet(t, s, inst, id); got.Role != inst+"/"+id || got.Institution != inst || got.ID != id {
					t.Fatalf("Get %s/%s returned %s/%s with role %q", inst, id, got.Institution, got.ID, got.Role)
				}
			}
			want := slices.Clone(trickyIDs)
			slices.Sort(want)
			mustIDs(t, "Scan "+inst, scan(t, s, inst, ""), want...)
			if n := len(inactive(t, s, inst, store.StatusActive, at(100000))); n != len(trickyIDs) {
				t.Fatalf("Inactive %s returned %d contacts, want %d", inst, n, len(trickyIDs))
			}
		}
	})

	t.Run("DeleteWithWrongVersionConflicts", func(t *testing.T) {
		s := open(t)
		c := mustPut(t, s, contact("inst-1", "c1", store.StatusActive, at(0)))
		c = mustPut(t, s, c)
		for _, version := range []int64{0, 1, 3} {
			if err := s.Contacts().Delete(t.Context(), "inst-1", "c1", version); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("Delete with version %d over stored %d: err = %v, want ErrConflict", version, c.Version, err)
			}
		}
		mustEqual(t, "contact after refused deletes", mustGet(t, s, "inst-1", "c1"), c)
	})

	t.Run("DeleteRemovesFromGetScanAndInactive", func(t *testing.T) {
		s := open(t)
		c1 := mustPut(t, s, contact("inst-1", "c1", store.StatusActive, at(0)))
		mustPut(t, s, contact("inst-1", "c10", store.StatusActive, at(0)))
		if err := s.Contacts().Delete(t.Context(), "inst-1", "c1", c1.Version); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Contacts().Get(t.Context(), "inst-1", "c1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
		}
		mustIDs(t, "Scan after Delete", scan(t, s, "inst-1", ""), "c10")
		mustIDs(t, "Inactive after Delete", inactive(t, s, "inst-1", store.StatusActive, at(1)), "c10")
		// The id is free again: a new insert starts from version 0.
		again := mustPut(t, s, contact("inst-1", "c1", store.StatusActive, at(0)))
		if again.Version != 1 {
			t.Fatalf("re-insert after Delete: version %d, want 1", again.Version)
		}
	})

	t.Run("DeleteIsIdempotent", func(t *testing.T) {
		s := open(t)
		if err := s.Contacts().Delete(t.Context(), "inst-1", "never", 0); err != nil {
			t.Fatalf("Delete of a never-stored contact: %v", err)
		}
		c := mustPut(t, s, contact("inst-1", "c1", store.StatusActive, at(0)))
		for i := range 2 {
			if err := s.Contacts().Delete(t.Context(), "inst-1", "c1", c.Version); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
	})

	t.Run("InactiveReturnsStatusStrictlyBeforeInRecencyIDOrder", func(t *testing.T) {
		s := open(t)
		before := at(0)
		old := ms(1969, time.July, 20, 20, 17, 40, 1) // before the Unix epoch
		far := ms(2300, time.January, 1, 0, 0, 0, 0)  // past int64 nanoseconds
		for _, c := range []store.Contact{
			contact("inst-1", "c10", store.StatusActive, at(-10)),
			contact("inst-1", "c1", store.StatusActive, at(-10)),
			contact("inst-1", "c2", store.StatusActive, at(-20)),
			contact("inst-1", "c3", store.StatusActive, old),
			contact("inst-1", "c4", store.StatusActive, before.Add(-time.Millisecond)),
			contact("inst-1", "edge", store.StatusActive, before), // not strictly before
			contact("inst-1", "later", store.StatusActive, at(1)),
			contact("inst-1", "future", store.StatusActive, far),
			contact("inst-1", "anon", store.StatusAnonymised, at(-50)),
			contact("inst-1", "gone", store.StatusDeleted, at(-60)),
		} {
			mustPut(t, s, c)
		}
		got := inactive(t, s, "inst-1", store.StatusActive, before)
		mustIDs(t, "Inactive active", got, "c3", "c2", "c1", "c10", "c4")
		mustIDs(t, "Inactive anonymised", inactive(t, s, "inst-1", store.StatusAnonymised, before), "anon")
		mustIDs(t, "Inactive deleted", inactive(t, s, "inst-1", store.StatusDeleted, before), "gone")
		mustIDs(t, "Inactive far future bound", inactive(t, s, "inst-1", store.StatusActive, far.Add(time.Millisecond)),
			"c3", "c2", "c1", "c10", "c4", "edge", "later", "future")
		mustIDs(t, "Inactive before everything", inactive(t, s, "inst-1", store.StatusActive, old))
		// fn receives the whole stored document, version included.
		mustEqual(t, "document passed to fn", got[0], mustGet(t, s, "inst-1", "c3"))
	})

	t.Run("InactiveIsolatesInstitutions", func(t *testing.T) {
		s := open(t)
		for _, inst := range []string{"i1", "i10", "i1-", "i", "I1"} {
			mustPut(t, s, contact(inst, "c-"+inst, store.StatusActive, at(-1)))
		}
		mustIDs(t, "Inactive i1", inactive(t, s, "i1", store.StatusActive, at(0)), "c-i1")
		mustIDs(t, "Inactive i", inactive(t, s, "i", store.StatusActive, at(0)), "c-i")
		mustIDs(t, "Inactive unknown institution", inactive(t, s, "i2", store.StatusActive, at(0)))
	})

	t.Run("InactiveFollowsRecencyAndStatusChanges", func(t *testing.T) {
		s := open(t)
		c := mustPut(t, s, contact("inst-1", "c1", store.StatusActive, at(-100)))
		mustPut(t, s, contact("inst-1", "c2", store.StatusActive, at(-50)))
		mustIDs(t, "before the move", inactive(t, s, "inst-1", store.StatusActive, at(0)), "c1", "c2")

		c.Recency = at(10) // newer activity: no longer inactive as of at(0)
		c = mustPut(t, s, c)
		mustIDs(t, "after recency moved forward", inactive(t, s, "inst-1", store.StatusActive, at(0)), "c2")
		mustIDs(t, "after recency moved forward, later bound", inactive(t, s, "inst-1", store.StatusActive, at(11)), "c2", "c1")

		c.Status = store.StatusAnonymised
		c = mustPut(t, s, c)
		mustIDs(t, "after status change, old status", inactive(t, s, "inst-1", store.StatusActive, at(11)), "c2")
		mustIDs(t, "after status change, new status", inactive(t, s, "inst-1", store.StatusAnonymised, at(11)), "c1")

		c.Recency = time.Time{} // a contact with no known recency is never listed
		mustPut(t, s, c)
		mustIDs(t, "after recency cleared", inactive(t, s, "inst-1", store.StatusAnonymised, at(11)))
	})

	t.Run("InactiveNeverListsUnknownRecency", func(t *testing.T) {
		// Events may arrive before the contact's creation: such a contact has no recency yet
		// and must not look inactive since the year 1.
		s := open(t)
		mustPut(t, s, store.Contact{Institution: "inst-1", ID: "early", Status: store.StatusActive})
		mustIDs(t, "Inactive", inactive(t, s, "inst-1", store.StatusActive, at(0)))
	})

	t.Run("InactiveStopsOnCallbackError", func(t *testing.T) {
		s := open(t)
		for i := range 5 {
			mustPut(t, s, contact("inst-1", fmt.Sprintf("c%d", i), store.StatusActive, at(-10+i)))
		}
		stop := errors.New("enough")
		var seen []string
		err := s.Contacts().Inactive(t.Context(), "inst-1", store.StatusActive, at(0), func(c store.Contact) error {
			seen = append(seen, c.ID)
			if len(seen) == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Fatalf("Inactive: err = %v, want the callback's error", err)
		}
		if !slices.Equal(seen, []string{"c0", "c1"}) {
			t.Fatalf("callback saw %q, want [c0 c1]", seen)
		}
	})

	t.Run("InactiveStopsOnCancelledContext", func(t *testing.T) {
		s := open(t)
		for i := range 5 {
			mustPut(t, s, contact("inst-1", fmt.Sprintf("c%d", i), store.StatusActive, at(-10+i)))
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		calls := 0
		err := s.Contacts().Inactive(ctx, "inst-1", store.StatusActive, at(0), func(store.Contact) error {
			calls++
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Fatalf("Inactive with a context cancelled in fn: err = %v after %d calls, want context.Canceled after 1", err, calls)
		}
	})

	t.Run("InactiveStreamsManyContactsInOrder", func(t *testing.T) {
		// More than one cursor batch in MongoDB (101 documents first, then 16 MiB).
		s := open(t)
		const n = 300
		var want []string
		for i := range n {
			id := fmt.Sprintf("c%03d", i)
			mustPut(t, s, contact("inst-1", id, store.StatusActive, at(-n+i/2))) // pairs share a recency
			want = append(want, id)
		}
		mustIDs(t, "Inactive over many contacts", inactive(t, s, "inst-1", store.StatusActive, at(0)), want...)
	})

	t.Run("ScanAscendingIDs", func(t *testing.T) {
		s := open(t)
		for _, id := range trickyIDs {
			mustPut(t, s, contact("inst-1", id, store.StatusActive, at(0)))
		}
		mustPut(t, s, contact("inst-10", "other", store.StatusActive, at(0)))
		mustPut(t, s, contact("inst-", "other", store.StatusActive, at(0)))
		want := slices.Clone(trickyIDs)
		slices.Sort(want)
		got := scan(t, s, "inst-1", "")
		mustIDs(t, "Scan from the start", got, want...)
		mustEqual(t, "document passed to fn", got[0], mustGet(t, s, "inst-1", got[0].ID))
		mustIDs(t, "Scan of an unknown institution", scan(t, s, "inst-2", ""))
	})

	t.Run("ScanPagesStrictlyAfterID", func(t *testing.T) {
		s := open(t)
		for _, id := range trickyIDs {
			mustPut(t, s, contact("inst-1", id, store.StatusActive, at(0)))
		}
		sorted := slices.Clone(trickyIDs)
		slices.Sort(sorted)
		for i, after := range sorted {
			mustIDs(t, "Scan after "+after, scan(t, s, "inst-1", after), sorted[i+1:]...)
		}
		// An afterID that is not stored resumes at the next id above it.
		mustIDs(t, "Scan after an absent id", scan(t, s, "inst-1", "c1b"), "c2", "z")
		mustIDs(t, "Scan after an absent prefix", scan(t, s, "inst-1", "c0"), sorted[slices.Index(sorted, "c1"):]...)
		mustIDs(t, "Scan after the last id", scan(t, s, "inst-1", "zz"))
	})

	t.Run("ScanStopsOnCallbackError", func(t *testing.T) {
		s := open(t)
		for _, id := range []string{"a", "b", "c"} {
			mustPut(t, s, contact("inst-1", id, store.StatusActive, at(0)))
		}
		stop := errors.New("enough")
		var seen []string
		err := s.Contacts().Scan(t.Context(), "inst-1", "", func(c store.Contact) error {
			seen = append(seen, c.ID)
			return stop
		})
		if !errors.Is(err, stop) || !slices.Equal(seen, []string{"a"}) {
			t.Fatalf("Scan: err = %v after %q, want the callback's error after [a]", err, seen)
		}
	})
}
