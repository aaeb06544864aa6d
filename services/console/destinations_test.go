package console

import (
	"bytes"
	"regexp"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// The overview's destinations panel flags a destination whose oldest unconfirmed outcome
// waited past api.DestinationLateAfter in words (not colour only), and only that one; the
// browser test (TestConsoleAsAnOperator) checks its figures against the API on a live
// instance, where every outcome is fresh.
func TestDestinationsPanelFlagsLateOnes(t *testing.T) {
	p, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC)
	late := api.DestinationView{Name: "crm-late", Declared: true, Confirmed: 4, Unconfirmed: 3, OldestUnconfirmedAt: &at,
		OldestUnconfirmedAgeSeconds: int64((api.DestinationLateAfter + 26*time.Hour) / time.Second), Unmatched: 1}
	fresh := api.DestinationView{Name: "crm-fresh", Declared: true, Confirmed: 7, Unconfirmed: 1, OldestUnconfirmedAt: &at, OldestUnconfirmedAgeSeconds: 3725}
	done := api.DestinationView{Name: "crm-done", Declared: false, Confirmed: 7}
	var buf bytes.Buffer
	v := view{Title: "Overview", Inst: "inst-x", Nav: "overview", Data: overviewData{Bucket: api.BucketQuarter,
		Destinations: []api.DestinationView{late, fresh, done}, LateAfter: age(api.DestinationLateAfter)}}
	if err := p.byName["overview"].Execute(&buf, v); err != nil {
		t.Fatal(err)
	}
	html := regexp.MustCompile(`\s+`).ReplaceAllString(buf.String(), " ")
	for _, want := range []string{
		`has waited more than 7 days.`,
		`<tr class="late"> <th scope="row">crm-late</th> <td class="num">4</td> <td class="num">3</td> <td class="date">2026-11-20 08:30 UTC</td> <td class="num">8 days 2 h</td> <td class="num">1</td> <td><span class="tag tag-late">Late</span></td>`,
		`<tr> <th scope="row">crm-fresh</th> <td class="num">7</td> <td class="num">1</td> <td class="date">2026-11-20 08:30 UTC</td> <td class="num">1 h 2 min</td> <td class="num">0</td> <td>waiting</td>`,
		`<tr> <th scope="row">crm-done <small>(no longer in lethe.yaml)</small></th> <td class="num">7</td> <td class="num">0</td> <td class="date">—</td> <td class="num">—</td> <td class="num">0</td> <td>all confirmed</td>`,
	} {
		if !bytes.Contains([]byte(html), []byte(want)) {
			t.Errorf("the panel lacks %s\n%s", want, html)
		}
	}
	if n := bytes.Count([]byte(html), []byte(`tag-late`)); n != 1 {
		t.Errorf("%d destinations flagged late, want 1", n)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0 s", 40 * time.Second: "40 s", 61 * time.Second: "1 min 1 s", 2*time.Hour + 5*time.Minute: "2 h 5 min",
		time.Hour: "1 h", 25 * time.Hour: "1 day 1 h", 7 * 24 * time.Hour: "7 days", 8*24*time.Hour + 2*time.Hour + 59*time.Minute: "8 days 2 h",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
}

// The requests page marks an overdue request in words and names what blocks a request and
// which destinations an erasure still awaits.
func TestRequestsPageMarksOverdue(t *testing.T) {
	p, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2026, 11, d, 9, 0, 0, 0, time.UTC) }
	d := requestsData{Overdue: 1, Open: []api.RequestView{
		{ID: "req_1", Kind: "erasure", ContactID: "c-1", State: "blocked", Blocker: "legal_hold", ReceivedAt: day(1).AddDate(0, -1, 0), DueAt: day(1), Overdue: true},
		{ID: "req_2", Kind: "erasure", ContactID: "c-2", State: "in_progress", AwaitingConfirmation: []string{"crm-a", "crm-b"}, ReceivedAt: day(20), DueAt: day(20).AddDate(0, 1, 0)},
	}}
	var buf bytes.Buffer
	if err := p.byName["requests"].Execute(&buf, view{Title: "Requests", Inst: "inst-x", Nav: "requests", Data: d}); err != nil {
		t.Fatal(err)
	}
	html := regexp.MustCompile(`\s+`).ReplaceAllString(buf.String(), " ")
	for _, want := range []string{
		`<strong>2</strong> open, of which <strong class="overdue-count">1 past their deadline</strong>`,
		`<tr class="late"> <th scope="row"><code>req_1</code></th> <td>erasure</td> <td><a href="/ui/i/inst-x/contacts?id=c-1"><code>c-1</code></a></td> <td>blocked</td> <td class="date">2026-10-01</td> <td class="date">2026-11-01 <span class="tag tag-late">Overdue</span></td> <td>legal hold</td> <td>—</td>`,
		`<tr> <th scope="row"><code>req_2</code></th> <td>erasure</td> <td><a href="/ui/i/inst-x/contacts?id=c-2"><code>c-2</code></a></td> <td>in progress</td> <td class="date">2026-11-20</td> <td class="date">2026-12-20</td> <td>—</td> <td>crm-a, crm-b</td>`,
	} {
		if !bytes.Contains([]byte(html), []byte(want)) {
			t.Errorf("the requests page lacks %s\n%s", want, html)
		}
	}
}
