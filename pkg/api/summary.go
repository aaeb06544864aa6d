package api

import "time"

// SummaryView is GET /v1/institutions/{inst}/summary: an institution at a glance, as the
// console's overview draws it. Counts only, never a contact id nor a personal value.
type SummaryView struct {
	Institution      string    `json:"institution"`
	AsOf             time.Time `json:"as_of"`
	InactivityMonths int       `json:"inactivity_months"`
	// Threshold is AsOf − InactivityMonths: an in-scope contact whose recency is before it is inactive.
	Threshold time.Time `json:"threshold"`
	// Statuses counts every contact by status (active, anonymised, deleted).
	Statuses map[string]int `json:"statuses"`
	// InScope counts the active contacts whose role is subject to retention.
	InScope int `json:"in_scope"`
	// Bucket is month or quarter: the width of each histogram bar.
	Bucket string `json:"bucket"`
	// Histogram counts the active in-scope contacts by recency, oldest bucket first; a bucket
	// whose end is not after Threshold holds only inactive contacts.
	Histogram []HistogramBar `json:"histogram"`
	// Overdue counts the inactive in-scope contacts a run as of AsOf would erase; OverdueBlocked
	// the inactive ones it would skip, by their first blocker.
	Overdue        int            `json:"overdue"`
	OverdueBlocked map[string]int `json:"overdue_blocked"`
	// Crossing counts the active in-scope contacts that are not inactive now and will be
	// within each horizon (P1M, P3M, P6M): the renewal list's size.
	Crossing []CrossingCount `json:"crossing"`
}

// HistogramBar is one bucket of recency: [Start, End).
type HistogramBar struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Label string    `json:"label"`
	Count int       `json:"count"`
	// Inactive: the whole bucket lies before the threshold.
	Inactive bool `json:"inactive"`
}

// CrossingCount is how many contacts cross the threshold within a horizon, and how many of
// them a renewal campaign may reach (GET …/targets?crossing_within=…: marketing not refused).
type CrossingCount struct {
	Within    string `json:"within"`
	Months    int    `json:"months"`
	Count     int    `json:"count"`
	Reachable int    `json:"reachable"`
}

// The histogram's bucket widths.
const (
	BucketMonth   = "month"
	BucketQuarter = "quarter"
)
