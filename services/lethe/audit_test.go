package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/pebblestore"
)

// auditServer serves the real verify handler over a real Pebble store, behind a bearer check.
func auditServer(t *testing.T) (store.Audit, *httptest.Server) {
	t.Helper()
	s, err := pebblestore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	verify := audit.VerifyHandler(s.Audit())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/audit/verify", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer admin-token" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"title":"Unauthorized","status":401,"detail":"unknown token"}`)
			return
		}
		verify.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s.Audit(), srv
}

func TestAuditVerify(t *testing.T) {
	t.Parallel()
	a, srv := auditServer(t)
	ctx := context.Background()
	env := map[string]string{"LETHE_SERVER": srv.URL, "LETHE_TOKEN": "admin-token"}
	getenv := func(k string) string { return env[k] }
	verify := func(args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := run(ctx, append([]string{"audit", "verify"}, args...), getenv, strings.NewReader(""), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}

	log := audit.New(a)
	var head store.AuditEntry
	for n := 1; n <= 3; n++ {
		var err error
		head, err = log.Record(ctx, store.AuditEntry{Institution: "inst-a", ContactID: fmt.Sprintf("c%d", n),
			Actor: "run:r-1", Action: "deleted", Key: fmt.Sprintf("erase:%d", n)})
		if err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := verify()
	if want := fmt.Sprintf("audit chain intact: 3 entries, seq 1..3, head %s\n", head.Hash); err != nil || out != want {
		t.Fatalf("intact chain: %q, %v; want %q", out, err, want)
	}

	// An entry written past the Log, chained correctly but with a forged hash.
	forged := store.AuditEntry{Seq: 4, At: head.At, Institution: "inst-a", Actor: "run:r-1", Action: "deleted",
		Key: "erase:4", PrevHash: head.Hash, Hash: strings.Repeat("0", 64)}
	if err := a.Append(ctx, forged); err != nil {
		t.Fatal(err)
	}
	out, _, err = verify()
	if err == nil || !strings.Contains(err.Error(), "broken at seq 4") || out != "" {
		t.Fatalf("broken chain: stdout %q, err %v; want an error naming seq 4 and nothing printed", out, err)
	}

	// Flags win over the environment; a wrong token is the server's refusal, not a verdict.
	if _, _, err := verify("--token", "wrong"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: err = %v, want the 401", err)
	}
	env["LETHE_TOKEN"] = ""
	if _, _, err := verify(); !errors.Is(err, errNoToken) {
		t.Fatalf("no token: err = %v, want errNoToken", err)
	}
	if _, _, err := verify("extra"); !errors.Is(err, errUsage) {
		t.Fatalf("extra argument: err = %v, want errUsage", err)
	}
	var stderr bytes.Buffer
	if err := run(ctx, []string{"audit", "check"}, getenv, nil, &bytes.Buffer{}, &stderr); !errors.Is(err, errUsage) ||
		!strings.Contains(stderr.String(), "lethe audit verify") {
		t.Fatalf("unknown subcommand: err = %v, stderr %q", err, stderr.String())
	}
}
