package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/testkit"
	"github.com/lethe-gdpr/lethe/pkg/token"
)

// What lethe token prints is a working token and its configuration: pasted into lethe.yaml,
// lethe serve loads it, authenticates the printed token with its scopes and institutions,
// and prints no development token; the file holds the token's hash, never the token.
// lethe probe, the containers' healthcheck, says when that server is ready.
func TestTokenPrintsATokenItsLineAuthenticates(t *testing.T) {
	t.Parallel()
	var out, errs strings.Builder
	if err := run(context.Background(), []string{"token", "--name", "crm reader", "--institutions", "inst-a", "--scopes", "read"}, func(string) string { return "" }, strings.NewReader(""), &out, &errs); err != nil {
		t.Fatalf("lethe token: %v (%s)", err, errs.String())
	}
	m := regexp.MustCompile(`(?m)^LETHE_TOKEN=(\S+)\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no LETHE_TOKEN= line in %q", out.String())
	}
	plain := m[1]
	entry := out.String()[len(m[0]):]
	if strings.Contains(entry, plain) || !strings.Contains(entry, token.Hash(plain)) {
		t.Fatalf("the lines to paste %q: want the token's SHA-256 and not the token", entry)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "lethe.yaml")
	if err := os.WriteFile(cfg, []byte("tokens:\n"+entry+"institutions:\n  - {id: inst-a}\n  - {id: inst-b}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServeTokens(t, filepath.Join(dir, "data"), false, "--config", cfg)
	testkit.Eventually(t, "lethe probe of /readyz", func() error {
		return run(context.Background(), []string{"probe", "--url", s.http + "/readyz"}, func(string) string { return "" }, strings.NewReader(""), &out, &errs)
	})
	if err := run(context.Background(), []string{"probe", "--url", s.http + "/nowhere"}, func(string) string { return "" }, strings.NewReader(""), &out, &errs); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("lethe probe of a 404 = %v, want a failure naming it", err)
	}

	register := "/v1/institutions/%s/register"
	for _, tc := range []struct {
		path, tok string
		want      int
	}{
		{strings.Replace(register, "%s", "inst-a", 1), plain, http.StatusOK},
		{strings.Replace(register, "%s", "inst-b", 1), plain, http.StatusForbidden}, // not its institution
		{"/v1/audit/verify", plain, http.StatusForbidden},                           // not its scope
		{strings.Replace(register, "%s", "inst-a", 1), plain + "x", http.StatusUnauthorized},
	} {
		if code, body := get(t, s.http+tc.path, tc.tok); code != tc.want {
			t.Errorf("GET %s = %d %v, want %d", tc.path, code, body, tc.want)
		}
	}
}

// A token lethe serve would refuse is not printed.
func TestTokenRefusesWhatTheConfigRefuses(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"token", "--scopes", "read"}, {"token", "--institutions", "inst-a", "--scopes", "root"}} {
		var out, errs strings.Builder
		err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errs)
		if err == nil || out.Len() != 0 {
			t.Errorf("lethe %v = %v, printed %q; want a refusal and nothing printed", args, err, out.String())
		}
	}
}
