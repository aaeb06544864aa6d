package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/retention"
)

func runRequests(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"requests"}, args...), func(k string) string { return env[k] },
		strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// `lethe requests` against a real `lethe serve`: a blocked erasure listed with its blocker and
// deadline, extended within the legal limit (refused beyond it), then refused with a reason;
// an access request recorded and answered by the export.
func TestRequestsCommands(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir())
	seedRunsInstitution(t, s)
	env := map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": s.token}

	out, stderr, err := runContacts(t, env, "erase", "--wait", runsInst, "c-old-debtor")
	if err != nil {
		t.Fatalf("erase: %v\n%s", err, stderr)
	}
	id, _, _ := strings.Cut(out, "\n")

	out, stderr, err = runRequests(t, env, "list", "--state", "blocked", runsInst)
	if err != nil {
		t.Fatalf("list: %v\n%s", err, stderr)
	}
	assertLines(t, "requests list", out, `(?m)^REQUEST +KIND +CONTACT +STATE +BLOCKER +RECEIVED +DUE`,
		`(?m)^`+id+` +erasure +c-old-debtor +blocked +debt +20\d\d-\S+ +20\d\d-`)
	if out, _, _ := runRequests(t, env, "list", "--overdue", runsInst); !strings.Contains(out, "no request") {
		t.Fatalf("list --overdue of a request received now:\n%s", out)
	}

	// Beyond three months from receipt is refused with the server's words; within, accepted.
	received := time.Now().UTC()
	tooLate := retention.LatestDue(received).AddDate(0, 0, 2).Format(time.DateOnly)
	if _, stderr, err := runRequests(t, env, "extend", "--due", tooLate, "--reason", "complex", id); err == nil {
		t.Fatalf("extend to %s succeeded, want refused", tooLate)
	} else if !strings.Contains(err.Error()+stderr, "three months") {
		t.Fatalf("extend beyond the limit: %v %s, want the limit named", err, stderr)
	}
	if _, _, err := runRequests(t, env, "extend", "--due", "2027-01-01", id); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Fatalf("extend without --reason: %v, want --reason named", err)
	}
	due := retention.AddMonths(received, 2).Format(time.DateOnly)
	out, stderr, err = runRequests(t, env, "extend", "--due", due, "--reason", "the debt is in court", id)
	if err != nil {
		t.Fatalf("extend: %v\n%s", err, stderr)
	}
	assertLines(t, "extend", out, `(?m)^state +blocked by debt$`, `(?m)^due +`+due+`T23:59:59Z$`,
		`(?m)^reason +the debt is in court$`, `(?m)^action +\S+ +extended by token:development, due `+due)

	out, stderr, err = runRequests(t, env, "refuse", "--reason", "legal obligation to keep the invoice", id)
	if err != nil {
		t.Fatalf("refuse: %v\n%s", err, stderr)
	}
	assertLines(t, "refuse", out, `(?m)^state +refused$`, `(?m)^reason +legal obligation to keep the invoice$`, `(?m)^completed +20\d\d-`)
	if _, _, err := runRequests(t, env, "retry", id); err == nil {
		t.Fatal("retry of a refused request succeeded")
	}

	out, stderr, err = runRequests(t, env, "access", runsInst, "c-old-customer")
	if err != nil {
		t.Fatalf("access: %v\n%s", err, stderr)
	}
	access, _, _ := strings.Cut(out, "\n")
	assertLines(t, "access", out, `(?m)^state +received$`)
	if _, stderr, err := runContacts(t, env, "export", runsInst, "c-old-customer"); err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	out, _, err = runRequests(t, env, "show", access)
	if err != nil {
		t.Fatal(err)
	}
	assertLines(t, "access after the export", out, `(?m)^request +`+access+` \(access\)$`, `(?m)^state +completed$`,
		`(?m)^action +\S+ +completed by token:development$`)
}
