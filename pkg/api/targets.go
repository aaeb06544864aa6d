package api

import (
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Campaign channels and kinds of GET …/targets.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
	ChannelPost  = "post"
	ChannelPhone = "phone"

	KindMarketing     = "marketing"
	KindTransactional = "transactional"
)

// Consent of a target for marketing on the campaign's channel.
const (
	// ConsentExplicit: yes on marketing.<channel>, or yes on marketing with the channel unset.
	ConsentExplicit = "explicit"
	// ConsentNotGiven: no refusal, but no yes either (never asked, or unset).
	ConsentNotGiven = "not_given"
	// ConsentRefused: no on marketing or on marketing.<channel>. Only transactional
	// campaigns, which are not filtered by marketing consent, list such contacts.
	ConsentRefused = "refused"
)

// Page sizes of the JSON listing.
const (
	DefaultTargetsPage = 100
	MaxTargetsPage     = 1000
)

// Target is one contact a campaign may reach. It carries ids and dates only: the campaign
// tool addresses the contact from its own records, so no personal value leaves here.
type Target struct {
	ContactID     string        `json:"contact_id"`
	Role          string        `json:"role,omitempty"`
	Consent       string        `json:"consent,omitempty"`
	Recency       *time.Time    `json:"recency,omitempty"`
	RecencySource *store.Source `json:"recency_source,omitempty"`
	// CrossesAt is when the contact would cross the inactivity threshold (renewal only).
	CrossesAt *time.Time `json:"crosses_at,omitempty"`
}

// TargetsPage is the JSON answer of GET …/targets.
type TargetsPage struct {
	Institution         string     `json:"institution"`
	Channel             string     `json:"channel,omitempty"`
	Kind                string     `json:"kind"`
	ExplicitConsentOnly bool       `json:"explicit_consent_only"`
	AsOf                time.Time  `json:"as_of"`
	CrossingWithin      string     `json:"crossing_within,omitempty"`
	HorizonEnd          *time.Time `json:"horizon_end,omitempty"`
	InactivityMonths    int        `json:"inactivity_months,omitempty"`
	Targets             []Target   `json:"targets"`
	// Next is the `after` of the next page; empty on the last page.
	Next string `json:"next,omitempty"`
}
