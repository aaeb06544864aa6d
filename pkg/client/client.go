package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one running `lethe serve` (or the gateway in front of its services).
type Client struct {
	base      *url.URL
	token     string
	hc        *http.Client
	userAgent string
}

// Option adjusts a Client built by New.
type Option func(*Client) error

// WithHTTPClient replaces the HTTP client (tests, proxies, custom TLS).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("client: nil http.Client")
		}
		c.hc = hc
		return nil
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) error { c.userAgent = ua; return nil }
}

// Errors of the client. ErrUnreachable wraps every transport failure (refused, reset,
// timeout): the request may or may not have reached the server, so only idempotent work
// retries it.
var (
	ErrNoServer    = errors.New("client: no server URL")
	ErrUnreachable = errors.New("server unreachable")
)

// New returns a client for the server at base (http or https, with an optional path prefix
// when Lethe sits behind a reverse proxy). An empty token sends no Authorization.
func New(base, token string, opts ...Option) (*Client, error) {
	if base == "" {
		return nil, ErrNoServer
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want an http:// or https:// URL", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Client commands run a few requests concurrently against one host; the default of two
	// idle connections per host would close and reopen connections between batches.
	tr.MaxIdleConnsPerHost = 64
	c := &Client{base: u, token: token, hc: &http.Client{Transport: tr}, userAgent: "lethe-client"}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Request is one call: Path is relative to the server's base URL and may carry a query.
type Request struct {
	Method      string
	Path        string
	ContentType string
	Accept      string
	Body        []byte
}

// Do sends req. A 2xx answer is returned for the caller to read and close; any other status
// is returned as an *APIError (the body already closed), a transport failure wraps
// ErrUnreachable, and a cancelled ctx returns ctx's error.
func (c *Client) Do(ctx context.Context, req Request) (*http.Response, error) {
	u := *c.base
	path, query, _ := strings.Cut(req.Path, "?")
	u.Path = c.base.Path + "/" + strings.TrimPrefix(path, "/")
	u.RawQuery = query
	var body io.Reader
	if req.Body != nil {
		// A *bytes.Reader lets net/http replay the body on a redirect or a retried connection.
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	if req.ContentType != "" {
		hr.Header.Set("Content-Type", req.ContentType)
	}
	if req.Accept != "" {
		hr.Header.Set("Accept", req.Accept)
	}
	if c.userAgent != "" {
		hr.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, fmt.Errorf("%w: %s %s: %w", ErrUnreachable, req.Method, u.Redacted(), err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, decodeProblem(resp, time.Now())
}

// JSON sends in (when not nil) as a JSON body and decodes a 2xx answer into out (when not
// nil): the common case of the API's calls.
func (c *Client) JSON(ctx context.Context, method, path string, in, out any) error {
	req := Request{Method: method, Path: path, Accept: "application/json"}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		req.Body, req.ContentType = b, "application/json"
	}
	resp, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Get returns the whole answer to GET path in the media type accept, which the server must
// answer in: the documents a command prints as the server wrote them.
func (c *Client) Get(ctx context.Context, path, accept string) ([]byte, error) {
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: path, Accept: accept})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer to GET %s: %w", path, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, accept) {
		return nil, fmt.Errorf("the server answered %q to a request for %s", ct, accept)
	}
	return body, nil
}
