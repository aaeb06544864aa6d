package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// The reference downstream consumer (examples/crm-consumer), built and run as a CRM team
// would run it against a real lethe serve: one copy confirming over HTTP with its token, one
// on its inbox subject as its bus user. Each erases the erased contact from its toy store,
// keeps the others, and Lethe records both confirmations.
func TestExampleCRMConsumerConfirms(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to build examples/crm-consumer: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "crm-consumer")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "..", "examples", "crm-consumer")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build examples/crm-consumer: %v\n%s", err, out)
	}

	const inst = "inst-x"
	httpToken, dpo := randomHex(16), randomHex(16)
	crmH := bustest.BusUser(t, "crm-h", config.RoleConsumer, "crm-h-pw", inst)
	crmN := bustest.BusUser(t, "crm-n", config.RoleConsumer, "crm-n-pw", inst)
	yaml := fmt.Sprintf(`destinations:
  - {name: crm-h, institutions: [%[1]s]}
  - {name: crm-n, institutions: [%[1]s]}
tokens:
  - {name: dpo, sha256: %[2]q, institutions: [%[1]s], scopes: [ingest, read, erase]}
  - {name: crm-h, sha256: %[3]q, institutions: [%[1]s], scopes: [ingest], destination: crm-h}
bus:
  users:
    - {name: crm-h, role: consumer, institutions: [%[1]s], password_bcrypt: '%[4]s', destination: crm-h}
    - {name: crm-n, role: consumer, institutions: [%[1]s], password_bcrypt: '%[5]s', destination: crm-n}
`, inst, hashHex(dpo), hashHex(httpToken), crmH.PasswordBcrypt, crmN.PasswordBcrypt)
	cfg := filepath.Join(dir, "lethe.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServeTokens(t, filepath.Join(dir, "data"), false, "--config", cfg)
	s.token = dpo

	created, _ := events.New("/test/crm", inst, "c-1", events.ContactCreated{Role: events.RoleIndividual, CreatedAt: time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)})
	postEvents(t, s.http, dpo, created)
	waitContact(t, s.http+"/v1/institutions/"+inst+"/contacts/c-1", dpo)
	out, stderr, err := runContacts(t, map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": dpo}, "erase", "--wait", inst, "c-1")
	if err != nil {
		t.Fatalf("erase: %v\n%s%s", err, out, stderr)
	}
	reqID, _, _ := strings.Cut(out, "\n")

	stores := map[string]string{}
	for _, c := range []struct{ user, password, confirm string }{{"crm-h", "crm-h-pw", "http"}, {"crm-n", "crm-n-pw", "nats"}} {
		store := filepath.Join(dir, c.user+".json")
		if err := os.WriteFile(store, []byte(`{"c-1": {"email": "ada@crm.example"}, "c-2": {"email": "grace@crm.example"}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		stores[c.user] = store
		cmd := exec.Command(bin, "--nats-url", s.nats, "--user", c.user, "--institution", inst, "--destination", c.user,
			"--store", store, "--confirm", c.confirm, "--lethe-url", s.http)
		cmd.Env = append(os.Environ(), "CRM_NATS_PASSWORD="+c.password, "CRM_LETHE_TOKEN="+httpToken)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s exited with %v:\n%s", c.user, err, logs.String())
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Errorf("%s did not stop on SIGINT:\n%s", c.user, logs.String())
			}
		})
	}

	testkit.Eventually(t, "both destinations' confirmations recorded", func() error {
		got := destinationsOf(t, s, inst)
		for _, d := range []string{"crm-h", "crm-n"} {
			if v := got[d]; v == nil || v["confirmed"] != float64(1) || v["unconfirmed"] != float64(0) {
				return fmt.Errorf("%s: %v", d, got[d])
			}
		}
		return nil
	})
	// Lethe erased and both confirmed: the request is completed.
	testkit.Eventually(t, "the request completed", func() error {
		code, v := get(t, s.http+"/v1/requests/"+reqID, dpo)
		if code != 200 || v["state"] != "completed" {
			return fmt.Errorf("%d %v", code, v["state"])
		}
		return nil
	})
	for user, store := range stores {
		b, err := os.ReadFile(store)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "c-1") || !strings.Contains(string(b), "grace@crm.example") {
			t.Errorf("%s's store after the erasure of c-1:\n%s", user, b)
		}
	}
}
