package anonymiser

import (
	"context"
	"errors"
	"fmt"

	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// RequestAccess records a right-of-access request (Article 15) on the legal clock: received
// now, due one month later. It completes when the contact's export is served to a token with
// the export scope (services/recency completes every open access request of the contact
// then): the export is the answer, so serving it is what answering means, and nothing else
// has to be remembered to close the request.
func (s *Service) RequestAccess(ctx context.Context, id, institution, contact, by string) (store.Request, error) {
	if id == "" || institution == "" || contact == "" {
		return store.Request{}, fmt.Errorf("%w: request id, institution and contact are required", ErrInvalidCommand)
	}
	now := s.now().UTC()
	r := store.Request{
		ID: id, Institution: institution, ContactID: contact, Kind: store.KindAccess, Origin: store.OriginAPI,
		RequestedBy: by, State: store.RequestReceived, CreatedAt: now, UpdatedAt: now, DueAt: retention.DueAt(now),
		Actions: []store.RequestAction{{At: now, By: actorOrLethe(by), Action: store.RequestReceived}},
	}
	if err := s.requests.Create(ctx, r); err != nil {
		if errors.Is(err, store.ErrExists) {
			return s.requests.Get(ctx, id)
		}
		return store.Request{}, fmt.Errorf("anonymiser: record access request %s: %w", id, err)
	}
	r.Version = 1
	return r, nil
}
