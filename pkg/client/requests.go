package client

import (
	"context"
	"net/http"
	"net/url"
	"strings"
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

// WaitRequest polls the request until it is answered or needs someone (completed, refused,
// failed, blocked, or erased and awaiting destinations' confirmations), riding out a server
// restart; each request is bounded by perRequest, the whole wait by ctx.
func (c *Client) WaitRequest(ctx context.Context, id string, perRequest time.Duration) (api.RequestView, error) {
	return poll(ctx, c, RequestPath(id), perRequest, func(r api.RequestView) bool {
		return RequestSettled(r.State) || r.Outcome != "" && len(r.AwaitingConfirmation) > 0
	})
}

// RequestSettled reports whether a request in state is answered or waits on someone: what
// --wait waits for.
func RequestSettled(state string) bool {
	switch state {
	case store.RequestCompleted, store.RequestRefused, store.RequestFailed, store.RequestBlocked:
		return true
	}
	return false
}

// RequestFilter is the query of GET …/requests; zero fields are left out.
type RequestFilter struct {
	States    []string
	Kind      string
	DueWithin string // an ISO 8601 duration, e.g. P7D
	Overdue   bool
}

// Requests lists an institution's requests by deadline.
func (c *Client) Requests(ctx context.Context, inst string, f RequestFilter) (api.RequestList, error) {
	q := url.Values{}
	if len(f.States) > 0 {
		q.Set("state", strings.Join(f.States, ","))
	}
	if f.Kind != "" {
		q.Set("kind", f.Kind)
	}
	if f.DueWithin != "" {
		q.Set("due_within", f.DueWithin)
	}
	if f.Overdue {
		q.Set("overdue", "true")
	}
	path := RequestsPath(inst)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l api.RequestList
	err := c.JSON(ctx, http.MethodGet, path, nil, &l)
	return l, err
}

// GetRequest reads one request.
func (c *Client) GetRequest(ctx context.Context, id string) (api.RequestView, error) {
	var r api.RequestView
	err := c.JSON(ctx, http.MethodGet, RequestPath(id), nil, &r)
	return r, err
}

// ExtendRequest moves a request's deadline to due, with the reason given to the person.
func (c *Client) ExtendRequest(ctx context.Context, id string, due time.Time, reason string) (api.RequestView, error) {
	var r api.RequestView
	err := c.JSON(ctx, http.MethodPost, RequestPath(id)+"/extend", api.RequestExtend{DueAt: due.UTC().Format(time.RFC3339), Reason: reason}, &r)
	return r, err
}

// RefuseRequest answers a request with a refusal and its reason.
func (c *Client) RefuseRequest(ctx context.Context, id, reason string) (api.RequestView, error) {
	var r api.RequestView
	err := c.JSON(ctx, http.MethodPost, RequestPath(id)+"/refuse", api.RequestRefuse{Reason: reason}, &r)
	return r, err
}

// RetryRequest queues a failed (or blocked) erasure again.
func (c *Client) RetryRequest(ctx context.Context, id string) (api.RequestView, error) {
	var r api.RequestView
	err := c.JSON(ctx, http.MethodPost, RequestPath(id)+"/retry", nil, &r)
	return r, err
}

// RequestAccess records a right-of-access request; the export served answers it.
func (c *Client) RequestAccess(ctx context.Context, inst, contact string) (api.RequestView, error) {
	var r api.RequestView
	err := c.JSON(ctx, http.MethodPost, ContactPath(inst, contact)+"/access", nil, &r)
	return r, err
}
