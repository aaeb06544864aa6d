package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/config"
)

// session is one signed-in operator. It lives in this process only: the cookie carries its
// random id, never the token, and signing out or restarting forgets it.
type session struct {
	id      string
	token   string // the bearer token the console calls the API with
	tok     config.Token
	csrf    string
	created time.Time
	seen    time.Time
}

// may reports whether the session's token holds scope on institution ("" checks the scope alone).
func (s *session) may(scope, institution string) bool {
	return s.tok.Has(scope) && (institution == "" || s.tok.Covers(institution))
}

// csrfOK compares a form's CSRF token with the session's in constant time.
func (s *session) csrfOK(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

type sessions struct {
	mu        sync.Mutex
	byID      map[string]*session
	idle, max time.Duration
}

func newSessions(idle, max time.Duration) *sessions {
	return &sessions{byID: map[string]*session{}, idle: idle, max: max}
}

func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (ss *sessions) create(token string, tok config.Token, now time.Time) *session {
	s := &session{id: randomID(), token: token, tok: tok, csrf: randomID(), created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.byID[s.id] = s
	return s
}

// get returns the live session with that id, and marks it seen.
func (ss *sessions) get(id string, now time.Time) (*session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byID[id]
	if !ok {
		return nil, false
	}
	if ss.expired(s, now) {
		delete(ss.byID, id)
		return nil, false
	}
	s.seen = now
	return s, true
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) > ss.idle || now.Sub(s.created) > ss.max
}

func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

func (ss *sessions) sweep(now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, s := range ss.byID {
		if ss.expired(s, now) {
			delete(ss.byID, id)
		}
	}
}
