package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/httpapi"
)

// openAPIDoc is the part of the OpenAPI document the route tests read.
type openAPIDoc struct {
	Security []map[string][]string `json:"security"`
	Paths    map[string]map[string]json.RawMessage
}

// openAPIOperation is one operation; Security is nil when the operation leaves it out.
type openAPIOperation struct {
	Security *[]map[string][]string `json:"security"`
}

var openAPIMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}

// routeParam matches a path parameter the way both ServeMux patterns ({id}, {rest...}) and
// OpenAPI paths ({id}) write it.
var routeParam = regexp.MustCompile(`\{[^}]*\}`)

// normRoute is the key a route is compared under: the method and the path with every
// parameter unnamed, so "{id}" in Go and "{contact}" in the spec are the same route.
func normRoute(method, path string) string {
	path = strings.TrimSuffix(path, "{$}")
	return strings.ToUpper(method) + " " + routeParam.ReplaceAllString(path, "{}")
}

// specRoutes lists the document's operations as normRoute keys, each with its operation.
func specRoutes(t *testing.T, body []byte) (openAPIDoc, map[string]openAPIOperation, map[string][2]string) {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("the OpenAPI document is not JSON: %v", err)
	}
	ops := map[string]openAPIOperation{}
	raw := map[string][2]string{}
	for path, item := range doc.Paths {
		for method, v := range item {
			if !openAPIMethods[method] {
				continue
			}
			var op openAPIOperation
			if err := json.Unmarshal(v, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			k := normRoute(method, path)
			ops[k] = op
			raw[k] = [2]string{strings.ToUpper(method), path}
		}
	}
	if len(ops) == 0 {
		t.Fatal("the OpenAPI document has no operation")
	}
	return doc, ops, raw
}

// TestOpenAPINamesOnlyRoutesTheServerHas asks a real `lethe serve` for its document, then
// makes every request the document describes, without a token: a route the server lacks
// answers 404 or 405, a protected one 401 and an open one 200.
func TestOpenAPINamesOnlyRoutesTheServerHas(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir())
	// Every route is there once serve listens; only /readyz's own 200 waits for the consumers.
	waitContact(t, s.http+"/readyz", "")

	resp, err := http.Get(s.http + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw json.RawMessage
	err = json.NewDecoder(resp.Body).Decode(&raw)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET /v1/openapi.json: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json = %d %s, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	doc, ops, names := specRoutes(t, raw)

	keys := make([]string, 0, len(ops))
	for k := range ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		method, path := names[k][0], names[k][1]
		security := doc.Security
		if ops[k].Security != nil {
			security = *ops[k].Security
		}
		want := http.StatusOK
		if protected(security) {
			want = http.StatusUnauthorized
		}
		url := s.http + routeParam.ReplaceAllString(path, "dummy-1")
		req, _ := http.NewRequest(method, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		code, ct := resp.StatusCode, resp.Header.Get("Content-Type")
		resp.Body.Close()
		switch {
		case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
			t.Errorf("%s %s = %d: the spec names a route the server does not have", method, path, code)
		case code != want:
			t.Errorf("%s %s without a token = %d, want %d (the spec's security says so)", method, path, code, want)
		case want == http.StatusUnauthorized && ct != "application/problem+json":
			t.Errorf("%s %s: 401 is %q, want application/problem+json", method, path, ct)
		}
	}
}

// protected: every requirement names a scheme, so no anonymous request is allowed.
func protected(security []map[string][]string) bool {
	if len(security) == 0 {
		return false
	}
	for _, req := range security {
		if len(req) == 0 {
			return false
		}
	}
	return true
}

// TestOpenAPIDescribesEveryRoute reads the route patterns in the services' sources (every
// "METHOD /path" string literal: the patterns given to Handle and HandleFunc, and ingest's
// Route) and checks that the document describes each one.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	httpapi.OpenAPI().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	_, ops, _ := specRoutes(t, rec.Body.Bytes())

	// The services, and pkg/server, which registers the routes of the process itself.
	files, err := filepath.Glob("../*/*.go")
	if err != nil {
		t.Fatal(err)
	}
	composition, err := filepath.Glob("../../pkg/server/*.go")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, composition...)
	pattern := regexp.MustCompile(`"(GET|POST|PUT|DELETE|PATCH) (/[^"]*)"`)
	found := map[string]string{} // route → where
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			for _, m := range pattern.FindAllStringSubmatch(line, -1) {
				// The console's pages (services/console, /ui/) are HTML for a browser, not
				// the API: they call the API's routes, which the spec describes.
				if m[2] == "/ui" || strings.HasPrefix(m[2], "/ui/") {
					continue
				}
				found[normRoute(m[1], m[2])] = fmt.Sprintf("%s:%d", f, i+1)
			}
		}
	}
	// The scan must see the routes of pkg/server and of every service, or it proves nothing.
	for _, must := range []string{
		normRoute("GET", "/healthz"), normRoute("GET", "/v1/openapi.json"), normRoute("POST", "/v1/events"),
		normRoute("GET", "/v1/institutions/{inst}/contacts/{id}"), normRoute("GET", "/v1/institutions/{inst}/runs/{run}"),
		normRoute("GET", "/v1/requests/{id}"),
	} {
		if _, ok := found[must]; !ok {
			t.Errorf("the scan of ../*/*.go and pkg/server did not find %s", must)
		}
	}
	routes := make([]string, 0, len(found))
	for r := range found {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		if _, ok := ops[r]; !ok {
			t.Errorf("%s (%s) is not in pkg/httpapi/openapi.json", r, found[r])
		}
	}
}
