package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// APIError is a non-2xx answer. The fields come from the RFC 9457 problem when the server
// sent one; by the contract they never carry a personal value, so they are safe to print.
type APIError struct {
	Status   int
	Type     string
	Title    string
	Detail   string
	Instance string
	Errors   []api.InvalidParam
	// State is the problem's "state" member: on a 409, the state of what the request
	// conflicts with (a contact "anonymised" or "deleted" already).
	State string
	// RetryAfter is the server's Retry-After (503, 429), zero when absent.
	RetryAfter time.Duration
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
			Type     string             `json:"type"`
			Title    string             `json:"title"`
			Detail   string             `json:"detail"`
			Instance string             `json:"instance"`
			Errors   []api.InvalidParam `json:"errors"`
			State    string             `json:"state"`
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

// Detailed adds a problem's invalid fields to err, one per line under the summary, for a
// person at a terminal; errors.As still finds the *APIError.
func Detailed(err error) error {
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

// IsStatus reports whether err is the server's answer with that status.
func IsStatus(err error, status int) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == status
}
