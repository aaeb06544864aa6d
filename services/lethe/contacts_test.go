package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// runContacts runs `lethe contacts …` as main would, with the given environment.
func runContacts(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"contacts"}, args...), func(k string) string { return env[k] },
		strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func postEvents(t *testing.T, server, token string, es ...event.Event) {
	t.Helper()
	if status, body := postEventsStatus(t, server, token, es...); status != http.StatusAccepted {
		t.Fatalf("POST /v1/events = %d %s", status, body)
	}
}

// The client commands against a real `lethe serve`: events in through ingest, where the
// personal values are sealed, out through the export, where they are opened.
func TestContactsShowAndExport(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir())
	const (
		email = "grace.hopper@example.net"
		first = "Grace-Brewster"
		guest = "Murray-Hopper"
	)
	at := time.Now().UTC().Truncate(time.Second).AddDate(0, -2, 0)
	mk := func(d events.Data) event.Event {
		e, err := events.New("/test/cli", "inst-a", "c-cli", d)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	postEvents(t, s.http, s.token,
		mk(&events.ContactCreated{Role: events.RoleIndividual, CreatedAt: at,
			Profile: events.Profile{Email: events.String(email), FirstName: events.String(first)}}),
		mk(&events.OrderPlaced{OrderID: "o-9", OrderedAt: at.AddDate(0, 0, 1), ContactRole: events.ContactRoleBuyer,
			Items: []events.Item{{ProductID: "p", Dated: false, Beneficiary: &events.Beneficiary{LastName: events.String(guest)}}}}),
	)
	env := map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": s.token}

	// show: the projection, with no personal value, once both events are folded.
	var shown map[string]any
	testkit.Eventually(t, "the contact to become a customer", func() error {
		out, _, err := runContacts(t, env, "show", "inst-a", "c-cli")
		if err == nil {
			if err := json.Unmarshal([]byte(out), &shown); err != nil {
				t.Fatalf("show printed %q: %v", out, err)
			}
			if shown["kind"] == "customer" {
				if !strings.Contains(out, "\n  \"") {
					t.Errorf("show is not indented for a person: %q", out)
				}
				if strings.Contains(out, email) || strings.Contains(out, first) {
					t.Fatalf("show printed a personal value: %s", out)
				}
				return nil
			}
		} else if apiErr := (*client.APIError)(nil); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
			t.Fatalf("show: %v", err)
		}
		return fmt.Errorf("show = %v: %w", shown, err)
	})
	if shown["id"] != "c-cli" || shown["recency"] == nil {
		t.Errorf("show = %v", shown)
	}

	// export to a file: decrypted, and only the owner may read it.
	file := filepath.Join(t.TempDir(), "c-cli.json")
	if err := os.WriteFile(file, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runContacts(t, nil, "export", "--server", s.http, "--token", s.token, "inst-a", "c-cli", "--output", file)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if !strings.Contains(out, file) || strings.Contains(out, email) {
		t.Errorf("export said %q", out)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, want 0600", fi.Mode().Perm())
	}
	doc, _ := os.ReadFile(file)
	var x struct {
		ContactID string `json:"contact_id"`
		Profile   []struct {
			Field, Value, State string
		} `json:"profile"`
		Orders []struct {
			Items []struct {
				Beneficiary struct {
					LastName struct{ Value, State string } `json:"last_name"`
				} `json:"beneficiary"`
			} `json:"items"`
		} `json:"orders"`
		Audit []struct{ Action, Actor string } `json:"audit"`
	}
	if err := json.Unmarshal(doc, &x); err != nil {
		t.Fatalf("export file %q: %v", doc, err)
	}
	values := map[string]string{}
	for _, f := range x.Profile {
		values[f.Field] = f.Value + "/" + f.State
	}
	if values["email"] != email+"/decrypted" || values["first_name"] != first+"/decrypted" {
		t.Errorf("exported profile = %v", values)
	}
	if len(x.Orders) != 1 || len(x.Orders[0].Items) != 1 || x.Orders[0].Items[0].Beneficiary.LastName.Value != guest {
		t.Errorf("exported orders = %+v", x.Orders)
	}
	if len(x.Audit) != 1 || x.Audit[0].Action != "exported" || !strings.HasPrefix(x.Audit[0].Actor, "token:") {
		t.Errorf("exported audit = %+v, want this export", x.Audit)
	}

	// export to standard output, configured from the environment.
	out, _, err = runContacts(t, env, "export", "inst-a", "c-cli")
	if err != nil || !strings.Contains(out, email) || !strings.Contains(out, `"contact_id": "c-cli"`) {
		t.Errorf("export to stdout = %v %q", err, out)
	}

	// A contact the server does not know: the server's reason, not a stack of errors.
	_, _, err = runContacts(t, env, "export", "inst-a", "nobody")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("export of an unknown contact = %v", err)
	}
	// A wrong token.
	_, _, err = runContacts(t, nil, "show", "--server", s.http, "--token", "not-a-token", "inst-a", "c-cli")
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Errorf("show with a wrong token = %v", err)
	}
}

func TestContactsUsage(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LETHE_SERVER": "http://127.0.0.1:1", "LETHE_TOKEN": "t"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want error
		text string
	}{
		{"no subcommand", env, nil, errUsage, "Usage: lethe contacts"},
		{"unknown subcommand", env, []string{"forget", "i", "c"}, errUsage, `unknown subcommand "forget"`},
		{"missing contact", env, []string{"show", "inst-a"}, errUsage, "name the INSTITUTION and the CONTACT"},
		{"too many arguments", env, []string{"export", "inst-a", "c", "d"}, errUsage, "name the INSTITUTION and the CONTACT"},
		{"show has no --output", env, []string{"show", "--output", "x", "inst-a", "c"}, errUsage, "flag provided but not defined"},
		{"show has no --wait", env, []string{"show", "--wait", "inst-a", "c"}, errUsage, "flag provided but not defined: -wait"},
		{"erase has no --output", env, []string{"erase", "--output", "x", "inst-a", "c"}, errUsage, "flag provided but not defined: -output"},
		{"erase without contact", env, []string{"erase", "--wait", "inst-a"}, errUsage, "lethe contacts erase: name the INSTITUTION and the CONTACT"},
		{"erase without token", map[string]string{}, []string{"erase", "inst-a", "c"}, errNoToken, ""},
		{"erase, unreachable server", env, []string{"erase", "inst-a", "c", "--wait"}, client.ErrUnreachable, ""},
		{"no token", map[string]string{}, []string{"show", "inst-a", "c"}, errNoToken, ""},
		{"an id that is not one path segment", env, []string{"export", "inst-a", "../c"}, nil, ""},
		{"unreachable server", env, []string{"show", "inst-a", "c"}, client.ErrUnreachable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runContacts(t, tc.env, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.text != "" && !strings.Contains(stderr, tc.text) {
				t.Errorf("stderr %q does not say %q", stderr, tc.text)
			}
		})
	}
}

// `lethe contacts erase` against a real `lethe serve`: the request id, and with --wait what
// the anonymiser did, whichever way it went.
func TestContactsErase(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir())
	seedRunsInstitution(t, s)
	env := map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": s.token}

	for _, tc := range []struct {
		contact string
		args    []string
		want    []string
	}{
		{"c-old-customer", []string{"--reason", "the subject asked by letter"},
			[]string{`(?m)^state +completed$`, `(?m)^outcome +anonymised$`, `(?m)^erased +.*profile\.email`, `(?m)^completed +20\d\d-`}},
		// Blocked is not the end: --wait returns with the request open, its blocker named.
		{"c-old-debtor", nil, []string{`(?m)^state +blocked by debt$`, `(?m)^outcome +skipped \(debt\)$`, `(?m)^due +20\d\d-`}},
	} {
		out, stderr, err := runContacts(t, env, append([]string{"erase", "--wait", runsInst, tc.contact}, tc.args...)...)
		if err != nil {
			t.Fatalf("erase %s: %v\n%s", tc.contact, err, stderr)
		}
		req, report, _ := strings.Cut(out, "\n")
		if !strings.HasPrefix(req, "req_") {
			t.Fatalf("erase %s printed %q first, want the request id", tc.contact, req)
		}
		assertLines(t, "erase "+tc.contact, report, append([]string{`(?m)^contact +` + tc.contact + ` of ` + runsInst + `$`}, tc.want...)...)
		if tc.contact != "c-old-customer" && strings.Contains(report, "erased") {
			t.Errorf("erase %s lists erased fields:\n%s", tc.contact, report)
		}
	}
	if code, v := get(t, s.http+"/v1/institutions/"+runsInst+"/contacts/c-old-customer", s.token); code != http.StatusOK || v["status"] != "anonymised" {
		t.Errorf("c-old-customer after its erasure: %d %v", code, v)
	}

	// Nothing to erase is not a success: a contact Lethe does not hold (404), and one erased
	// already (409, with its state), exit non-zero with the reason and print no request id.
	for _, tc := range []struct {
		contact string
		status  int
		says    string
	}{
		{"c-nobody", http.StatusNotFound, "no contact c-nobody of " + runsInst + " is held by Lethe: nothing to erase"},
		{"c-old-customer", http.StatusConflict, "contact c-old-customer of " + runsInst + " is already anonymised"},
	} {
		out, _, err := runContacts(t, env, "erase", "--wait", runsInst, tc.contact)
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != tc.status || !strings.Contains(err.Error(), tc.says) || out != "" {
			t.Errorf("erase %s = %v, stdout %q; want %d saying %q", tc.contact, err, out, tc.status, tc.says)
		}
	}

	// Without --wait: the id alone, and the request is the server's to follow.
	out, _, err := runContacts(t, env, "erase", runsInst, "c-old-prospect")
	if err != nil || !regexp.MustCompile(`^req_[0-9a-f]+\n$`).MatchString(out) {
		t.Fatalf("erase without --wait = %v %q, want the request id alone", err, out)
	}
	if code, v := get(t, s.http+"/v1/requests/"+strings.TrimSpace(out), s.token); code != http.StatusOK || v["contact_id"] != "c-old-prospect" {
		t.Errorf("GET the request printed: %d %v", code, v)
	}

	// The server's refusal, in its words: a contact id outside the id rule.
	out, _, err = runContacts(t, env, "erase", runsInst, "c 1", "--wait")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "the contact id must be") || out != "" {
		t.Errorf("erase of an invalid id = %v, stdout %q", err, out)
	}
}
