package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

func fullRun(inst, id string, created int) store.Run {
	return store.Run{
		ID:               id,
		Institution:      inst,
		Mode:             store.ModeSimulation,
		AsOf:             at(created),
		InactivityMonths: 36,
		Trigger:          "schedule",
		SourceRun:        "sim-0",
		RequestedBy:      "token:ops",
		State:            store.RunPlanned,
		Error:            "none",
		Counts:           map[string]int{store.OutcomeDelete: 3, store.OutcomeAnonymise: 2, store.OutcomeSkip: 1},
		Reasons:          map[string]int{"debt": 1},
		Forecast:         true,
		Planned:          map[string]int{store.OutcomeDelete: 4, store.OutcomeAnonymise: 2},
		PlannedReasons:   map[string]int{"legal_hold": 2},
		Queued:           true,
		Results:          5,
		Cursor:           "c10",
		CreatedAt:        at(created),
		UpdatedAt:        at(created + 1),
		FinishedAt:       at(created + 2),
	}
}

func runIDs(rs []store.Run) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func runRuns(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("GetAbsentIsNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.Runs().Get(t.Context(), "inst-1", "r1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get absent run: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("CreateGetRoundTripsEveryFieldAtVersionOne", func(t *testing.T) {
		s := open(t)
		want := fullRun("inst-1", "r1", 0)
		if err := s.Runs().Create(t.Context(), want); err != nil {
			t.Fatalf("Create: %v", err)
		}
		got, err := s.Runs().Get(t.Context(), "inst-1", "r1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		want.Version = 1 // like Contacts.Put from version 0: the first stored version is 1
		mustEqual(t, "Get after Create", got, want)
	})

	t.Run("CreateTakenIDIsErrExists", func(t *testing.T) {
		s := open(t)
		first := fullRun("inst-1", "r1", 0)
		if err := s.Runs().Create(t.Context(), first); err != nil {
			t.Fatalf("Create: %v", err)
		}
		second := fullRun("inst-1", "r1", 5)
		second.Mode = store.ModeExecute
		if err := s.Runs().Create(t.Context(), second); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second Create: err = %v, want ErrExists", err)
		}
		got, _ := s.Runs().Get(t.Context(), "inst-1", "r1")
		if got.Mode != store.ModeSimulation {
			t.Fatalf("losing Create overwrote the run: mode %q", got.Mode)
		}
		// The same id in other institutions, and prefix ids, are different runs.
		for _, k := range [][2]string{{"inst-10", "r1"}, {"inst-1", "r10"}, {"inst-1", "r1-"}} {
			if err := s.Runs().Create(t.Context(), fullRun(k[0], k[1], 0)); err != nil {
				t.Fatalf("Create %s/%s: %v", k[0], k[1], err)
			}
		}
	})

	t.Run("RacingCreatesElectOneWinner", func(t *testing.T) {
		s := open(t)
		const racers = 8
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				r := fullRun("inst-1", "sched-2024-03-14", 0)
				r.RequestedBy = fmt.Sprintf("scheduler-%d", i)
				errs[i] = s.Runs().Create(t.Context(), r)
			})
		}
		wg.Wait()
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
			case !errors.Is(err, store.ErrExists):
				t.Fatalf("racer %d: %v", i, err)
			}
		}
		if winners != 1 {
			t.Fatalf("%d racers created the run, want exactly 1", winners)
		}
	})

	t.Run("UpdateIsCompareAndSwap", func(t *testing.T) {
		s := open(t)
		if err := s.Runs().Create(t.Context(), fullRun("inst-1", "r1", 0)); err != nil {
			t.Fatalf("Create: %v", err)
		}
		r, err := s.Runs().Get(t.Context(), "inst-1", "r1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		r.State = store.RunCompleted
		r.Cursor = "c999"
		r.Counts = map[string]int{store.OutcomeDelete: 10}
		updated, err := s.Runs().Update(t.Context(), r)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		want := r
		want.Version = r.Version + 1
		mustEqual(t, "Update result", updated, want)
		got, _ := s.Runs().Get(t.Context(), "inst-1", "r1")
		mustEqual(t, "Get after Update", got, want)

		stale := r // still at the old version
		stale.State = store.RunFailed
		if _, err := s.Runs().Update(t.Context(), stale); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale Update: err = %v, want ErrConflict", err)
		}
		got, _ = s.Runs().Get(t.Context(), "inst-1", "r1")
		mustEqual(t, "Get after refused Update", got, want)

		absent := fullRun("inst-1", "nope", 0)
		absent.Version = 1
		if _, err := s.Runs().Update(t.Context(), absent); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Update of an absent run: err = %v, want ErrConflict", err)
		}
		if _, err := s.Runs().Get(t.Context(), "inst-1", "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("refused Update created the run: err = %v", err)
		}
	})

	t.Run("ListNewestFirstWithLimit", func(t *testing.T) {
		s := open(t)
		// Created out of order, ids unrelated to age.
		for _, r := range []store.Run{
			fullRun("i1", "r-b", 2), fullRun("i1", "r-a", 5), fullRun("i1", "r-d", -3),
			fullRun("i1", "r-c", 4), fullRun("i10", "r-x", 9), fullRun("i", "r-y", 10),
		} {
			if err := s.Runs().Create(t.Context(), r); err != nil {
				t.Fatalf("Create %s: %v", r.ID, err)
			}
		}
		list := func(inst string, limit int) []store.Run {
			t.Helper()
			rs, err := s.Runs().List(t.Context(), inst, limit)
			if err != nil {
				t.Fatalf("List %s %d: %v", inst, limit, err)
			}
			return rs
		}
		all := list("i1", 0)
		if got, want := runIDs(all), []string{"r-a", "r-c", "r-b", "r-d"}; !slices.Equal(got, want) {
			t.Fatalf("List all = %q, want %q", got, want)
		}
		stored, _ := s.Runs().Get(t.Context(), "i1", "r-a")
		mustEqual(t, "listed run", all[0], stored)
		if got, want := runIDs(list("i1", 2)), []string{"r-a", "r-c"}; !slices.Equal(got, want) {
			t.Fatalf("List limit 2 = %q, want %q", got, want)
		}
		if got := runIDs(list("i1", 10)); len(got) != 4 {
			t.Fatalf("List limit 10 = %q, want all 4", got)
		}
		// An update keeps the run in its place.
		r, _ := s.Runs().Get(t.Context(), "i1", "r-d")
		r.State = store.RunCompleted
		if _, err := s.Runs().Update(t.Context(), r); err != nil {
			t.Fatalf("Update: %v", err)
		}
		if got, want := runIDs(list("i1", 0)), []string{"r-a", "r-c", "r-b", "r-d"}; !slices.Equal(got, want) {
			t.Fatalf("List after Update = %q, want %q", got, want)
		}
		if got := list("nobody", 0); len(got) != 0 {
			t.Fatalf("List of an unknown institution = %q, want none", runIDs(got))
		}
	})

	t.Run("UnfinishedAcrossInstitutions", func(t *testing.T) {
		s := open(t)
		states := map[string]string{"r-pending": store.RunPending, "r-planning": store.RunPlanning, "r-executing": store.RunExecuting,
			"r-legacy": store.RunPublishing, "r-planned": store.RunPlanned, "r-completed": store.RunCompleted, "r-failed": store.RunFailed}
		i := 0
		for id, state := range states {
			r := fullRun([]string{"inst-a", "inst-b", "inst-c"}[i%3], id, i)
			r.State = state
			if err := s.Runs().Create(t.Context(), r); err != nil {
				t.Fatalf("Create %s: %v", id, err)
			}
			i++
		}
		got, err := s.Runs().Unfinished(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ids := runIDs(got)
		slices.Sort(ids)
		if want := []string{"r-executing", "r-legacy", "r-pending", "r-planning"}; !slices.Equal(ids, want) {
			t.Fatalf("Unfinished = %q, want %q", ids, want)
		}
	})
}
