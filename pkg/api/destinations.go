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

// DestinationLateAfter is how long an outcome may wait for a destination's confirmation
// before the destination is reported late (the console flags it). A week leaves a nightly
// or weekly CRM sync room, and still flags a destination that stopped confirming well within
// the month that Article 12(3) gives for an erasure request.
const DestinationLateAfter = 7 * 24 * time.Hour

// Late reports whether the destination's oldest unconfirmed outcome has waited longer than
// DestinationLateAfter.
func (d DestinationView) Late() bool {
	return d.Unconfirmed > 0 && time.Duration(d.OldestUnconfirmedAgeSeconds)*time.Second > DestinationLateAfter
}

// OldestUnconfirmedAge is the oldest unconfirmed outcome's age (0 when none).
func (d DestinationView) OldestUnconfirmedAge() time.Duration {
	return time.Duration(d.OldestUnconfirmedAgeSeconds) * time.Second
}
