package anonymiser

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// RequestErasure records an on-demand erasure on the legal clock (received now, due one
// month later), publishes its command and marks it in_progress; the outcome follows through
// Execute. A request whose id exists already (a redelivered request event) is returned as it
// is, its command published again if it was still only received (JetStream deduplicates):
// a request is executed once however often it is delivered.
func (s *Service) RequestErasure(ctx context.Context, r store.Request) (store.Request, error) {
	if r.ID == "" || r.Institution == "" || r.ContactID == "" {
		return store.Request{}, fmt.Errorf("%w: request id, institution and contact are required", ErrInvalidCommand)
	}
	now := s.now().UTC()
	r.Kind, r.State, r.CreatedAt, r.UpdatedAt, r.DueAt = store.KindErasure, store.RequestReceived, now, now, retention.DueAt(now)
	r.Actions = []store.RequestAction{{At: now, By: actorOrLethe(r.RequestedBy), Action: store.RequestReceived}}
	switch err := s.requests.Create(ctx, r); {
	case err == nil:
		r.Version = 1
	case errors.Is(err, store.ErrExists):
		existing, err := s.requests.Get(ctx, r.ID)
		if err != nil {
			return store.Request{}, fmt.Errorf("anonymiser: read request %s: %w", r.ID, err)
		}
		if existing.Institution != r.Institution || existing.ContactID != r.ContactID {
			return store.Request{}, fmt.Errorf("%w: request id %s is taken by another contact", ErrInvalidCommand, r.ID)
		}
		if existing.State != store.RequestReceived {
			return existing, nil
		}
		r = existing
	default:
		return store.Request{}, fmt.Errorf("anonymiser: record request %s: %w", r.ID, err)
	}
	if err := s.queueCommand(ctx, r); err != nil {
		return r, err
	}
	return s.changeRequest(ctx, r, "lethe", store.RequestInProgress, func(q *store.Request) bool {
		if q.State != store.RequestReceived {
			return false
		}
		q.State = store.RequestInProgress
		return true
	})
}

func actorOrLethe(by string) string {
	if by == "" {
		return "lethe"
	}
	return by
}

// newRequestID is the id of a request made over HTTP.
func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "req_" + hex.EncodeToString(b)
}

// requestIDOfEvent derives a request's id from the event that asked for it, so every delivery
// of the event names the same request.
func requestIDOfEvent(institution, source, id string) string {
	h := sha256.Sum256([]byte(institution + "\x00" + source + "\x00" + id))
	return "req_" + hex.EncodeToString(h[:12])
}
