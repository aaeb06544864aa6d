package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/httpapi"
)

// What the mux answers by itself is a problem like every other error; what a route answers,
// and the mux's redirects, pass through untouched.
func TestRouteProblemsAnswersUnmatchedRequestsWithProblems(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusNotFound, "no thing missing"))
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	mux.HandleFunc("POST /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	srv := httptest.NewServer(httpapi.RouteProblems(mux))
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, tc := range []struct {
		name, method, path string
		status             int
		contentType, allow string
		detail             string
	}{
		{"no route", "GET", "/v1/nothing", http.StatusNotFound, "application/problem+json", "", "no route for this path"},
		{"wrong method", "DELETE", "/v1/things/a", http.StatusMethodNotAllowed, "application/problem+json", "GET, HEAD, POST", "no route for DELETE"},
		{"a route's own 404", "GET", "/v1/things/missing", http.StatusNotFound, "application/problem+json", "", "no thing missing"},
		{"a route's answer", "GET", "/v1/things/a", http.StatusOK, "application/json", "", ""},
		{"path path value kept", "POST", "/v1/things/a", http.StatusAccepted, "", "", ""},
		{"redirect to the clean path", "GET", "/v1//things/a", http.StatusTemporaryRedirect, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || (tc.contentType != "" && resp.Header.Get("Content-Type") != tc.contentType) {
				t.Fatalf("= %d %s %q, want %d %s", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.contentType)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if tc.detail == "" {
				return
			}
			var p httpapi.Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("body %q is not one problem: %v", body, err)
			}
			if p.Status != tc.status || !strings.Contains(p.Detail, tc.detail) || p.Instance != tc.path {
				t.Errorf("problem = %+v, want status %d, detail with %q, instance %s", p, tc.status, tc.detail, tc.path)
			}
		})
	}
}
