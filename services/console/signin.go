package console

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/config"
)

type signinData struct {
	CSRF, Next, Error string
}

// signInPage shows the token form. Before there is a session, its CSRF token is a
// double-submit: a random value in an HttpOnly cookie and in the form, which must match.
func (s *Service) signInPage(w http.ResponseWriter, r *http.Request) {
	csrf := randomID()
	http.SetCookie(w, s.cookie(r, signinCookie, csrf, 600))
	s.render(w, r, http.StatusOK, "signin", view{Title: "Sign in", Data: signinData{CSRF: csrf, Next: safeNext(r.URL.Query().Get("next"))}})
}

// signIn exchanges a configured token for a session. The token is checked against the
// configured hashes (the same authenticator as the API); the cookie holds only the random
// session id.
func (s *Service) signIn(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	c, err := r.Cookie(signinCookie)
	form := r.PostForm.Get("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		s.fail(w, r, nil, http.StatusForbidden, "This form is missing its CSRF token, or it is stale: reload the sign-in page and try again.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	token := strings.TrimSpace(r.PostForm.Get("token"))
	tok, ok := s.auth.Lookup(token)
	if token == "" || !ok {
		csrf := randomID()
		http.SetCookie(w, s.cookie(r, signinCookie, csrf, 600))
		s.render(w, r, http.StatusUnauthorized, "signin", view{Title: "Sign in",
			Data: signinData{CSRF: csrf, Next: next, Error: "That token is not one this Lethe knows."}})
		return
	}
	sess := s.sessions.create(token, tok, s.now())
	s.log.Info("console: signed in", "token", tok.Name)
	http.SetCookie(w, s.cookie(r, signinCookie, "", -1))
	http.SetCookie(w, s.cookie(r, sessionCookie, sess.id, 0))
	http.Redirect(w, r, next, http.StatusSeeOther) //nolint:gosec // safeNext keeps it under /ui/
}

func (s *Service) signOut(w http.ResponseWriter, r *http.Request, sess *session) {
	s.sessions.drop(sess.id)
	http.SetCookie(w, s.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}

// safeNext keeps a redirect after sign-in inside the console.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if next == "" || err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, prefix) || strings.HasPrefix(next, "//") {
		return prefix
	}
	return u.RequestURI()
}

// home sends a token of one institution to its overview, and offers the others a choice.
func (s *Service) home(w http.ResponseWriter, r *http.Request, sess *session) {
	list := institutions(s.cfg, sess.tok)
	if len(list) == 1 && !slices.Contains(sess.tok.Institutions, config.AnyInstitution) {
		http.Redirect(w, r, "/ui/i/"+url.PathEscape(list[0])+"/", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "home", view{Title: "Institutions", Session: sess, Data: list})
}

// open goes to the institution typed on the home page.
func (s *Service) open(w http.ResponseWriter, r *http.Request, sess *session) {
	inst := strings.TrimSpace(r.URL.Query().Get("inst"))
	if !events.ValidInstitution(inst) {
		s.fail(w, r, sess, http.StatusBadRequest, "An institution id is 1 to 64 characters of A-Z, a-z, 0-9, _ and -.")
		return
	}
	http.Redirect(w, r, "/ui/i/"+inst+"/", http.StatusSeeOther) //nolint:gosec // a checked institution id, under /ui/i/
}
