package store

import (
	"context"
	"time"
)

// States of an on-demand erasure request.
const (
	RequestPending   = "pending"
	RequestCompleted = "completed"
	RequestFailed    = "failed"
)

// Origins of an erasure request.
const (
	OriginAPI   = "api"   // POST …/contacts/{id}/erasure
	OriginEvent = "event" // lethe.erasure.requested.v1 from an upstream system
)

// Request is one on-demand erasure: a data subject's, or an upstream system's. It holds ids,
// dates and field names only; the free-text reason of the request is never stored.
type Request struct {
	ID          string `json:"id" bson:"_id"`
	Institution string `json:"institution" bson:"institution"`
	ContactID   string `json:"contact_id" bson:"contact_id"`
	// Version is the optimistic-concurrency counter (1 once created).
	Version     int64  `json:"version" bson:"version"`
	Origin      string `json:"origin" bson:"origin"`
	RequestedBy string `json:"requested_by,omitempty" bson:"requested_by,omitempty"`
	State       string `json:"state" bson:"state"`
	// Outcome is anonymised, deleted or skipped once the request completed; Reason the skip reason.
	Outcome      string    `json:"outcome,omitempty" bson:"outcome,omitempty"`
	Reason       string    `json:"reason,omitempty" bson:"reason,omitempty"`
	ErasedFields []string  `json:"erased_fields,omitempty" bson:"erased_fields,omitempty"`
	Error        string    `json:"error,omitempty" bson:"error,omitempty"`
	CreatedAt    time.Time `json:"created_at" bson:"created_at"`
	UpdatedAt    time.Time `json:"updated_at" bson:"updated_at"`
	CompletedAt  time.Time `json:"completed_at,omitzero" bson:"completed_at,omitempty"`
}

// Requests holds on-demand erasure requests. Request ids are unique across institutions, so
// GET /v1/requests/{id} needs no institution in its path.
type Requests interface {
	// Create stores r at version 1; ErrExists if the id is taken (a redelivered request event
	// derives the same id, so it is created once).
	Create(ctx context.Context, r Request) error
	// Get returns the request or ErrNotFound.
	Get(ctx context.Context, id string) (Request, error)
	// Update writes r if the stored version equals r.Version and returns the stored copy with
	// its version incremented; ErrConflict otherwise.
	Update(ctx context.Context, r Request) (Request, error)
}
