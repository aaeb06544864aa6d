package recency_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
)

// The overview's counts are the runs' and the renewal list's own rules: who a run now would
// erase or skip (by blocker), who crosses within 1, 3 and 6 months and who of them the
// renewal list reaches, the statuses, and a histogram whose bars add up to the contacts in
// scope, hatched (inactive) exactly before the threshold.
func TestSummaryCountsWhatRunsAndTheRenewalListWouldSee(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newAPIStack(t, st)
		now := time.Now().UTC().Truncate(time.Second)
		threshold := retention.AddMonths(now, -months)
		old := threshold.AddDate(-1, 0, 0)
		var all []event.Event
		add := func(id string, at time.Time, more ...events.Data) {
			all = append(all, ev(t, id, created(at, events.Profile{Email: events.String(id + "@example.org")})))
			for _, d := range more {
				all = append(all, ev(t, id, d))
			}
		}
		add("s-overdue-1", old)
		add("s-overdue-2", old.AddDate(0, -2, 0))
		add("s-debt", old, &events.BalanceChanged{Balance: -100, Currency: "EUR", At: old})
		add("s-hold", old, &events.LegalHoldChanged{Held: true, Reason: "a case", At: old})
		add("s-soon", threshold.AddDate(0, 0, 20))                                                                               // crosses within 1 month
		add("s-refused", threshold.AddDate(0, 0, 50), consent(threshold.AddDate(0, 0, 1), map[string]string{"marketing": "no"})) // within 3, unreachable
		add("s-later", threshold.AddDate(0, 5, 0))                                                                               // within 6
		add("s-fresh", now.AddDate(0, -1, 0))
		add("s-anon", old)
		all = append(all, ev(t, "s-struct", &events.ContactCreated{Role: events.RoleStructure, CreatedAt: old}))
		s.send(all...)
		s.mark("s-anon", func(c *store.Contact) { c.Status = store.StatusAnonymised })

		var v api.SummaryView
		if code := s.getJSON(tokenRead, "/v1/institutions/"+instA+"/summary?bucket=quarter", &v); code != http.StatusOK {
			t.Fatalf("summary = %d", code)
		}
		if v.Statuses["active"] != 9 || v.Statuses["anonymised"] != 1 || v.InScope != 8 {
			t.Errorf("statuses %v, in scope %d; want 9 active (8 in scope), 1 anonymised", v.Statuses, v.InScope)
		}
		if v.Overdue != 2 || v.OverdueBlocked["debt"] != 1 || v.OverdueBlocked["legal_hold"] != 1 || len(v.OverdueBlocked) != 2 {
			t.Errorf("overdue %d, blocked %v; want 2, debt 1 and legal_hold 1", v.Overdue, v.OverdueBlocked)
		}
		want := []api.CrossingCount{{Within: "P1M", Months: 1, Count: 1, Reachable: 1}, {Within: "P3M", Months: 3, Count: 2, Reachable: 1},
			{Within: "P6M", Months: 6, Count: 3, Reachable: 2}}
		for i, w := range want {
			if i >= len(v.Crossing) || v.Crossing[i] != w {
				t.Errorf("crossing = %+v, want %+v", v.Crossing, want)
				break
			}
		}
		sum := 0
		for _, b := range v.Histogram {
			sum += b.Count
			if b.Inactive != !b.End.After(v.Threshold) {
				t.Errorf("bar %s [%s, %s) inactive = %v against threshold %s", b.Label, b.Start, b.End, b.Inactive, v.Threshold)
			}
			if b.End.Sub(b.Start) < 89*24*time.Hour {
				t.Errorf("bar %s is not a quarter", b.Label)
			}
		}
		if sum != v.InScope {
			t.Errorf("the histogram holds %d contacts, %d are in scope", sum, v.InScope)
		}
		if code := s.getJSON(tokenRead, "/v1/institutions/"+instA+"/summary?bucket=week", nil); code != http.StatusBadRequest {
			t.Errorf("bucket=week = %d, want 400", code)
		}
		if code := s.getJSON(tokenReadB, "/v1/institutions/"+instA+"/summary", nil); code != http.StatusForbidden {
			t.Errorf("another institution's token = %d, want 403", code)
		}
	})
}
