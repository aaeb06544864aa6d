package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

const targetsInst = "inst-targets"

// seedTargetsInstitution posts four contacts and waits until the projection holds their
// consents: one who said yes to marketing by e-mail, one never asked, one who refused
// marketing, and one whose recency crosses the default 36 months within three months.
func seedTargetsInstitution(t *testing.T, s served) {
	t.Helper()
	recent := time.Now().UTC().Truncate(time.Second).AddDate(0, -1, 0)
	crossing := time.Now().UTC().Truncate(time.Second).AddDate(0, -35, 0)
	mk := func(contact string, d events.Data) event.Event {
		e, err := events.New("/test/targets", targetsInst, contact, d)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	created := func(at time.Time) *events.ContactCreated {
		return &events.ContactCreated{Role: events.RoleIndividual, CreatedAt: at, Profile: events.Profile{Email: events.String("x@example.net")}}
	}
	consent := func(at time.Time, auth map[string]string) *events.ConsentChanged {
		return &events.ConsentChanged{Authorisations: auth, ChangedAt: at}
	}
	postEvents(t, s.http, s.token,
		mk("t-yes", created(recent)), mk("t-yes", consent(recent, map[string]string{"marketing.email": "yes"})),
		mk("t-never", created(recent)),
		mk("t-refused", created(recent)), mk("t-refused", consent(recent, map[string]string{"marketing": "no"})),
		mk("t-crossing", created(crossing)), mk("t-crossing", consent(crossing, map[string]string{"marketing": "yes"})),
	)
	for _, contact := range []string{"t-yes", "t-never", "t-refused", "t-crossing"} {
		testkit.Eventually(t, contact+" folded", func() error {
			code, v := get(t, s.http+"/v1/institutions/"+targetsInst+"/contacts/"+contact, s.token)
			if code != http.StatusOK || v["recency"] == nil || (contact != "t-never" && v["authorisations"] == nil) {
				return fmt.Errorf("%d %v", code, v)
			}
			return nil
		})
	}
}

// `lethe targets` against a real server: every format, the campaign's flags, --output
// written whole with mode 0600, and the server's refusal in its words.
func TestTargetsEveryFormatAgainstServe(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir())
	seedTargetsInstitution(t, s)
	env := map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": s.token}
	marketing := []string{"t-crossing", "t-never", "t-yes"} // t-refused said no

	t.Run("table", func(t *testing.T) {
		out, stderr, err := runLethe(t, env, "targets", targetsInst, "--channel", "email")
		if err != nil {
			t.Fatalf("targets: %v\n%s", err, stderr)
		}
		assertLines(t, "the table", out, `^CONTACT +ROLE +CONSENT +RECENCY +SOURCE +CROSSES\n`,
			`(?m)^t-yes +individual +explicit +\d{4}-\d\d-\d\dT\S+Z +\S+ +-$`,
			`(?m)^t-never +individual +not_given +\S+ +\S+ +-$`,
			`(?m)^t-crossing +individual +explicit +`)
		if strings.Contains(out, "t-refused") || strings.Count(out, "\n") != 4 {
			t.Fatalf("the table lists %q, want the header and three targets, never the refusal", out)
		}
	})

	t.Run("json follows the pages", func(t *testing.T) {
		out, stderr, err := runLethe(t, env, "targets", "--format", "json", "--page-size", "1", targetsInst)
		if err != nil {
			t.Fatalf("targets: %v\n%s", err, stderr)
		}
		var got []struct {
			ContactID string `json:"contact_id"`
			Consent   string `json:"consent"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("not a JSON array: %v\n%s", err, out)
		}
		var ids []string
		for _, g := range got {
			ids = append(ids, g.ContactID)
		}
		if !slices.Equal(ids, marketing) {
			t.Fatalf("json targets = %v, want %v", ids, marketing)
		}
	})

	t.Run("ndjson streamed", func(t *testing.T) {
		out, stderr, err := runLethe(t, env, "targets", "--format", "ndjson", "--kind", "transactional", targetsInst)
		if err != nil {
			t.Fatalf("targets: %v\n%s", err, stderr)
		}
		var ids []string
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var tg struct {
				ContactID string `json:"contact_id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &tg); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			ids = append(ids, tg.ContactID)
		}
		// A transactional campaign is not filtered by marketing consent.
		if want := []string{"t-crossing", "t-never", "t-refused", "t-yes"}; !slices.Equal(ids, want) {
			t.Fatalf("ndjson targets = %v, want %v", ids, want)
		}
	})

	t.Run("csv to a file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "targets.csv")
		out, stderr, err := runLethe(t, env, "targets", targetsInst, "--format", "csv", "--channel", "email", "--explicit-consent-only", "--output", path)
		if err != nil {
			t.Fatalf("targets: %v\n%s", err, stderr)
		}
		if !regexp.MustCompile(`^wrote 2 targets of inst-targets to .*targets\.csv\n$`).MatchString(out) {
			t.Errorf("stdout %q, want the count and the file", out)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("stat %v, %v: want a file of mode 0600", fi, err)
		}
		f, _ := os.Open(path)
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil || len(rows) != 3 || rows[0][0] != "contact_id" || rows[1][0] != "t-crossing" || rows[2][0] != "t-yes" {
			t.Fatalf("csv = %v, %v; want the header and the two explicit consents", rows, err)
		}
	})

	t.Run("crossing within", func(t *testing.T) {
		out, stderr, err := runLethe(t, env, "targets", targetsInst, "--crossing-within", "P3M")
		if err != nil {
			t.Fatalf("targets: %v\n%s", err, stderr)
		}
		// Only the contact inactive within the horizon, with the date it crosses.
		assertLines(t, "the renewal table", out, `(?m)^t-crossing +individual +explicit +\S+ +\S+ +\d{4}-\d\d-\d\dT\S+Z$`)
		if strings.Count(out, "\n") != 2 {
			t.Fatalf("the renewal table lists %q, want t-crossing alone", out)
		}
	})

	t.Run("the server's refusal in its words, and no file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "targets.csv")
		_, _, err := runLethe(t, map[string]string{"LETHE_SERVER": s.http, "LETHE_TOKEN": "not-a-token"},
			"targets", targetsInst, "--format", "csv", "--output", path)
		if err == nil || err.Error() != "server answered 401 Unauthorized: unknown token" {
			t.Fatalf("err = %v, want the server's 401 in its words", err)
		}
		if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
			t.Fatalf("a refused export left %s (%v): complete or nothing", path, statErr)
		}
		if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
			t.Fatalf("%d files left, want none", len(entries))
		}
	})
}

// Invalid flag values are refused before any request, naming the flag; so are their
// environment twins.
func TestTargetsRefusesInvalidFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LETHE_SERVER": "http://127.0.0.1:1", "LETHE_TOKEN": "t"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"channel", nil, []string{"--channel", "fax"}, `--channel: want email, sms, post or phone, not "fax"`},
		{"channel twin", map[string]string{"LETHE_CHANNEL": "pigeon"}, nil, `--channel: want email, sms, post or phone, not "pigeon"`},
		{"kind", nil, []string{"--kind", "promo"}, `--kind: want marketing or transactional, not "promo"`},
		{"explicit transactional", nil, []string{"--kind", "transactional", "--explicit-consent-only"}, "--explicit-consent-only applies to marketing campaigns only"},
		{"crossing", nil, []string{"--crossing-within", "3 months"}, `--crossing-within "3 months": want a positive ISO 8601 duration`},
		{"crossing zero", nil, []string{"--crossing-within", "P0D"}, `--crossing-within "P0D"`},
		{"format", nil, []string{"--format", "xml"}, `--format: want table, csv, ndjson or json, not "xml"`},
		{"page size", nil, []string{"--page-size", "0"}, "--page-size must be between 1 and 1000"},
		{"institution", nil, []string{"--channel", "sms"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			for k, v := range tc.env {
				e[k] = v
			}
			args := append([]string{"targets"}, tc.args...)
			if tc.want != "" {
				args = append(args, targetsInst)
			}
			_, stderr, err := runLethe(t, e, args...)
			if tc.want == "" {
				if err != errUsage || !strings.Contains(stderr, "name the INSTITUTION") {
					t.Fatalf("no institution: err = %v, stderr %q; want the usage naming it", err, stderr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
