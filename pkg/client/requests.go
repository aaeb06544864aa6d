package client

import (
	"context"
	"net/http"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// RequestErasure asks for the on-demand erasure of a contact; reason, when given, is checked
// by the server and never stored.
func (c *Client) RequestErasure(ctx context.Context, inst, contact, reason string) (api.RequestView, error) {
	var body any
	if reason != "" {
		body = api.ErasureStart{Reason: reason}
	}
	var req api.RequestView
	err := c.JSON(ctx, http.MethodPost, ContactPath(inst, contact)+"/erasure", body, &req)
	return req, err
}

// WaitRequest polls the erasure request until it is no longer pending, riding out a server
// restart; each request is bounded by perRequest, the whole wait by ctx.
func (c *Client) WaitRequest(ctx context.Context, id string, perRequest time.Duration) (api.RequestView, error) {
	return poll(ctx, c, RequestPath(id), perRequest, func(r api.RequestView) bool { return r.State != store.RequestPending })
}
