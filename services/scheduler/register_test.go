package scheduler_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/services/scheduler"
)

var updateRegisterGolden = flag.Bool("update-register", false, "rewrite testdata/register.* from the current output")

func regHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// regYAML is a lethe.yaml as an operator writes it: inst-a declares its register (with a
// pipe and a would-be spreadsheet formula in its texts), inst-b declares none.
func regYAML() string {
	return `tokens:
  - name: dpo
    sha256: "` + regHash("reg-dpo") + `"
    institutions: [inst-a, inst-b]
    scopes: [read]
  - name: ticketing
    sha256: "` + regHash("reg-ingest") + `"
    institutions: [inst-a]
    scopes: [ingest]
  - name: elsewhere
    sha256: "` + regHash("reg-other") + `"
    institutions: [inst-c]
    scopes: [read, admin, erase]
institutions:
  - id: inst-a
    register:
      - category: identity
        purpose: "identify the contact"
        legal_basis: contract
        recipients: [institution, lethe]
        retention: {after_last_activity: P12M}
      - category: email
        purpose: "log in | run bookings"
        legal_basis: contract
        recipients: [institution, lethe]
        retention: {after_last_activity: P12M}
      - category: orders
        purpose: "=HYPERLINK(\"http://evil.example\")"
        legal_basis: contract
        recipients: [institution]
        retention: {after_last_activity: P1Y}
      - category: activity
        purpose: "date the last activity"
        legal_basis: legal_obligation
        recipients: [lethe]
        retention: {after_last_activity: P12M}
      - category: consents
        purpose: "prove consent"
        legal_basis: legal_obligation
        recipients: [institution, lethe]
        retention: {after_last_activity: P12M}
      - category: billing
        purpose: "never erase a debtor"
        legal_basis: legal_obligation
        recipients: [institution, lethe]
        retention: {after_last_activity: P12M}
      - category: legal_hold
        purpose: "never erase under legal hold"
        legal_basis: legal_obligation
        recipients: [institution, lethe]
        retention: {after_last_activity: P12M}
      - category: remarks
        purpose: "the institution's notes"
        legal_basis: legitimate_interest
        recipients: [institution]
        retention: {until_event: lethe.erasure.requested.v1}
      - category: technical
        purpose: "security and proper functioning"
        legal_basis: legitimate_interest
        recipients: [lethe]
        retention: {after_collection: P12M}
`
}

// regServer serves the scheduler's routes for regYAML on a real listener.
func regServer(t *testing.T) *httptest.Server {
	t.Helper()
	cfg, err := config.Parse([]byte(regYAML()))
	if err != nil {
		t.Fatalf("lethe.yaml: %v", err)
	}
	_, js := platformtest.Bus(t)
	svc, err := scheduler.New(platformtest.Deps(t, js, backendtest.Pebble(t), cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type regResponse struct {
	status int
	header http.Header
	body   []byte
}

func regGet(t *testing.T, srv *httptest.Server, inst, token, accept string) regResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/institutions/"+inst+"/register", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return regResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateRegisterGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-register to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestRegisterJSONIsTheDefault(t *testing.T) {
	t.Parallel()
	srv := regServer(t)
	for _, accept := range []string{"", "application/json", "*/*", "text/html, application/json;q=0.9"} {
		r := regGet(t, srv, "inst-a", "reg-dpo", accept)
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("Accept %q: %d %s %s", accept, r.status, r.header.Get("Content-Type"), r.body)
		}
		var v api.RegisterView
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatal(err)
		}
		if v.Institution != "inst-a" || !v.Declared || v.InactivityMonths != 12 || len(v.Entries) != 9 {
			t.Fatalf("register %+v", v)
		}
		tech := v.Entries[8]
		if tech.Category != "technical" || tech.Retention.AfterCollection != "P12M" || tech.RetentionText != "12 months after collection" ||
			tech.EnforcedBy != "technical-data purge" || tech.LegalBasis != "legitimate_interest" || len(tech.Fields) == 0 {
			t.Errorf("technical entry %+v", tech)
		}
		if e := v.Entries[2]; e.Retention.AfterLastActivity != "P1Y" || e.RetentionText != "1 year after the last activity" || e.EnforcedBy != "inactivity runs" {
			t.Errorf("orders entry %+v", e)
		}
		if e := v.Entries[7]; e.Retention.UntilEvent != "lethe.erasure.requested.v1" || e.EnforcedBy != "on-demand erasure" {
			t.Errorf("remarks entry %+v", e)
		}
	}
}

func TestRegisterMarkdownAndCSV(t *testing.T) {
	t.Parallel()
	srv := regServer(t)

	md := regGet(t, srv, "inst-a", "reg-dpo", "text/markdown")
	if md.status != http.StatusOK || md.header.Get("Content-Type") != "text/markdown; charset=utf-8" {
		t.Fatalf("markdown: %d %s", md.status, md.header.Get("Content-Type"))
	}
	golden(t, "register.md", md.body)
	lines := strings.Split(strings.TrimSpace(string(md.body)), "\n")
	table := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "|") {
			table++
			// A pipe inside a cell is escaped: every row has the header's 8 separators.
			if n := strings.Count(l, "|") - strings.Count(l, `\|`); n != 8 {
				t.Errorf("row with %d cell separators: %s", n, l)
			}
		}
	}
	if table != 2+9 {
		t.Errorf("%d table rows, want header, rule and 9 entries", table)
	}

	c := regGet(t, srv, "inst-a", "reg-dpo", "text/csv")
	if c.status != http.StatusOK || c.header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(c.header.Get("Content-Disposition"), "inst-a-register.csv") {
		t.Fatalf("csv: %d %v", c.status, c.header)
	}
	golden(t, "register.csv", c.body)
	rows, err := csv.NewReader(bytes.NewReader(c.body)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v", err)
	}
	if len(rows) != 10 || rows[0][0] != "category" {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	byCat := map[string][]string{}
	for _, r := range rows[1:] {
		byCat[r[0]] = r
	}
	if r := byCat["technical"]; r[5] != "after_collection" || r[6] != "P12M" || r[4] != "lethe" {
		t.Errorf("technical row %v", r)
	}
	if r := byCat["email"]; r[2] != "log in | run bookings" || r[4] != "institution; lethe" {
		t.Errorf("email row %v", r)
	}
	if r := byCat["orders"]; !strings.HasPrefix(r[2], "'=") {
		t.Errorf("a formula is exported as is: %q", r[2])
	}

	// q values decide.
	if r := regGet(t, srv, "inst-a", "reg-dpo", "text/csv;q=0.5, text/markdown"); !strings.HasPrefix(r.header.Get("Content-Type"), "text/markdown") {
		t.Errorf("q values ignored: %s", r.header.Get("Content-Type"))
	}
	if r := regGet(t, srv, "inst-a", "reg-dpo", "*/*;q=0.8, text/csv"); !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Errorf("an exact type must beat a wildcard: %s", r.header.Get("Content-Type"))
	}
}

func TestRegisterDefaultForAnInstitutionThatDeclaresNone(t *testing.T) {
	t.Parallel()
	srv := regServer(t)
	r := regGet(t, srv, "inst-b", "reg-dpo", "")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var v api.RegisterView
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Declared || v.InactivityMonths != config.DefaultInactivityMonths || len(v.Entries) != len(config.Categories)-1 {
		t.Fatalf("default register %+v", v)
	}
	for _, e := range v.Entries {
		if e.Category == config.CategoryTechnical {
			t.Error("the default register declares technical data")
		}
		if e.Retention.AfterLastActivity != "P36M" {
			t.Errorf("%s: %+v", e.Category, e.Retention)
		}
	}
	md := regGet(t, srv, "inst-b", "reg-dpo", "text/markdown")
	if !bytes.Contains(md.body, []byte("Default register")) {
		t.Errorf("the Markdown does not say the register is the default:\n%s", md.body)
	}
}

func TestRegisterRefusals(t *testing.T) {
	t.Parallel()
	srv := regServer(t)
	cases := []struct {
		name, inst, token, accept string
		status                    int
	}{
		{"no token", "inst-a", "", "", http.StatusUnauthorized},
		{"unknown token", "inst-a", "nobody", "", http.StatusUnauthorized},
		{"no read scope", "inst-a", "reg-ingest", "", http.StatusForbidden},
		{"another institution", "inst-a", "reg-other", "", http.StatusForbidden},
		{"a format it does not serve", "inst-a", "reg-dpo", "application/xml", http.StatusNotAcceptable},
		{"refused explicitly", "inst-a", "reg-dpo", "application/json;q=0", http.StatusNotAcceptable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := regGet(t, srv, c.inst, c.token, c.accept)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q, want application/problem+json", ct)
			}
			var p httpapi.Problem
			if err := json.Unmarshal(r.body, &p); err != nil || p.Status != c.status {
				t.Errorf("problem %s: %v", r.body, err)
			}
		})
	}
}
