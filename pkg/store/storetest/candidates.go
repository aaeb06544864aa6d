package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

func candidates(t *testing.T, s store.Store, inst string, status store.Status, before time.Time) []store.Candidate {
	t.Helper()
	var out []store.Candidate
	err := s.Contacts().Candidates(t.Context(), inst, status, before, func(c store.Candidate) error {
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatalf("Candidates %s %s: %v", inst, status, err)
	}
	return out
}

// mustCandidatesOfInactive checks that Candidates lists exactly Inactive's contacts, in its
// order, each as store.CandidateOf of the stored contact: the index can never decide
// differently from the document.
func mustCandidatesOfInactive(t *testing.T, what string, s store.Store, inst string, status store.Status, before time.Time) []store.Candidate {
	t.Helper()
	var want []store.Candidate
	for _, c := range inactive(t, s, inst, status, before) {
		want = append(want, store.CandidateOf(c))
	}
	got := candidates(t, s, inst, status, before)
	mustEqual(t, what, got, want)
	return got
}

func runCandidates(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CandidatesAreTheInactiveContactsDecisionFields", func(t *testing.T) {
		s := open(t)
		full := fullContact("inst-1", "full") // debt, a live and a terminated subscription, a hold
		mustPut(t, s, full)
		prospect := contact("inst-1", "prospect", store.StatusActive, at(-20))
		prospect.Created, prospect.Role = true, "relay"
		prospect.Subscriptions = map[string]store.Subscription{
			"s1": {Status: "terminated"}, "s2": {Status: "initialized"}, "s3": {Status: "terminated"},
		}
		mustPut(t, s, prospect)
		credit := contact("inst-1", "credit", store.StatusActive, at(-10))
		credit.Created, credit.Customer, credit.Balance = true, true, store.Balance{Amount: 300, Currency: "EUR"}
		mustPut(t, s, credit)
		mustPut(t, s, contact("inst-1", "not-created", store.StatusActive, at(-5)))
		mustPut(t, s, contact("inst-1", "anon", store.StatusAnonymised, at(-50)))
		mustPut(t, s, contact("inst-1", "recent", store.StatusActive, at(5)))

		got := mustCandidatesOfInactive(t, "active before at(0)", s, "inst-1", store.StatusActive, at(0))
		if ids := candidateIDs(got); !slices.Equal(ids, []string{"full", "prospect", "credit", "not-created"}) {
			t.Fatalf("Candidates ids = %q", ids)
		}
		// What a decision reads, spelled out, so that a wrong CandidateOf fails too.
		mustEqual(t, "candidate of the full contact", got[0], store.Candidate{
			ID: "full", Status: store.StatusActive, Created: true, Role: "individual",
			Recency: full.Recency, RecencySource: full.RecencySource, Customer: true,
			Balance: -1250, LegalHold: true, Subscriptions: []string{"active", "terminated"},
		})
		mustEqual(t, "subscription statuses once each, sorted", got[1].Subscriptions, []string{"initialized", "terminated"})
		mustEqual(t, "credit", got[2].Balance, int64(300))
		mustCandidatesOfInactive(t, "anonymised", s, "inst-1", store.StatusAnonymised, at(0))
		mustCandidatesOfInactive(t, "unknown institution", s, "inst-2", store.StatusActive, at(0))
	})

	t.Run("CandidatesFollowBlockersThatChangeWithoutRecency", func(t *testing.T) {
		// A payment or a legal hold changes what a run decides but not the contact's place
		// in the index: the entry must follow anyway.
		s := open(t)
		c := contact("inst-1", "c1", store.StatusActive, at(-100))
		c.Created = true
		c = mustPut(t, s, c)
		c.Balance = store.Balance{Amount: -40, Currency: "EUR"}
		c = mustPut(t, s, c)
		if got := mustCandidatesOfInactive(t, "after a debt", s, "inst-1", store.StatusActive, at(0)); got[0].Balance != -40 {
			t.Fatalf("candidate balance = %d after a debt, want -40", got[0].Balance)
		}
		c.Balance, c.LegalHold = store.Balance{}, store.LegalHold{Held: true}
		c.Subscriptions = map[string]store.Subscription{"s": {Status: "active"}}
		c = mustPut(t, s, c)
		if got := mustCandidatesOfInactive(t, "after a hold", s, "inst-1", store.StatusActive, at(0)); !got[0].LegalHold || got[0].Balance != 0 || len(got[0].Subscriptions) != 1 {
			t.Fatalf("candidate after a hold and a subscription = %+v", got[0])
		}
		c.Recency = at(-50)
		c = mustPut(t, s, c)
		if got := mustCandidatesOfInactive(t, "after recency moved", s, "inst-1", store.StatusActive, at(0)); len(got) != 1 || !got[0].Recency.Equal(at(-50)) {
			t.Fatalf("candidates after recency moved = %+v, want one at at(-50)", got)
		}
		c.Status = store.StatusDeleted
		c = mustPut(t, s, c)
		mustCandidatesOfInactive(t, "after status change, old status", s, "inst-1", store.StatusActive, at(0))
		mustCandidatesOfInactive(t, "after status change, new status", s, "inst-1", store.StatusDeleted, at(0))
		if err := s.Contacts().Delete(t.Context(), "inst-1", "c1", c.Version); err != nil {
			t.Fatal(err)
		}
		if got := candidates(t, s, "inst-1", store.StatusDeleted, at(0)); len(got) != 0 {
			t.Fatalf("candidates after Delete = %+v", got)
		}
	})

	t.Run("CandidatesFromPutManyEqualThoseFromPuts", func(t *testing.T) {
		one, many := open(t), open(t)
		var batch []store.Contact
		for i := range 50 {
			c := contact("inst-1", fmt.Sprintf("c%02d", i), store.StatusActive, at(-100+i/3))
			c.Created, c.Customer, c.Balance.Amount = true, i%2 == 0, int64(i%5-2)
			mustPut(t, one, c)
			batch = append(batch, c)
		}
		if _, err := many.Contacts().PutMany(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "PutMany vs Put", candidates(t, many, "inst-1", store.StatusActive, at(0)),
			candidates(t, one, "inst-1", store.StatusActive, at(0)))
	})

	t.Run("CandidatesStopOnCallbackErrorAndCancelledContext", func(t *testing.T) {
		s := open(t)
		for i := range 5 {
			mustPut(t, s, contact("inst-1", fmt.Sprintf("c%d", i), store.StatusActive, at(-10+i)))
		}
		stop := errors.New("enough")
		calls := 0
		err := s.Contacts().Candidates(t.Context(), "inst-1", store.StatusActive, at(0), func(store.Candidate) error {
			if calls++; calls == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 2 {
			t.Fatalf("Candidates: err = %v after %d calls, want the callback's error after 2", err, calls)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		calls = 0
		err = s.Contacts().Candidates(ctx, "inst-1", store.StatusActive, at(0), func(store.Candidate) error {
			calls++
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Fatalf("Candidates with a context cancelled in fn: err = %v after %d calls, want context.Canceled after 1", err, calls)
		}
	})

	t.Run("CandidatesStreamManyInOrder", func(t *testing.T) {
		s := open(t)
		for i := range 300 {
			mustPut(t, s, contact("inst-1", fmt.Sprintf("c%03d", i), store.StatusActive, at(-300+i/2)))
		}
		if got := mustCandidatesOfInactive(t, "many", s, "inst-1", store.StatusActive, at(0)); len(got) != 300 {
			t.Fatalf("Candidates listed %d, want 300", len(got))
		}
	})
}

func candidateIDs(cs []store.Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}
