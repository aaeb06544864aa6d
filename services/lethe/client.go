package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client is what every client command (send, runs, contacts, register) shares to talk to a
// running `lethe serve`: the base URL, the bearer token, and problem+json answers decoded
// into an *APIError so that commands print the server's reason rather than a status code.
type Client struct {
	base      *url.URL
	token     string
	hc        *http.Client
	userAgent string
}

// ClientOption adjusts a Client built by NewClient.
type ClientOption func(*Client) error

// WithHTTPClient replaces the HTTP client (tests, proxies, custom TLS).
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("client: nil http.Client")
		}
		c.hc = hc
		return nil
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) ClientOption {
	return func(c *Client) error { c.userAgent = ua; return nil }
}

// Client errors. ErrUnreachable wraps every transport failure (refused, reset, timeout):
// the request may or may not have reached the server, so only idempotent work retries it.
var (
	ErrNoServer    = errors.New("no server: pass --server or set LETHE_SERVER")
	ErrNoToken     = errors.New("no token: pass --token or set LETHE_TOKEN")
	ErrUnreachable = errors.New("server unreachable")
)

// NewClient returns a client for the server at base (http or https, with an optional path
// prefix when Lethe sits behind a reverse proxy).
func NewClient(base, token string, opts ...ClientOption) (*Client, error) {
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
	c := &Client{base: u, token: token, hc: &http.Client{Transport: tr}, userAgent: "lethe/" + version}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// APIError is a non-2xx answer. The fields come from the RFC 9457 problem when the server
// sent one; by the contract they never carry a personal value, so they are safe to print.
type APIError struct {
	Status   int
	Type     string
	Title    string
	Detail   string
	Instance string
	Errors   []ProblemParam
	// State is the problem's "state" member: on a 409, the state of what the request
	// conflicts with (a contact "anonymised" or "deleted" already).
	State string
	// RetryAfter is the server's Retry-After (503, 429), zero when absent.
	RetryAfter time.Duration
}

// ProblemParam is one invalid field of a problem: in a batch, Index is the event's position.
type ProblemParam struct {
	Index   *int   `json:"index,omitempty"`
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	} else if e.Title != "" && e.Title != http.StatusText(e.Status) {
		b.WriteString(": ")
		b.WriteString(e.Title)
	}
	if n := len(e.Errors); n > 0 {
		fmt.Fprintf(&b, " (%d invalid field", n)
		if n > 1 {
			b.WriteString("s")
		}
		b.WriteString(")")
	}
	return b.String()
}

// Temporary reports whether the same request may succeed later: the server was busy or a
// proxy in front of it failed.
func (e *APIError) Temporary() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
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

// maxProblemBody bounds what is read of an error answer: a problem is small, and a proxy's
// HTML error page need not be read whole.
const maxProblemBody = 1 << 20

func decodeProblem(resp *http.Response, now time.Time) *APIError {
	e := &APIError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now)}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblemBody))
	// Drain a little more so the connection can be reused; give up on anything bigger.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		var p struct {
			Type     string         `json:"type"`
			Title    string         `json:"title"`
			Detail   string         `json:"detail"`
			Instance string         `json:"instance"`
			Errors   []ProblemParam `json:"errors"`
			State    string         `json:"state"`
		}
		if json.Unmarshal(b, &p) == nil {
			e.Type, e.Title, e.Detail, e.Instance, e.Errors, e.State = p.Type, p.Title, p.Detail, p.Instance, p.Errors, p.State
		}
	}
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date; anything else is no advice.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// JSON sends in (when not nil) as a JSON body and decodes a 2xx answer into out (when not
// nil): the common case of the other client commands.
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

// Pauses between the requests of pollJSON: short at first, since most waits are brief (a
// simulation is planned before its POST answers, an erasure takes a moment), then longer.
const (
	pollFirst = 100 * time.Millisecond
	pollMax   = 2 * time.Second
	// pollFailures is how many temporary failures in a row (the server restarting, a 503)
	// a wait rides out before it gives up.
	pollFailures = 10
)

// pollJSON GETs path as JSON until done accepts the answer or ctx ends, each request bounded
// by perRequest. Temporary failures are retried; a 4xx ends the wait with the server's reason.
func pollJSON[T any](ctx context.Context, c *Client, path string, perRequest time.Duration, done func(T) bool) (T, error) {
	pause, failures := pollFirst, 0
	for {
		var v T
		rctx, cancel := context.WithTimeout(ctx, perRequest)
		err := c.JSON(rctx, http.MethodGet, path, nil, &v)
		cancel()
		if ctx.Err() != nil {
			return v, context.Cause(ctx)
		}
		var apiErr *APIError
		switch {
		case err == nil:
			if done(v) {
				return v, nil
			}
			failures = 0
		case failures < pollFailures && (errors.Is(err, ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) ||
			(errors.As(err, &apiErr) && apiErr.Temporary())):
			failures++
		default:
			return v, err
		}
		if err := sleepCtx(ctx, pause); err != nil {
			return v, err
		}
		pause = min(2*pause, pollMax)
	}
}

// detailed adds a problem's invalid fields to err, one per line under the summary, for a
// person at a terminal; errors.As still finds the *APIError.
func detailed(err error) error {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || len(apiErr.Errors) == 0 {
		return err
	}
	var b strings.Builder
	for _, p := range apiErr.Errors {
		ptr := p.Pointer
		if ptr == "" {
			ptr = "(the body)"
		}
		fmt.Fprintf(&b, "\n  %s: %s", ptr, p.Detail)
	}
	return fmt.Errorf("%w%s", err, b.String())
}
