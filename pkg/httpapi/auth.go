package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/config"
)

// Principal is the authenticated caller: a configured token, by name.
type Principal struct {
	config.Token
}

type principalKey struct{}

// PrincipalFrom returns the caller that Authenticate attached to the request context.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// WithPrincipal attaches p to ctx (used by Authenticate, and by tests of handlers).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Authenticator checks bearer tokens against their configured SHA-256.
type Authenticator struct {
	tokens []config.Token
	hashes [][]byte
}

// NewAuthenticator keeps the configured tokens; only their hashes are ever held.
func NewAuthenticator(tokens []config.Token) *Authenticator {
	a := &Authenticator{tokens: tokens}
	for _, t := range tokens {
		h, _ := hex.DecodeString(t.SHA256)
		a.hashes = append(a.hashes, h)
	}
	return a
}

// Lookup returns the token whose hash matches. Every configured hash is compared, in constant
// time, so the time taken says nothing about which token was close.
func (a *Authenticator) Lookup(bearer string) (config.Token, bool) {
	sum := sha256.Sum256([]byte(bearer))
	found := -1
	for i, h := range a.hashes {
		if subtle.ConstantTimeCompare(sum[:], h) == 1 {
			found = i
		}
	}
	if found < 0 {
		return config.Token{}, false
	}
	return a.tokens[found], true
}

// Authenticate answers 401 unless the request carries a known bearer token, and attaches the
// Principal to the request context.
func (a *Authenticator) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		bearer, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || bearer == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lethe"`)
			WriteProblem(w, r, NewProblem(http.StatusUnauthorized, "a bearer token is required"))
			return
		}
		tok, ok := a.Lookup(strings.TrimSpace(bearer))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lethe", error="invalid_token"`)
			WriteProblem(w, r, NewProblem(http.StatusUnauthorized, "unknown token"))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), Principal{tok})))
	})
}

// Require returns nil if the caller holds scope for institution, else the 403 problem.
// An empty institution checks the scope alone. An institution that is not one (it names NATS
// subjects, so 1 to 64 of A-Z a-z 0-9 _ -) is a 400 pointing at /path/inst, whatever the
// token covers: every route with {inst} checks it here, before anything reads or writes.
func Require(ctx context.Context, scope, institution string) error {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return NewProblem(http.StatusUnauthorized, "a bearer token is required")
	}
	if institution != "" && !events.ValidInstitution(institution) {
		pr := NewProblem(http.StatusBadRequest, "invalid institution in the path")
		pr.Errors = []InvalidParam{{Pointer: "/path/inst", Detail: "an institution is 1 to 64 characters of A-Z, a-z, 0-9, _ and -"}}
		return pr
	}
	if !p.Has(scope) {
		return NewProblem(http.StatusForbidden, "the token lacks the "+scope+" scope")
	}
	if institution != "" && !p.Covers(institution) {
		return NewProblem(http.StatusForbidden, "the token does not cover institution "+institution)
	}
	return nil
}
