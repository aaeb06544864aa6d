package storetest

import (
	"cmp"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

func item(inst, run, contactID string) store.RunItem {
	return store.RunItem{
		Institution:   inst,
		RunID:         run,
		ContactID:     contactID,
		Outcome:       store.OutcomeSkip,
		Reason:        "debt",
		Role:          "individual",
		Customer:      true,
		Recency:       at(-1200),
		RecencySource: store.Source{EventID: "evt-" + contactID, Type: "lethe.order.v1", At: at(-1201)},
		Result:        "skipped:debt",
		ResultAt:      at(1),
	}
}

func itemContacts(items []store.RunItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ContactID
	}
	return out
}

func runRunItems(t *testing.T, open func(t *testing.T) store.Store) {
	page := func(t *testing.T, s store.Store, inst, run, after string, limit int) []store.RunItem {
		t.Helper()
		items, err := s.RunItems().Page(t.Context(), inst, run, after, limit)
		if err != nil {
			t.Fatalf("Page %s/%s after %q limit %d: %v", inst, run, after, limit, err)
		}
		return items
	}
	put := func(t *testing.T, s store.Store, items ...store.RunItem) {
		t.Helper()
		if err := s.RunItems().Put(t.Context(), items); err != nil {
			t.Fatalf("Put %d items: %v", len(items), err)
		}
	}

	t.Run("PutPageRoundTripsEveryField", func(t *testing.T) {
		s := open(t)
		want := item("inst-1", "r1", "c1")
		put(t, s, want)
		got := page(t, s, "inst-1", "r1", "", 10)
		if len(got) != 1 {
			t.Fatalf("Page returned %d items, want 1", len(got))
		}
		mustEqual(t, "Page after Put", got[0], want)
		minimal := store.RunItem{Institution: "inst-1", RunID: "r1", ContactID: "c2", Outcome: store.OutcomeDelete, Recency: at(-5)}
		put(t, s, minimal)
		got = page(t, s, "inst-1", "r1", "c1", 10)
		if len(got) != 1 {
			t.Fatalf("Page returned %d items, want 1", len(got))
		}
		mustEqual(t, "minimal item", got[0], minimal)
	})

	t.Run("PutIsIdempotentUpsert", func(t *testing.T) {
		s := open(t)
		planned := item("inst-1", "r1", "c1")
		planned.Result, planned.ResultAt = "", time.Time{}
		put(t, s, planned, item("inst-1", "r1", "c2"))
		put(t, s, planned) // redelivered
		done := planned
		done.Result, done.ResultAt = "anonymised", at(3)
		put(t, s, done)
		got := page(t, s, "inst-1", "r1", "", 10)
		if cs := itemContacts(got); !slices.Equal(cs, []string{"c1", "c2"}) {
			t.Fatalf("Page after upserts = %q, want [c1 c2]", cs)
		}
		mustEqual(t, "upserted item", got[0], done)
		if err := s.RunItems().Put(t.Context(), nil); err != nil {
			t.Fatalf("Put of no items: %v", err)
		}
	})

	t.Run("PageOrdersByContactAndPagesStrictlyAfter", func(t *testing.T) {
		s := open(t)
		var items []store.RunItem
		for _, id := range trickyIDs {
			items = append(items, item("inst-1", "r1", id))
		}
		put(t, s, items...)
		want := slices.Clone(trickyIDs)
		slices.Sort(want)
		if got := itemContacts(page(t, s, "inst-1", "r1", "", 100)); !slices.Equal(got, want) {
			t.Fatalf("one page = %q, want %q", got, want)
		}
		var walked []string
		after := ""
		for range len(want) {
			p := page(t, s, "inst-1", "r1", after, 3)
			if len(p) == 0 {
				break
			}
			if len(p) > 3 {
				t.Fatalf("page of limit 3 returned %d items", len(p))
			}
			walked = append(walked, itemContacts(p)...)
			after = p[len(p)-1].ContactID
		}
		if !slices.Equal(walked, want) {
			t.Fatalf("pages of 3 walked %q, want %q", walked, want)
		}
		if got := itemContacts(page(t, s, "inst-1", "r1", "c1b", 100)); !slices.Equal(got, []string{"c2", "z"}) {
			t.Fatalf("page after an absent id = %q, want [c2 z]", got)
		}
	})

	t.Run("PageIsolatesRunsAndInstitutions", func(t *testing.T) {
		s := open(t)
		put(t, s, item("i1", "r1", "a"), item("i1", "r10", "b"), item("i1", "r1-", "c"), item("i10", "r1", "d"), item("i1", "r", "e"))
		for _, tc := range []struct{ inst, run, want string }{
			{"i1", "r1", "a"}, {"i1", "r10", "b"}, {"i1", "r1-", "c"}, {"i10", "r1", "d"}, {"i1", "r", "e"},
		} {
			if got := itemContacts(page(t, s, tc.inst, tc.run, "", 10)); !slices.Equal(got, []string{tc.want}) {
				t.Fatalf("Page %s/%s = %q, want [%s]", tc.inst, tc.run, got, tc.want)
			}
		}
		if got := page(t, s, "i1", "r2", "", 10); len(got) != 0 {
			t.Fatalf("Page of an unknown run = %q, want none", itemContacts(got))
		}
	})

	t.Run("ForContactAcrossRuns", func(t *testing.T) {
		s := open(t)
		put(t, s, item("i1", "r1", "c1"), item("i1", "r1", "c10"), item("i1", "r1", "c1-"))
		put(t, s, item("i1", "r2", "c1"), item("i1", "r10", "c1"), item("i10", "r1", "c1"))
		got, err := s.RunItems().ForContact(t.Context(), "i1", "c1")
		if err != nil {
			t.Fatalf("ForContact: %v", err)
		}
		slices.SortFunc(got, func(a, b store.RunItem) int { return cmp.Compare(a.RunID, b.RunID) })
		var runs []string
		for _, it := range got {
			if it.ContactID != "c1" || it.Institution != "i1" {
				t.Fatalf("ForContact i1/c1 returned an item of %s/%s", it.Institution, it.ContactID)
			}
			runs = append(runs, it.RunID)
		}
		if !slices.Equal(runs, []string{"r1", "r10", "r2"}) {
			t.Fatalf("ForContact runs = %q, want [r1 r10 r2]", runs)
		}
		mustEqual(t, "item from ForContact", got[0], item("i1", "r1", "c1"))
		none, err := s.RunItems().ForContact(t.Context(), "i1", "nobody")
		if err != nil || len(none) != 0 {
			t.Fatalf("ForContact of an unknown contact = %d items, %v; want none", len(none), err)
		}
	})

	t.Run("GetReadsOneRunsItemOfAContact", func(t *testing.T) {
		s := open(t)
		put(t, s, item("i1", "r1", "c1"), item("i1", "r1", "c10"), item("i1", "r10", "c1"), item("i10", "r1", "c1"))
		marked := item("i1", "r2", "c1")
		marked.Outcome, marked.Reason, marked.Result = store.OutcomeDelete, "", ""
		put(t, s, marked)
		got, err := s.RunItems().Get(t.Context(), "i1", "r2", "c1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		mustEqual(t, "Get", got, marked)
		marked.Result, marked.ResultAt = "deleted", at(2)
		put(t, s, marked) // the anonymiser marks it done: Get sees the upsert
		if got, err = s.RunItems().Get(t.Context(), "i1", "r2", "c1"); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "Get after the mark", got, marked)
		for _, k := range [][3]string{{"i1", "r2", "c10"}, {"i1", "r", "c1"}, {"i", "r1", "c1"}, {"i1", "r1", "c"}} {
			if _, err := s.RunItems().Get(t.Context(), k[0], k[1], k[2]); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Get %v: err = %v, want ErrNotFound", k, err)
			}
		}
	})

	t.Run("PageOfUnknownRunIsEmptyNotAnError", func(t *testing.T) {
		s := open(t)
		got, err := s.RunItems().Page(t.Context(), "i1", "nope", "", 10)
		if err != nil || len(got) != 0 || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Page = %d items, %v; want none and no error", len(got), err)
		}
	})
}
