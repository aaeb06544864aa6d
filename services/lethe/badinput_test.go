package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// A body trickled in (slow loris) is cut off at the server's read deadline: the connection
// gets a 408 problem or is closed, rather than held with a buffer sized from the declared
// Content-Length. The deadline is short here so the test is quick; nothing is timed but
// the test's own safety net, far beyond it.
func TestServeCutsOffASlowBody(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir(), "--read-timeout", "300ms")
	addr := strings.TrimPrefix(s.http, "http://")
	// Each route declares a length under its own body limit, so only the deadline can stop it.
	for path, length := range map[string]string{
		"/v1/events": "10000000", "/v1/institutions/inst-a/runs": "100000", "/v1/institutions/inst-a/contacts/c-1/erasure": "10000",
	} {
		t.Run(path, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Headers declaring a large body, then two bytes, then nothing.
			req := "POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + s.token +
				"\r\nContent-Type: application/json\r\nContent-Length: " + length + "\r\n\r\n[{"
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				t.Fatal("the server neither answered nor closed the connection: the slow body holds it")
			case err != nil: // closed: cut off without an answer
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("POST %s with a slow body = %d %s, want 408 problem+json or a closed connection",
					path, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			// And the connection is not kept for another request.
			_, _ = io.Copy(io.Discard, resp.Body)
			if _, err := conn.Read(make([]byte, 1)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
				t.Errorf("after the 408 the connection stays open (%v)", err)
			}
		})
	}
}

// Every error the API answers is application/problem+json (RFC 9457), whoever asks: the
// sweep makes each request of the OpenAPI document without a token, with a token that
// covers neither the scope nor the institution, and with a token that may do everything
// (on ids that do not exist, without a body), then every path with a method it lacks, and a
// path that is no route. Only /readyz's 503 is JSON of its own, as the document says: a
// probe reads it.
func TestEveryErrorIsProblemJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lethe.yaml")
	yaml := tokensYAML("reports-token", "dpo-token") + `  - {name: all, sha256: "` + hashHex("all-token") + `", institutions: ["*"], scopes: [ingest, read, admin, erase, export]}
  - {name: narrow, sha256: "` + hashHex("narrow-token") + `", institutions: [inst-b], scopes: [ingest]}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServeTokens(t, filepath.Join(dir, "data"), false, "--config", cfg)
	// Every route is there once serve listens; readiness is awaited for /readyz's own answer.
	waitContact(t, s.http+"/readyz", "")

	raw := fetchSpec(t, s.http)
	_, ops, names := specRoutes(t, raw)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(ops))
	for k := range ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	errorsSeen := 0
	check := func(method, path, token string, wantStatus int) {
		t.Helper()
		req, _ := http.NewRequest(method, s.http+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if wantStatus != 0 && resp.StatusCode != wantStatus {
			t.Errorf("%s %s = %d, want %d", method, path, resp.StatusCode, wantStatus)
		}
		if resp.StatusCode < 400 || (path == "/readyz" && resp.StatusCode == http.StatusServiceUnavailable) {
			return
		}
		errorsSeen++
		var p struct {
			Title  string `json:"title"`
			Status int    `json:"status"`
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(body, &p) != nil || p.Status != resp.StatusCode || p.Title == "" {
			t.Errorf("%s %s (token %q) = %d %s %q: want an application/problem+json problem", method, path, token, resp.StatusCode, ct, body)
		}
		if resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s = 405 without Allow", method, path)
		}
	}
	for _, k := range keys {
		method, path := names[k][0], routeParam.ReplaceAllString(names[k][1], "dummy-1")
		for _, token := range []string{"", "narrow-token", "reports-token", "all-token"} {
			check(method, path, token, 0)
		}
	}
	for p, item := range doc.Paths {
		path := routeParam.ReplaceAllString(p, "dummy-1")
		for _, m := range []string{"PATCH", "PUT", "DELETE"} {
			if _, ok := item[strings.ToLower(m)]; !ok {
				check(m, path, "all-token", http.StatusMethodNotAllowed)
			}
		}
	}
	check(http.MethodGet, "/v1/no-such-route", "all-token", http.StatusNotFound)
	check(http.MethodGet, "/", "", http.StatusNotFound)
	if errorsSeen < len(keys) {
		t.Fatalf("only %d error answers for %d operations: the sweep proves little", errorsSeen, len(keys))
	}
}

func fetchSpec(t *testing.T, base string) []byte {
	t.Helper()
	resp, err := http.Get(base + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/openapi.json = %d %v", resp.StatusCode, err)
	}
	return b
}
