package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
)

// Paths of the console.
const (
	prefix        = "/ui/"
	sessionCookie = "lethe_session"
	signinCookie  = "lethe_signin"
	maxFormBytes  = 64 << 10
)

// Register adds the console's pages under /ui/ to mux. Without WithAPI, the console calls
// the API on this same mux, so it must be registered with the services (pkg/server does).
//
//	GET  /ui/                                  where to go: the token's institutions
//	GET  /ui/signin · POST /ui/signin · POST /ui/signout
//	GET  /ui/i/{inst}/                         overview (read)
//	GET  /ui/i/{inst}/renewal.csv              the renewal list (read)
//	GET  /ui/i/{inst}/runs · POST …/runs       runs; start a simulation (admin)
//	GET  /ui/i/{inst}/runs/{run}               a run's report (read); …/items.csv
//	GET  /ui/i/{inst}/runs/{run}/apply · POST  the confirmation, and the apply (erase)
//	GET  /ui/i/{inst}/contacts                 contact lookup (read); POST …/contacts/{id}/export (export)
//	GET  /ui/i/{inst}/contacts/{id}/receipt    an erased contact's signed erasure receipt (read)
//	GET  /ui/i/{inst}/requests                 open requests by deadline (read)
//	GET  /ui/i/{inst}/register · GET /ui/audit
func (s *Service) Register(mux *http.ServeMux) {
	if s.apiBase == "" {
		s.apiBase, s.hc = "http://lethe.in-process", &http.Client{Transport: inProcess{httpapi.RouteProblems(mux)}}
	}
	mux.Handle("GET /ui", http.RedirectHandler(prefix, http.StatusMovedPermanently))
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/", http.FileServerFS(staticFS)))
	mux.HandleFunc("GET /ui/signin", s.signInPage)
	mux.HandleFunc("POST /ui/signin", s.signIn)
	mux.Handle("POST /ui/signout", s.signedIn(s.signOut))
	mux.Handle("GET /ui/{$}", s.signedIn(s.home))
	mux.Handle("GET /ui/open", s.signedIn(s.open))
	mux.Handle("GET /ui/audit", s.signedIn(s.audit))
	inst := func(h handler) http.Handler { return s.signedIn(s.institution(h)) }
	mux.Handle("GET /ui/i/{inst}/{$}", inst(s.overview))
	mux.Handle("GET /ui/i/{inst}/renewal.csv", inst(s.renewalCSV))
	mux.Handle("GET /ui/i/{inst}/runs", inst(s.runs))
	mux.Handle("POST /ui/i/{inst}/runs", inst(s.startRun))
	mux.Handle("GET /ui/i/{inst}/runs/{run}", inst(s.report))
	mux.Handle("GET /ui/i/{inst}/runs/{run}/items.csv", inst(s.itemsCSV))
	mux.Handle("GET /ui/i/{inst}/runs/{run}/apply", inst(s.confirmApply))
	mux.Handle("POST /ui/i/{inst}/runs/{run}/apply", inst(s.apply))
	mux.Handle("GET /ui/i/{inst}/contacts", inst(s.contact))
	mux.Handle("POST /ui/i/{inst}/contacts/{id}/export", inst(s.export))
	mux.Handle("GET /ui/i/{inst}/contacts/{id}/receipt", inst(s.receiptDownload))
	mux.Handle("GET /ui/i/{inst}/requests", inst(s.requests))
	mux.Handle("GET /ui/i/{inst}/register", inst(s.register))
	mux.Handle("/ui/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, _ := s.session(r)
		s.fail(w, r, sess, http.StatusNotFound, "There is no such page in the console.")
	}))
}

// handler is a console page for a signed-in operator.
type handler func(w http.ResponseWriter, r *http.Request, sess *session)

// signedIn sends a visitor without a session to the sign-in page, and refuses a form posted
// without the session's CSRF token: SameSite=Strict keeps other sites' requests from
// carrying the cookie, and the token keeps anything that does not hold the page from posting.
func (s *Service) signedIn(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w)
		sess, ok := s.session(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.fail(w, r, nil, http.StatusForbidden, "You are signed out: sign in again, then repeat what you were doing.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				s.fail(w, r, sess, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if !sess.csrfOK(r.PostForm.Get("csrf")) {
				s.fail(w, r, sess, http.StatusForbidden, "This form is missing its CSRF token, or it is stale: reload the page and try again.")
				return
			}
		}
		h(w, r, sess)
	})
}

// institution refuses a page about an institution the token does not read.
func (s *Service) institution(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, sess *session) {
		inst := r.PathValue("inst")
		if err := httpapi.Require(httpapi.WithPrincipal(r.Context(), httpapi.Principal{Token: sess.tok}), config.ScopeRead, inst); err != nil {
			s.failAPI(w, r, sess, err)
			return
		}
		h(w, r, sess)
	}
}

func (s *Service) session(r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, false
	}
	return s.sessions.get(c.Value, s.now())
}

func (s *Service) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	// Secure whenever the browser's connection is TLS; over plain HTTP (a laptop) a Secure
	// cookie would never come back.
	return &http.Cookie{Name: name, Value: value, Path: prefix, MaxAge: maxAge, HttpOnly: true, //nolint:gosec // Secure is set whenever TLS is known
		SameSite: http.SameSiteStrictMode, Secure: s.secure || r.TLS != nil}
}

// secureHeaders: no script runs, nothing frames the console, no page is cached or leaks its
// address to another site.
func secureHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
}

// failAPI renders the page of an API refusal (403, 404, 409, …) in the API's own words.
func (s *Service) failAPI(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	var ae *client.APIError
	var pr *httpapi.Problem
	switch {
	case errors.As(err, &ae):
		msg := ae.Detail
		if msg == "" {
			msg = ae.Title
		}
		if msg == "" {
			msg = http.StatusText(ae.Status)
		}
		s.fail(w, r, sess, ae.Status, sentence(msg))
	case errors.As(err, &pr):
		s.fail(w, r, sess, pr.Status, sentence(pr.Title))
	default:
		s.log.Error("console: API call", "path", r.URL.Path, "err", err)
		s.fail(w, r, sess, http.StatusBadGateway, "The API did not answer; try again.")
	}
}

// apiMessage is an API error in an operator's words, for a page that shows it beside what
// it could read (the API's problem title or detail; ids only, never a personal value).
func apiMessage(err error) string {
	var ae *client.APIError
	var pr *httpapi.Problem
	switch {
	case errors.As(err, &ae) && ae.Detail != "":
		return sentence(ae.Detail)
	case errors.As(err, &ae) && ae.Title != "":
		return sentence(ae.Title)
	case errors.As(err, &ae):
		return sentence(http.StatusText(ae.Status))
	case errors.As(err, &pr):
		return sentence(pr.Title)
	}
	return "the API did not answer; try again."
}

// sentence capitalises a problem's words and ends them with a full stop.
func sentence(s string) string {
	if s == "" {
		return "The request was refused."
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// fail renders an error page with its status.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, sess *session, status int, msg string) {
	secureHeaders(w)
	title := http.StatusText(status)
	if status == http.StatusForbidden {
		title = "Not allowed"
	}
	s.render(w, r, status, "error", view{Title: title, Session: sess, Inst: r.PathValue("inst"),
		Data: struct {
			Status  int
			Message string
		}{status, msg}})
}
