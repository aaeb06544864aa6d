package api

import (
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// ContactView is GET /v1/institutions/{inst}/contacts/{id}: the projection as an operator
// reads it. It holds no personal value: the profile stays sealed and is only shown by the
// right-of-access export.
type ContactView struct {
	Institution    string                         `json:"institution"`
	ID             string                         `json:"id"`
	Status         store.Status                   `json:"status"`
	Known          bool                           `json:"known"`
	Role           string                         `json:"role,omitempty"`
	Kind           string                         `json:"kind"` // customer or prospect
	InScope        bool                           `json:"in_scope"`
	CreatedAt      *time.Time                     `json:"created_at,omitempty"`
	Recency        *time.Time                     `json:"recency,omitempty"`
	RecencySource  *store.Source                  `json:"recency_source,omitempty"`
	Blockers       []string                       `json:"blockers"`
	Balance        *store.Balance                 `json:"balance,omitempty"`
	Subscriptions  map[string]store.Subscription  `json:"subscriptions,omitempty"`
	LegalHold      *store.LegalHold               `json:"legal_hold,omitempty"`
	Authorisations map[string]store.Authorisation `json:"authorisations,omitempty"`
	Organisations  []string                       `json:"organisations,omitempty"`
	ErasedAt       *time.Time                     `json:"erased_at,omitempty"`
	ErasedBy       string                         `json:"erased_by,omitempty"`
	// InactiveFrom is when the contact crossed (or will cross) the institution's
	// inactivity period: recency + period.
	InactiveFrom *time.Time `json:"inactive_from,omitempty"`
}
