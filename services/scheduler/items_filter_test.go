package scheduler_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// testFilteredItems: the items' outcome and reason filters keep exactly the report's items
// with that outcome or reason, in JSON pages of any size and in the CSV export; a bad filter
// is a 400 pointing at it.
func testFilteredItems(t *testing.T, open func(t *testing.T) store.Store) {
	h := newHarness(t, open)
	f := newFixture()
	f.load(t, h.store)
	run := h.startRun(t, tokAdmin, "{}", http.StatusCreated)
	path := "/v1/institutions/" + inst + "/runs/" + run.ID + "/items"

	filters := []url.Values{{"outcome": {store.OutcomeSkip}}, {"outcome": {store.OutcomeDelete}}, {"outcome": {store.OutcomeAnonymise}}}
	reasons := map[string]bool{}
	for _, p := range f.expected {
		if p.reason != "" && !reasons[p.reason] {
			reasons[p.reason] = true
			filters = append(filters, url.Values{"outcome": {store.OutcomeSkip}, "reason": {p.reason}}, url.Values{"reason": {p.reason}})
		}
	}
	if len(reasons) < 2 {
		t.Fatalf("the fixture skips for %d reasons: the filter proves little", len(reasons))
	}
	for _, q := range filters {
		want := map[string]planned{}
		for id, p := range f.expected {
			if (q.Get("outcome") == "" || p.outcome == q.Get("outcome")) && (q.Get("reason") == "" || p.reason == q.Get("reason")) {
				want[id] = p
			}
		}
		for _, limit := range []int{1, 1000} {
			got := map[string]planned{}
			after := ""
			for range 1000 {
				page := url.Values{"limit": {fmt.Sprint(limit)}}
				for k, v := range q {
					page[k] = v
				}
				if after != "" {
					page.Set("after", after)
				}
				res := h.do(t, http.MethodGet, path+"?"+page.Encode(), tokRead, "", "application/json")
				var p api.ItemsPage
				res.json(t, &p)
				for _, it := range p.Items {
					got[it.ContactID] = planned{it.Outcome, it.Reason}
				}
				if after = p.Next; after == "" {
					break
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s, pages of %d: %v, want %v", q.Encode(), limit, got, want)
			}
		}
		res := h.do(t, http.MethodGet, path+"?"+q.Encode(), tokRead, "", "text/csv")
		rows, err := csv.NewReader(strings.NewReader(string(res.body))).ReadAll()
		if err != nil || len(rows)-1 != len(want) {
			t.Errorf("%s as CSV: %d rows (%v), want %d", q.Encode(), len(rows)-1, err, len(want))
		}
	}
	for _, bad := range []string{"outcome=erase", "outcome=", "reason=", "outcome=skip&outcome=delete"} {
		res := h.do(t, http.MethodGet, path+"?"+bad, tokRead, "", "application/json")
		if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), `"pointer":"/`) {
			t.Errorf("items?%s = %d %s, want 400 pointing at the parameter", bad, res.status, res.body)
		}
	}
}
