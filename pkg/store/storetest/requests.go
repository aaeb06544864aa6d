package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

func fullRequest(id string) store.Request {
	return store.Request{
		ID:           id,
		Institution:  "inst-1",
		ContactID:    "c1",
		Kind:         store.KindErasure,
		Origin:       store.OriginAPI,
		RequestedBy:  "token:dpo",
		State:        store.RequestCompleted,
		Outcome:      "anonymised",
		Reason:       "none",
		ErasedFields: []string{"profile.email", "profile.last_name"},
		Error:        "none",
		Blocker:      "debt",
		Attempt:      2,
		SealedReason: "sealed:v1:abc",
		Actions:      []store.RequestAction{{At: at(2), By: "token:dpo", Action: store.RequestExtended, DueAt: at(5)}},
		DueAt:        at(4),
		CreatedAt:    at(1),
		UpdatedAt:    at(2),
		CompletedAt:  at(3),
	}
}

func runRequests(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("GetAbsentIsNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.Requests().Get(t.Context(), "req-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get absent request: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("CreateGetRoundTripsEveryFieldAtVersionOne", func(t *testing.T) {
		s := open(t)
		want := fullRequest("req-1")
		want.Version = 7 // ignored: a created request is at version 1
		if err := s.Requests().Create(t.Context(), want); err != nil {
			t.Fatalf("Create: %v", err)
		}
		got, err := s.Requests().Get(t.Context(), "req-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		want.Version = 1
		mustEqual(t, "Get after Create", got, want)
	})

	t.Run("CreateTwiceIsErrExistsAndKeepsTheFirst", func(t *testing.T) {
		s := open(t)
		first := fullRequest("req-1")
		if err := s.Requests().Create(t.Context(), first); err != nil {
			t.Fatalf("Create: %v", err)
		}
		second := fullRequest("req-1")
		second.ContactID = "c2"
		if err := s.Requests().Create(t.Context(), second); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second Create: err = %v, want ErrExists", err)
		}
		got, err := s.Requests().Get(t.Context(), "req-1")
		if err != nil || got.ContactID != "c1" {
			t.Fatalf("Get = %+v, %v; want the first request", got, err)
		}
	})

	t.Run("UpdateIsCompareAndSwap", func(t *testing.T) {
		s := open(t)
		r := fullRequest("req-1")
		r.State, r.Outcome = store.RequestInProgress, ""
		if err := s.Requests().Create(t.Context(), r); err != nil {
			t.Fatalf("Create: %v", err)
		}
		r.Version = 1
		r.State, r.Outcome = store.RequestCompleted, "deleted"
		got, err := s.Requests().Update(t.Context(), r)
		if err != nil {
			t.Fatalf("Update at version 1: %v", err)
		}
		if got.Version != 2 {
			t.Fatalf("Update returned version %d, want 2", got.Version)
		}
		stale := r // still at version 1
		stale.Outcome = "anonymised"
		if _, err := s.Requests().Update(t.Context(), stale); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale Update: err = %v, want ErrConflict", err)
		}
		read, err := s.Requests().Get(t.Context(), "req-1")
		if err != nil || read.Outcome != "deleted" || read.Version != 2 {
			t.Fatalf("Get = %+v, %v; want the first update at version 2", read, err)
		}
		absent := fullRequest("req-absent")
		absent.Version = 1
		if _, err := s.Requests().Update(t.Context(), absent); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Update of an absent request: err = %v, want ErrConflict", err)
		}
	})

	t.Run("PendingStoredBeforeTheLegalClockReadsAsInProgress", func(t *testing.T) {
		s := open(t)
		old := fullRequest("req-old")
		old.State, old.Kind = store.RequestPending, ""
		if err := s.Requests().Create(t.Context(), old); err != nil {
			t.Fatalf("Create: %v", err)
		}
		got, err := s.Requests().Get(t.Context(), "req-old")
		if err != nil || got.State != store.RequestInProgress || got.Kind != store.KindErasure {
			t.Fatalf("Get = state %q kind %q, %v; want in_progress, erasure", got.State, got.Kind, err)
		}
		listed, err := s.Requests().List(t.Context(), store.RequestFilter{Institution: "inst-1", States: []string{store.RequestInProgress}})
		if err != nil || len(listed) != 1 || listed[0].ID != "req-old" {
			t.Fatalf("List in_progress = %+v, %v; want the old pending request", listed, err)
		}
	})

	t.Run("ListFiltersByInstitutionStateContactAndKindOrderedByDue", func(t *testing.T) {
		s := open(t)
		mk := func(id, inst, contact, kind, state string, due time.Time) {
			r := fullRequest(id)
			r.Institution, r.ContactID, r.Kind, r.State, r.DueAt = inst, contact, kind, state, due
			if err := s.Requests().Create(t.Context(), r); err != nil {
				t.Fatalf("Create %s: %v", id, err)
			}
		}
		mk("r-late", "inst-1", "c1", store.KindErasure, store.RequestBlocked, at(30))
		mk("r-early", "inst-1", "c2", store.KindErasure, store.RequestInProgress, at(10))
		mk("r-mid", "inst-1", "c1", store.KindAccess, store.RequestReceived, at(20))
		mk("r-done", "inst-1", "c3", store.KindErasure, store.RequestCompleted, at(5))
		mk("r-other", "inst-2", "c1", store.KindErasure, store.RequestBlocked, at(1))
		ids := func(f store.RequestFilter) []string {
			rs, err := s.Requests().List(t.Context(), f)
			if err != nil {
				t.Fatalf("List %+v: %v", f, err)
			}
			out := []string{}
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		mustEqual(t, "every request of inst-1, by due", ids(store.RequestFilter{Institution: "inst-1"}), []string{"r-done", "r-early", "r-mid", "r-late"})
		mustEqual(t, "open ones", ids(store.RequestFilter{Institution: "inst-1", States: store.OpenStates}), []string{"r-early", "r-mid", "r-late"})
		mustEqual(t, "blocked, every institution", ids(store.RequestFilter{States: []string{store.RequestBlocked}}), []string{"r-other", "r-late"})
		mustEqual(t, "access requests of c1", ids(store.RequestFilter{Institution: "inst-1", ContactID: "c1", Kind: store.KindAccess}), []string{"r-mid"})
		mustEqual(t, "none in inst-3", ids(store.RequestFilter{Institution: "inst-3"}), []string{})
	})

	t.Run("ConcurrentUpdatesOneWinsPerVersion", func(t *testing.T) {
		s := open(t)
		if err := s.Requests().Create(t.Context(), fullRequest("req-1")); err != nil {
			t.Fatalf("Create: %v", err)
		}
		const n = 8
		var wg sync.WaitGroup
		wins := make(chan int, n)
		for i := range n {
			wg.Go(func() {
				r := fullRequest("req-1")
				r.Version = 1
				r.Reason = string(rune('a' + i))
				if _, err := s.Requests().Update(t.Context(), r); err == nil {
					wins <- i
				} else if !errors.Is(err, store.ErrConflict) {
					t.Errorf("Update: %v", err)
				}
			})
		}
		wg.Wait()
		close(wins)
		if len(wins) != 1 {
			t.Fatalf("%d updates from version 1 succeeded, want exactly 1", len(wins))
		}
	})
}
