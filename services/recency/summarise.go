package recency

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// SummaryHorizons are the renewal horizons the summary counts, in months.
var SummaryHorizons = []int{1, 3, 6}

// maxBars bounds the histogram: older buckets fold into the first bar, so an institution
// with a contact created in 1970 still draws a readable chart.
const maxBars = 60

// Summarise is the use case behind GET …/summary: one scan of the institution's contacts
// (bounded by the institution, one contact in memory at a time) folded into counts.
type Summarise struct {
	contacts store.Contacts
}

// NewSummarise returns the use case over the projection.
func NewSummarise(contacts store.Contacts) *Summarise { return &Summarise{contacts: contacts} }

// Summary counts institution's contacts as of asOf for a period of months, the histogram in
// buckets of bucket (api.BucketMonth or api.BucketQuarter).
func (s *Summarise) Summary(ctx context.Context, institution string, asOf time.Time, months int, bucket string) (api.SummaryView, error) {
	v := api.SummaryView{
		Institution: institution, AsOf: asOf, InactivityMonths: months, Threshold: retention.Threshold(asOf, months),
		Statuses: map[string]int{}, Bucket: bucket, OverdueBlocked: map[string]int{}, Histogram: []api.HistogramBar{},
	}
	width := 1
	if bucket == api.BucketQuarter {
		width = 3
	}
	counts := map[time.Time]int{}
	crossing := make([]int, len(SummaryHorizons))
	reachable := make([]int, len(SummaryHorizons))
	err := s.contacts.Scan(ctx, institution, "", func(c store.Contact) error {
		status := c.Status
		if status == "" {
			status = store.StatusActive
		}
		v.Statuses[string(status)]++
		if status != store.StatusActive || !retention.InScope(c) {
			return nil
		}
		v.InScope++
		counts[bucketStart(c.Recency, width)]++
		d := retention.Decide(c, asOf, months)
		switch {
		case d.Outcome == store.OutcomeSkip:
			v.OverdueBlocked[d.Reason]++
		case d.Candidate:
			v.Overdue++
		default:
			for i, h := range SummaryHorizons {
				if retention.Inactive(c, retention.AddMonths(asOf, h), months) {
					crossing[i]++
					// The renewal list's own rule (targets.go), so the two counts agree.
					if MarketingConsent(c, "") != ConsentRefused {
						reachable[i]++
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return api.SummaryView{}, fmt.Errorf("recency: summary of %s: %w", institution, err)
	}
	for i, h := range SummaryHorizons {
		v.Crossing = append(v.Crossing, api.CrossingCount{Within: fmt.Sprintf("P%dM", h), Months: h, Count: crossing[i], Reachable: reachable[i]})
	}
	v.Histogram = histogram(counts, width, v.Threshold)
	return v, nil
}

// histogram lays the counted buckets out in order, with the empty ones between them, at
// most maxBars (the oldest fold into the first).
func histogram(counts map[time.Time]int, width int, threshold time.Time) []api.HistogramBar {
	if len(counts) == 0 {
		return []api.HistogramBar{}
	}
	starts := make([]time.Time, 0, len(counts))
	for t := range counts {
		starts = append(starts, t)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	first, last := starts[0], starts[len(starts)-1]
	// Always reach the threshold's bucket, so the line has a place on the chart.
	if tb := bucketStart(threshold, width); tb.After(last) {
		last = tb
	} else if tb.Before(first) {
		first = tb
	}
	var bars []api.HistogramBar
	for t := first; !t.After(last); t = t.AddDate(0, width, 0) {
		end := t.AddDate(0, width, 0)
		bars = append(bars, api.HistogramBar{Start: t, End: end, Label: bucketLabel(t, width), Count: counts[t], Inactive: !end.After(threshold)})
	}
	if len(bars) > maxBars {
		folded := bars[len(bars)-maxBars:]
		for _, b := range bars[:len(bars)-maxBars] {
			folded[0].Count += b.Count
		}
		label := bucketLabel(folded[0].Start, width)
		folded[0].Start = bars[0].Start
		folded[0].Label = "until " + label
		bars = folded
	}
	return bars
}

func bucketStart(t time.Time, width int) time.Time {
	t = t.UTC()
	m := int(t.Month()) - 1
	m -= m % width
	return time.Date(t.Year(), time.Month(m+1), 1, 0, 0, 0, 0, time.UTC)
}

func bucketLabel(t time.Time, width int) string {
	if width == 3 {
		return fmt.Sprintf("%d Q%d", t.Year(), (int(t.Month())-1)/3+1)
	}
	return t.Format("2006-01")
}

// getSummary serves GET /v1/institutions/{inst}/summary for a token with the read scope:
// bucket (month or quarter, default month) and inactivity_months (default the policy's).
func getSummary(s *Summarise, cfg config.File, now func() time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		inst := r.PathValue("inst")
		if err := httpapi.Require(r.Context(), config.ScopeRead, inst); err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		q := r.URL.Query()
		var problems []httpapi.InvalidParam
		bucket := api.BucketMonth
		if vs, ok := q["bucket"]; ok {
			switch {
			case len(vs) > 1:
				problems = append(problems, httpapi.InvalidParam{Pointer: "/bucket", Detail: "must be given once"})
			case vs[0] != api.BucketMonth && vs[0] != api.BucketQuarter:
				problems = append(problems, httpapi.InvalidParam{Pointer: "/bucket", Detail: "must be month or quarter"})
			default:
				bucket = vs[0]
			}
		}
		policy, _ := cfg.Institution(inst)
		months := policy.InactivityMonths
		n, given, err := httpapi.QueryInt(q, "inactivity_months", 1, 1200)
		if err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		if given {
			months = n
		}
		if len(problems) > 0 {
			p := httpapi.NewProblem(http.StatusBadRequest, "invalid query")
			p.Errors = problems
			httpapi.WriteProblem(w, r, p)
			return
		}
		v, err := s.Summary(r.Context(), inst, now().UTC(), months, bucket)
		if err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, v)
	}
}
