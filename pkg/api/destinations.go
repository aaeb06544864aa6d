package api

import "time"

// DestinationList is GET /v1/institutions/{inst}/destinations.
type DestinationList struct {
	Institution  string            `json:"institution"`
	Destinations []DestinationView `json:"destinations"`
}

// DestinationView is one downstream destination's account of an institution's outcomes: how
// many it confirmed, how many it has not yet, and since when the oldest waits.
type DestinationView struct {
	Name string `json:"name"`
	// Declared is false for a destination no longer in lethe.yaml whose expectations remain.
	Declared    bool  `json:"declared"`
	Confirmed   int64 `json:"confirmed"`
	Unconfirmed int64 `json:"unconfirmed"`
	// OldestUnconfirmedAt is when the oldest unconfirmed outcome was published; absent when
	// every outcome is confirmed.
	OldestUnconfirmedAt         *time.Time `json:"oldest_unconfirmed_at,omitempty"`
	OldestUnconfirmedAgeSeconds int64      `json:"oldest_unconfirmed_age_seconds"`
	// Unmatched counts the destination's confirmations that named no outcome expected of it.
	Unmatched int64 `json:"unmatched"`
}
