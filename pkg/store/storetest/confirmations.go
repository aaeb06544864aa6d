package storetest

import (
	"errors"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

func expectation(inst, dest, outcome, contact string, published int) store.Expectation {
	return store.Expectation{Institution: inst, Destination: dest, OutcomeID: outcome, ContactID: contact,
		Outcome: "anonymised", By: "run:r1", PublishedAt: at(published)}
}

func runConfirmations(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("ExpectGetRoundTripsAndIsIdempotent", func(t *testing.T) {
		s := open(t)
		c := s.Confirmations()
		want := expectation("inst-1", "crm-a", "out_1", "c1", 1)
		if err := c.Expect(t.Context(), []store.Expectation{want, expectation("inst-1", "crm-b", "out_1", "c1", 1)}); err != nil {
			t.Fatalf("Expect: %v", err)
		}
		got, err := c.Get(t.Context(), "inst-1", "crm-a", "out_1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		mustEqual(t, "Get after Expect", got, want)
		if _, err := c.Get(t.Context(), "inst-2", "crm-a", "out_1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of another institution's: err = %v, want ErrNotFound", err)
		}
		// A republished outcome expects again: nothing changes, a confirmation included.
		if _, err := c.Confirm(t.Context(), "inst-1", "crm-a", "out_1", at(2), "conf-1"); err != nil {
			t.Fatalf("Confirm: %v", err)
		}
		again := want
		again.PublishedAt = at(5)
		if err := c.Expect(t.Context(), []store.Expectation{again}); err != nil {
			t.Fatalf("Expect again: %v", err)
		}
		got, _ = c.Get(t.Context(), "inst-1", "crm-a", "out_1")
		if !got.Confirmed() || !got.PublishedAt.Equal(at(1)) {
			t.Fatalf("after a second Expect: %+v, want the first, confirmed", got)
		}
	})

	t.Run("ConfirmKeepsTheFirstConfirmation", func(t *testing.T) {
		s := open(t)
		c := s.Confirmations()
		if _, err := c.Confirm(t.Context(), "inst-1", "crm-a", "out_1", at(2), "conf-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Confirm with no expectation: err = %v, want ErrNotFound", err)
		}
		if err := c.Expect(t.Context(), []store.Expectation{expectation("inst-1", "crm-a", "out_1", "c1", 1)}); err != nil {
			t.Fatal(err)
		}
		got, err := c.Confirm(t.Context(), "inst-1", "crm-a", "out_1", at(2), "conf-1")
		if err != nil || !got.ConfirmedAt.Equal(at(2)) || got.ConfirmationID != "conf-1" {
			t.Fatalf("Confirm = %+v, %v", got, err)
		}
		got, err = c.Confirm(t.Context(), "inst-1", "crm-a", "out_1", at(3), "conf-2")
		if err != nil || !got.ConfirmedAt.Equal(at(2)) || got.ConfirmationID != "conf-1" {
			t.Fatalf("second Confirm = %+v, %v; want the first kept", got, err)
		}
	})

	t.Run("ForContactListsByOutcomeThenDestination", func(t *testing.T) {
		s := open(t)
		c := s.Confirmations()
		if err := c.Expect(t.Context(), []store.Expectation{
			expectation("inst-1", "crm-b", "out_2", "c1", 2), expectation("inst-1", "crm-a", "out_2", "c1", 2),
			expectation("inst-1", "crm-a", "out_1", "c1", 1), expectation("inst-1", "crm-a", "out_3", "c2", 1),
			expectation("inst-2", "crm-a", "out_4", "c1", 1),
		}); err != nil {
			t.Fatal(err)
		}
		got, err := c.ForContact(t.Context(), "inst-1", "c1")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, e := range got {
			keys = append(keys, e.OutcomeID+"/"+e.Destination)
		}
		mustEqual(t, "ForContact", keys, []string{"out_1/crm-a", "out_2/crm-a", "out_2/crm-b"})
	})

	t.Run("BacklogGrowsAndDrains", func(t *testing.T) {
		s := open(t)
		c := s.Confirmations()
		if got, err := c.Backlog(t.Context(), "inst-1"); err != nil || len(got) != 0 {
			t.Fatalf("Backlog of an empty store = %+v, %v", got, err)
		}
		for i, o := range []string{"out_1", "out_2", "out_3"} {
			if err := c.Expect(t.Context(), []store.Expectation{expectation("inst-1", "crm-a", o, "c"+o, 10-i), expectation("inst-1", "crm-b", o, "c"+o, 10-i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Expect(t.Context(), []store.Expectation{expectation("inst-2", "crm-a", "out_9", "c9", 1)}); err != nil {
			t.Fatal(err)
		}
		if err := c.RecordUnmatched(t.Context(), store.Unmatched{Institution: "inst-1", Destination: "crm-b", EventID: "e1", OutcomeID: "out_x", ContactID: "c", ConfirmedAt: at(3)}); err != nil {
			t.Fatal(err)
		}
		// Recorded twice (a redelivery): counted once.
		if err := c.RecordUnmatched(t.Context(), store.Unmatched{Institution: "inst-1", Destination: "crm-b", EventID: "e1", OutcomeID: "out_x", ContactID: "c", ConfirmedAt: at(3)}); err != nil {
			t.Fatal(err)
		}
		want := []store.Backlog{
			{Destination: "crm-a", Unconfirmed: 3, OldestUnconfirmed: at(8)},
			{Destination: "crm-b", Unconfirmed: 3, OldestUnconfirmed: at(8), Unmatched: 1},
		}
		got, err := c.Backlog(t.Context(), "inst-1")
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "Backlog after three outcomes", got, want)

		// The oldest confirmed: the next oldest is the oldest; all confirmed: none is.
		if _, err := c.Confirm(t.Context(), "inst-1", "crm-a", "out_3", at(11), "k3"); err != nil {
			t.Fatal(err)
		}
		want[0] = store.Backlog{Destination: "crm-a", Confirmed: 1, Unconfirmed: 2, OldestUnconfirmed: at(9)}
		got, _ = c.Backlog(t.Context(), "inst-1")
		mustEqual(t, "Backlog after one confirmation", got, want)
		for _, o := range []string{"out_1", "out_2"} {
			if _, err := c.Confirm(t.Context(), "inst-1", "crm-a", o, at(11), "k"+o); err != nil {
				t.Fatal(err)
			}
		}
		want[0] = store.Backlog{Destination: "crm-a", Confirmed: 3}
		got, _ = c.Backlog(t.Context(), "inst-1")
		mustEqual(t, "Backlog once crm-a confirmed all", got, want)

		// Every institution at once (the metric's view).
		all, err := c.Backlog(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		want[0] = store.Backlog{Destination: "crm-a", Confirmed: 3, Unconfirmed: 1, OldestUnconfirmed: at(1)}
		mustEqual(t, "Backlog of every institution", all, want)
	})
}
