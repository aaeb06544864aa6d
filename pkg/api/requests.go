package api

import "time"

// ErasureStart is the optional body of POST /v1/institutions/{inst}/contacts/{id}/erasure.
// The reason is checked, never stored: it is free text and may name the person.
type ErasureStart struct {
	Reason string `json:"reason"`
}

// RequestView is an erasure request as the API shows it.
type RequestView struct {
	ID           string     `json:"id"`
	Institution  string     `json:"institution"`
	ContactID    string     `json:"contact_id"`
	Origin       string     `json:"origin"`
	State        string     `json:"state"`
	Outcome      string     `json:"outcome,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	ErasedFields []string   `json:"erased_fields,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	CompletedAt  *time.Time `json:"completed_at,omitempty"`
	Href         string     `json:"href"`
}
