package console

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform"
)

const testToken = "tok-console-test"

func testConsole(t *testing.T, tls bool) (*Service, *httptest.Server) {
	t.Helper()
	sum := sha256.Sum256([]byte(testToken))
	tokens := []config.Token{{Name: "dpo", SHA256: hex.EncodeToString(sum[:]), Institutions: []string{"inst-a"}, Scopes: []string{config.ScopeRead}}}
	s, err := New(platform.Deps{Auth: httpapi.NewAuthenticator(tokens), Config: config.File{Tokens: tokens}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	var hs *httptest.Server
	if tls {
		hs = httptest.NewTLSServer(mux)
	} else {
		hs = httptest.NewServer(mux)
	}
	t.Cleanup(hs.Close)
	return s, hs
}

// browserless is a client with cookies that does not follow redirects.
func browserless(t *testing.T, hs *httptest.Server) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := hs.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func signInForm(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	resp, err := c.Get(base + "/ui/signin")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	m := csrfField.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no CSRF field in the sign-in form: %s", b)
	}
	return string(m[1])
}

// answer is what a test reads of a response, its body already closed.
type answer struct {
	StatusCode int
	Header     http.Header
	cookies    []*http.Cookie
}

func (a answer) Cookies() []*http.Cookie { return a.cookies }

func post(t *testing.T, c *http.Client, target string, form url.Values) answer {
	t.Helper()
	resp, err := c.PostForm(target, form)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return answer{resp.StatusCode, resp.Header, resp.Cookies()}
}

// The session's rules: the sign-in form is CSRF-protected too, a wrong token is refused, the
// cookie holds a random id (never the token) and is HttpOnly, SameSite=Strict and Secure over
// TLS, a redirect after sign-in never leaves the console, sign-out forgets the session
// server-side, and an idle session expires.
func TestSessions(t *testing.T) {
	t.Parallel()
	s, hs := testConsole(t, true)
	c := browserless(t, hs)

	resp, _ := c.Get(hs.URL + "/ui/i/inst-a/runs")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/signin?next=%2Fui%2Fi%2Finst-a%2Fruns" {
		t.Fatalf("signed out: %d %s, want a redirect to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	_ = resp.Body.Close()

	// Without the sign-in page's cookie (another site's form), or with a wrong token.
	other := browserless(t, hs)
	if r := post(t, other, hs.URL+"/ui/signin", url.Values{"csrf": {"guess"}, "token": {testToken}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the double-submit cookie: %d, want 403", r.StatusCode)
	}
	if r := post(t, c, hs.URL+"/ui/signin", url.Values{"csrf": {signInForm(t, c, hs.URL)}, "token": {"wrong"}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d, want 401", r.StatusCode)
	}

	r := post(t, c, hs.URL+"/ui/signin", url.Values{"csrf": {signInForm(t, c, hs.URL)}, "token": {testToken}, "next": {"//evil.example/ui/"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/" {
		t.Errorf("sign-in with next=//evil.example: %d to %q, want /ui/", r.StatusCode, r.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == sessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteStrictMode || strings.Contains(session.Value, testToken) {
		t.Fatalf("session cookie %+v: want HttpOnly, Secure over TLS, SameSite=Strict, no token", session)
	}
	resp, _ = c.Get(hs.URL + "/ui/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/i/inst-a/" {
		t.Errorf("home of a one-institution token: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_ = resp.Body.Close()

	// A form without its CSRF token, then sign-out; the old cookie then opens nothing.
	if r := post(t, c, hs.URL+"/ui/signout", nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without the CSRF token: %d, want 403", r.StatusCode)
	}
	sess, ok := s.sessions.get(session.Value, time.Now())
	if !ok {
		t.Fatal("the session is not held")
	}
	if r := post(t, c, hs.URL+"/ui/signout", url.Values{"csrf": {sess.csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out: %d", r.StatusCode)
	}
	replay := browserless(t, hs)
	u, _ := url.Parse(hs.URL)
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: session.Value}})
	resp, _ = replay.Get(hs.URL + "/ui/")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/signin") {
		t.Errorf("a signed-out session's cookie: %d %s, want the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	_ = resp.Body.Close()

	// Idle expiry and the absolute bound.
	now := time.Now()
	ss := newSessions(time.Minute, time.Hour)
	a := ss.create("x", config.Token{}, now)
	if _, ok := ss.get(a.id, now.Add(59*time.Second)); !ok {
		t.Error("a session seen within its idle time expired")
	}
	if _, ok := ss.get(a.id, now.Add(2*time.Minute)); ok {
		t.Error("an idle session did not expire")
	}
	b := ss.create("y", config.Token{}, now)
	for i := 1; i <= 61; i++ {
		ss.get(b.id, now.Add(time.Duration(i)*59*time.Second))
	}
	if _, ok := ss.get(b.id, now.Add(60*time.Minute+30*time.Second)); ok { // seen 31 s ago, but 60.5 min old
		t.Error("a session outlived its absolute bound")
	}
}

// Over plain HTTP the cookie is not Secure (a browser would drop it), unless the console is
// told TLS ends at a gateway.
func TestSessionCookieIsSecureOnlyOverTLS(t *testing.T) {
	t.Parallel()
	_, hs := testConsole(t, false)
	c := browserless(t, hs)
	r := post(t, c, hs.URL+"/ui/signin", url.Values{"csrf": {signInForm(t, c, hs.URL)}, "token": {testToken}})
	for _, ck := range r.Cookies() {
		if ck.Name == sessionCookie && ck.Secure {
			t.Error("Secure over plain HTTP")
		}
	}
}
