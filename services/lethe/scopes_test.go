package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/client"
)

// tokensYAML declares a reports token (read) and a DPO token (read and export) on inst-a,
// with the plain values given, so tests can use them.
func tokensYAML(reports, dpo string) string {
	return fmt.Sprintf(`tokens:
  - {name: reports, sha256: %q, institutions: [inst-a], scopes: [read]}
  - {name: dpo, sha256: %q, institutions: [inst-a], scopes: [read, export]}
`, hashHex(reports), hashHex(dpo))
}

// hashHex is how lethe.yaml stores a token: the hex of its SHA-256.
func hashHex(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Reading reports is not reading personal data: `lethe contacts export` with a read-only
// token is refused by the server (403 problem+json) and the command says which scope is
// missing; a token with export gets past the check (here to the 404 of an unknown contact).
func TestContactsExportNeedsTheExportScope(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lethe.yaml")
	if err := os.WriteFile(cfg, []byte(tokensYAML("reports-token", "dpo-token")), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServeTokens(t, filepath.Join(dir, "data"), false, "--config", cfg)

	req, _ := http.NewRequest(http.MethodGet, s.http+"/v1/institutions/inst-a/contacts/c-1/export", nil)
	req.Header.Set("Authorization", "Bearer reports-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("export with a read token = %d %s, want 403 problem+json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	out, _, err := runContacts(t, map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": "reports-token"}, "export", "inst-a", "c-1")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden || out != "" ||
		!strings.Contains(err.Error(), "needs a token with the export scope") {
		t.Errorf("lethe contacts export with a read token = %v, stdout %q; want the 403 naming the export scope", err, out)
	}
	_, _, err = runContacts(t, map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": "dpo-token"}, "export", "inst-a", "c-1")
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Errorf("lethe contacts export with an export token = %v, want the unknown contact's 404", err)
	}
}
