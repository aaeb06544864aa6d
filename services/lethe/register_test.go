package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/client"
)

// registerYAML declares inst-a's register, technical data included; no tokens, so serve
// prints its development token.
const registerYAML = `institutions:
  - id: inst-a
    register:
      - {category: identity, purpose: "identify the contact", legal_basis: contract, recipients: [institution, lethe], retention: {after_last_activity: P12M}}
      - {category: email, purpose: "log in; run bookings", legal_basis: contract, recipients: [institution, lethe], retention: {after_last_activity: P12M}}
      - {category: orders, purpose: "sell and deliver", legal_basis: contract, recipients: [institution], retention: {after_last_activity: P12M}}
      - {category: activity, purpose: "date the last activity", legal_basis: legal_obligation, recipients: [lethe], retention: {after_last_activity: P12M}}
      - {category: consents, purpose: "prove consent", legal_basis: legal_obligation, recipients: [institution, lethe], retention: {after_last_activity: P12M}}
      - {category: billing, purpose: "never erase a debtor", legal_basis: legal_obligation, recipients: [institution, lethe], retention: {after_last_activity: P12M}}
      - {category: legal_hold, purpose: "never erase under legal hold", legal_basis: legal_obligation, recipients: [institution, lethe], retention: {after_last_activity: P12M}}
      - {category: technical, purpose: "security and proper functioning", legal_basis: legitimate_interest, recipients: [lethe], retention: {after_collection: P12M}}
`

func runRegister(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"register"}, args...), func(k string) string { return env[k] },
		strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// `lethe register` against a real `lethe serve` started on a lethe.yaml with a register.
func TestRegisterCommandPrintsEveryFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "lethe.yaml")
	if err := os.WriteFile(cfgPath, []byte(registerYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, filepath.Join(dir, "data"), "--config", cfgPath)
	env := map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": s.token}

	out, stderr, err := runRegister(t, env, "inst-a")
	if err != nil {
		t.Fatalf("lethe register: %v\n%s", err, stderr)
	}
	var v struct {
		Institution      string `json:"institution"`
		Declared         bool   `json:"declared"`
		InactivityMonths int    `json:"inactivity_months"`
		Entries          []struct {
			Category  string            `json:"category"`
			Retention map[string]string `json:"retention"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if v.Institution != "inst-a" || !v.Declared || v.InactivityMonths != 12 || len(v.Entries) != 8 ||
		v.Entries[7].Category != "technical" || v.Entries[7].Retention["after_collection"] != "P12M" {
		t.Fatalf("register %+v", v)
	}

	// Flags win over the environment.
	out, _, err = runRegister(t, env, "--format", "markdown", "inst-z")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "# Register of processing activities — inst-z") || !strings.Contains(out, "Default register") ||
		!strings.Contains(out, "| email | e-mail address |") {
		t.Errorf("markdown for an undeclared institution:\n%s", out)
	}

	out, _, err = runRegister(t, env, "inst-a", "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 9 || rows[0][0] != "category" || rows[8][0] != "technical" || rows[8][5] != "after_collection" {
		t.Errorf("csv (%v):\n%s", err, out)
	}
}

func TestRegisterCommandRefusals(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LETHE_SERVER": "http://127.0.0.1:1", "LETHE_TOKEN": "t"}
	if _, stderr, err := runRegister(t, env); !errors.Is(err, errUsage) || !strings.Contains(stderr, "lethe register INST") {
		t.Errorf("no institution: %v %q", err, stderr)
	}
	// The institution is an argument everywhere; the old flag is refused, not taken.
	if _, stderr, err := runRegister(t, env, "--institution", "inst-a"); !errors.Is(err, errUsage) || !strings.Contains(stderr, "-institution") {
		t.Errorf("--institution: %v %q, want a usage error naming the flag", err, stderr)
	}
	if _, _, err := runRegister(t, env, "inst-a", "--format", "pdf"); err == nil || !strings.Contains(err.Error(), "pdf") {
		t.Errorf("bad format: %v", err)
	}
	if _, _, err := runRegister(t, map[string]string{}, "inst-a"); !errors.Is(err, errNoToken) {
		t.Errorf("no token: %v", err)
	}
	if _, _, err := runRegister(t, env, "a/b"); err == nil || !strings.Contains(err.Error(), "URL path") {
		t.Errorf("an id that is not one path segment: %v", err)
	}
	if _, _, err := runRegister(t, env, "inst-a"); !errors.Is(err, client.ErrUnreachable) {
		t.Errorf("no server: %v", err)
	}
}

func TestRegisterCommandShowsTheServersProblem(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir())
	_, _, err := runRegister(t, map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": "not-a-token"}, "inst-a")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || !strings.Contains(err.Error(), "unknown token") {
		t.Fatalf("error %v, want the server's 401 problem", err)
	}
}

// A register that contradicts itself stops `lethe serve` before anything starts, naming the
// file and the line.
func TestServeRefusesAnInvalidRegister(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "lethe.yaml")
	bad := strings.Replace(registerYAML, "category: email,", "category: emial,", 1)
	bad = strings.Replace(bad, "after_collection: P12M", "after_collection: -P12M", 1)
	if err := os.WriteFile(cfgPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--config", cfgPath},
		func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	if err == nil {
		t.Fatal("serve started on an invalid register")
	}
	for _, want := range []string{cfgPath + `:5: register entry 2 of inst-a: unknown category "emial"`, cfgPath + `:11: register entry 8 of inst-a: after_collection "-P12M": a negative duration`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Errorf("serve created its data directory before refusing the configuration")
	}
}
