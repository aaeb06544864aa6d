package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// Problem is an RFC 9457 problem detail. Detail and every invalid-param reason must never
// carry a personal value: they are logged and shown to callers.
type Problem struct {
	Type     string         `json:"type,omitempty"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Errors   []InvalidParam `json:"errors,omitempty"`
	// State is an extension member (RFC 9457 §3.2) of a 409: the state the resource is in
	// that makes the request conflict (a contact "anonymised" or "deleted" already).
	State string `json:"state,omitempty"`
	// RetryAfter, in seconds, becomes the Retry-After header (503, 429).
	RetryAfter int `json:"-"`
}

// InvalidParam points at one bad field (a JSON pointer) and says why; it is declared with the
// API's shapes, which the CLI decodes too.
type InvalidParam = api.InvalidParam

func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// NewProblem builds a problem with the standard title for status.
func NewProblem(status int, detail string) *Problem {
	return &Problem{Title: http.StatusText(status), Status: status, Detail: detail}
}

// WriteProblem answers with application/problem+json. Any error that is not a *Problem is a 500
// whose detail is not shown, since it may carry internals.
func WriteProblem(w http.ResponseWriter, r *http.Request, err error) {
	var p *Problem
	if !errors.As(err, &p) {
		p = NewProblem(http.StatusInternalServerError, "internal error")
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	if r != nil && p.Instance == "" {
		p.Instance = r.URL.Path
	}
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// WriteJSON answers with a JSON body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	// Encoded before the status is sent: a value that cannot be encoded (a date outside the
	// years JSON holds) is a 500 problem, never a 2xx with an empty body.
	body, err := json.Marshal(v)
	if err != nil {
		WriteProblem(w, nil, NewProblem(http.StatusInternalServerError, "the answer could not be encoded"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
