package client

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"time"
)

// TargetsQuery is what a campaign asks of GET …/targets; an empty field is left out of the
// query, so that the server's default applies (no channel: the general marketing
// authorisation; no kind: marketing).
type TargetsQuery struct {
	Channel             string
	Kind                string
	ExplicitConsentOnly bool
	// CrossingWithin is the renewal horizon, an ISO 8601 duration such as P3M.
	CrossingWithin string
}

// Values is the query's parameters, each given once.
func (q TargetsQuery) Values() url.Values {
	v := url.Values{}
	if q.Channel != "" {
		v.Set("channel", q.Channel)
	}
	if q.Kind != "" {
		v.Set("kind", q.Kind)
	}
	if q.ExplicitConsentOnly {
		v.Set("explicit_consent_only", "true")
	}
	if q.CrossingWithin != "" {
		v.Set("crossing_within", q.CrossingWithin)
	}
	return v
}

// EachTargetsPage follows the JSON pages of inst's campaign targets for q, pageSize a page,
// each request bounded by perRequest, and hands fn each page's targets as the server wrote
// them.
func (c *Client) EachTargetsPage(ctx context.Context, inst string, q TargetsQuery, pageSize int, perRequest time.Duration, fn func([]json.RawMessage) error) error {
	return c.eachPage(ctx, TargetsPath(inst), q.Values(), "targets", pageSize, perRequest, fn)
}

// ExportTargets copies the server's stream of every target of inst for q in one answer, in
// mediaType (api.ContentTypeCSV or api.ContentTypeNDJSON), to w, and returns how many lines
// it wrote (for CSV, the header's included).
func (c *Client) ExportTargets(ctx context.Context, inst string, q TargetsQuery, mediaType string, w io.Writer) (int, error) {
	path := TargetsPath(inst)
	if v := q.Values(); len(v) > 0 {
		path += "?" + v.Encode()
	}
	return c.export(ctx, path, mediaType, "the targets of "+inst, w)
}
