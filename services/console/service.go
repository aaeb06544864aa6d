package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform"
)

// Service is the console wired to its dependencies. Its pages, one file each:
//
//	signIn, signOut   signin.go     a token in, a server-side session out (cookie: its id only)
//	overview          overview.go   statuses, recency histogram and threshold, overdue by blocker, renewal counts, last runs
//	runs, startRun    runs.go       the runs, and starting a simulation (or a forecast)
//	report, apply     report.go     counts and chart, items filtered and paged, CSV, apply behind a typed confirmation
//	contact, export   contact.go    one contact: status, recency and its event, blockers, consents, runs; right of access
//	register, audit   register.go   the register of processing; the audit chain's verification
//
// It calls the API, never a service's internals: in one process through the same mux
// (Register keeps it), or at WithAPI's URL when the API runs elsewhere (--target console).
type Service struct {
	log      *slog.Logger
	auth     *httpapi.Authenticator
	cfg      config.File
	sessions *sessions
	hc       *http.Client
	apiBase  string
	secure   bool
	now      func() time.Time
	pages    *pages
}

// Option configures a Service.
type Option func(*Service) error

// WithAPI makes the console call the API at base (e.g. the gateway's URL) instead of the
// routes registered on the same mux.
func WithAPI(base string) Option {
	return func(s *Service) error {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("console: API URL %q: want an http:// or https:// URL", base)
		}
		s.apiBase, s.hc = base, &http.Client{Timeout: time.Minute}
		return nil
	}
}

// WithSecureCookies marks the session cookie Secure even on a plain-HTTP listener: for a
// console behind a gateway that terminates TLS. A request that arrived over TLS always gets it.
func WithSecureCookies() Option {
	return func(s *Service) error { s.secure = true; return nil }
}

// WithSessionLifetime sets how long a session lasts without a request (idle) and at most.
func WithSessionLifetime(idle, max time.Duration) Option {
	return func(s *Service) error {
		if idle <= 0 || max < idle {
			return errors.New("console: session lifetime: want 0 < idle <= max")
		}
		s.sessions.idle, s.sessions.max = idle, max
		return nil
	}
}

// New builds the console from d: d.Auth (the configured tokens, to sign in) is required.
func New(d platform.Deps, opts ...Option) (*Service, error) {
	d, err := d.Resolve("console", platform.NeedAuth)
	if err != nil {
		return nil, err
	}
	p, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	s := &Service{log: d.Logger, auth: d.Auth, cfg: d.Config, now: time.Now, pages: p,
		sessions: newSessions(30*time.Minute, 12*time.Hour)}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Run forgets expired sessions until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.sessions.sweep(s.now())
		}
	}
}

// NotRunning is empty: the console has no consumer.
func (s *Service) NotRunning() []string { return nil }

// api is the HTTP API as the session's token.
func (s *Service) api(sess *session) *client.Client {
	c, err := client.New(s.apiBase, sess.token, client.WithHTTPClient(s.hc), client.WithUserAgent("lethe-console"))
	if err != nil {
		panic(err) // apiBase is checked by WithAPI or set by Register
	}
	return c
}
