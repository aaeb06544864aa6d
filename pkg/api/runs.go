package api

import (
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// RunStart is the body of POST /v1/institutions/{inst}/runs; every field is optional, and
// one left out (nil) takes the institution's policy, or now for AsOf (RFC 3339).
type RunStart struct {
	Mode             *string  `json:"mode,omitempty"`
	InactivityMonths *Integer `json:"inactivity_months,omitempty"`
	AsOf             *string  `json:"as_of,omitempty"`
}

// RunView is a run as the API shows it.
type RunView struct {
	ID               string    `json:"id"`
	Institution      string    `json:"institution"`
	Mode             string    `json:"mode"`
	State            string    `json:"state"`
	AsOf             time.Time `json:"as_of"`
	InactivityMonths int       `json:"inactivity_months"`
	// Threshold is as_of minus the period: contacts whose recency is strictly before it are inactive.
	Threshold   time.Time `json:"threshold"`
	Trigger     string    `json:"trigger"`
	SourceRun   string    `json:"source_run,omitempty"`
	RequestedBy string    `json:"requested_by,omitempty"`
	// Counts and Reasons are the plan's (a simulation, or an apply or execute run still
	// executing) and, once an apply or execute run is completed, what actually happened.
	Counts  map[string]int `json:"counts"`
	Reasons map[string]int `json:"reasons"`
	// Forecast marks a simulation as of a future date: a look ahead that cannot be applied.
	Forecast bool `json:"forecast,omitempty"`
	// Planned and PlannedReasons are an apply or execute run's plan; with Counts they show the
	// drift. Items is how many items the plan holds, Results how many have their outcome.
	Planned        map[string]int `json:"planned,omitempty"`
	PlannedReasons map[string]int `json:"planned_reasons,omitempty"`
	Items          int            `json:"items"`
	Results        int            `json:"results"`
	// Cursor is the last contact whose command was published (execute and apply runs).
	Cursor     string     `json:"cursor,omitempty"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// ItemView is one run item: a contact, its planned outcome, and why.
type ItemView struct {
	ContactID     string       `json:"contact_id"`
	Outcome       string       `json:"outcome"`
	Reason        string       `json:"reason,omitempty"`
	Role          string       `json:"role,omitempty"`
	Customer      bool         `json:"customer"`
	Recency       time.Time    `json:"recency"`
	RecencySource store.Source `json:"recency_source"`
	Result        string       `json:"result,omitempty"`
	ResultAt      *time.Time   `json:"result_at,omitempty"`
}

// ItemsPage is GET …/items as JSON; Next is the `after` of the following page, empty on the last.
type ItemsPage struct {
	Items []ItemView `json:"items"`
	Next  string     `json:"next,omitempty"`
}

// RunsList is GET …/runs.
type RunsList struct {
	Runs []RunView `json:"runs"`
}

// ContactRunsView is GET …/contacts/{id}/runs: every run that considered the contact, with
// what it planned and what happened. Ids, outcomes and dates only.
type ContactRunsView struct {
	Institution string           `json:"institution"`
	ContactID   string           `json:"contact_id"`
	Items       []ContactRunItem `json:"items"`
}

// ContactRunItem is one run's item about the contact.
type ContactRunItem struct {
	RunID     string    `json:"run_id"`
	Mode      string    `json:"mode"`
	RunState  string    `json:"run_state"`
	AsOf      time.Time `json:"as_of"`
	CreatedAt time.Time `json:"created_at"`
	ItemView
}
