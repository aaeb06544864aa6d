package config_test

import (
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/config"
)

func TestDestinationsParse(t *testing.T) {
	f, err := config.Parse([]byte(`destinations:
  - {name: crm-a, institutions: [inst-a, inst-b]}
  - {name: mailer, institutions: [inst-b]}
tokens:
  - {name: crm-a, sha256: "` + strings.Repeat("ab", 32) + `", institutions: [inst-a], scopes: [ingest], destination: crm-a}
bus:
  users:
    - {name: crm-a, role: consumer, institutions: [inst-a], password_bcrypt: "` + testHash + `", destination: crm-a}
`))
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := f.Destination("crm-a"); !ok || !d.Follows("inst-b") || d.Follows("inst-c") {
		t.Errorf("Destination(crm-a) = %+v, %v", d, ok)
	}
	var names []string
	for _, d := range f.DestinationsOf("inst-b") {
		names = append(names, d.Name)
	}
	if strings.Join(names, ",") != "crm-a,mailer" {
		t.Errorf("DestinationsOf(inst-b) = %v", names)
	}
	if f.Tokens[0].Destination != "crm-a" || f.Bus.Users[0].Destination != "crm-a" {
		t.Errorf("token %+v, bus user %+v: destination not read", f.Tokens[0], f.Bus.Users[0])
	}
}

func TestDestinationRefusalsNameTheLine(t *testing.T) {
	tok := `sha256: "` + strings.Repeat("ab", 32) + `", institutions: [inst-a], scopes: [ingest]`
	cases := []struct{ name, yaml, want string }{
		{"a bad name", "destinations:\n  - {name: crm_a, institutions: [inst-a]}\n",
			`lethe.yaml:2: destinations[0] (crm_a): name must be 1-64 characters of A-Z a-z 0-9 -`},
		{"twice", "destinations:\n  - {name: a, institutions: [i]}\n  - {name: a, institutions: [i]}\n",
			`lethe.yaml:3: destinations[1] (a): destination declared twice`},
		{"no institutions", "destinations:\n  - {name: a}\n", `lethe.yaml:2: destinations[0] (a): institutions is required`},
		{"a token for an unknown destination", "tokens:\n  - {name: t, " + tok + ", destination: nobody}\n",
			`lethe.yaml:2: tokens[0] (t): destination "nobody" is not declared under destinations`},
		{"a bus user for an unknown destination", "bus:\n  users:\n    - {name: u, role: consumer, institutions: [inst-a], password_bcrypt: \"" + testHash + "\", destination: nobody}\n",
			`lethe.yaml:3: bus.users[0] (u): destination "nobody" is not declared under destinations`},
		{"a bus user beyond its destination", "destinations:\n  - {name: d, institutions: [inst-a]}\nbus:\n  users:\n    - {name: u, role: consumer, institutions: [inst-a, inst-b], password_bcrypt: \"" + testHash + "\", destination: d}\n",
			`lethe.yaml:5: bus.users[0] (u): institution "inst-b" is not one destination d follows`},
		{"a short signing key", "receipts:\n  signing_key: abc\n", `lethe.yaml:2: receipts.signing_key: must be a base64 Ed25519 private key`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant %s", err, c.want)
			}
		})
	}
}
