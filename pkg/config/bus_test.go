package config_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/config"
)

// A bcrypt hash (cost 4) of a password nobody uses.
const testHash = "$2a$04$AUesn/BhM6Wejtbo8OfIeunaG8Jw3t5fWi/ABUya/7EyH00Fogfky"

func TestBusUsersParse(t *testing.T) {
	f, err := config.Parse([]byte(`bus:
  users:
    - {name: ticketing, role: publisher, institutions: [inst-a, inst_b], password_bcrypt: "` + testHash + `"}
    - name: crm-a
      role: consumer
      institutions: [inst-a]
      password_bcrypt: '` + testHash + `'
`))
	if err != nil {
		t.Fatal(err)
	}
	got := f.Bus.Users
	if len(got) != 2 || got[0].Name != "ticketing" || got[0].Role != config.RolePublisher ||
		!reflect.DeepEqual(got[0].Institutions, []string{"inst-a", "inst_b"}) || got[0].PasswordBcrypt != testHash ||
		got[1].Name != "crm-a" || got[1].Role != config.RoleConsumer {
		t.Fatalf("bus users = %+v", got)
	}
}

func TestBusUserRefusalsNameTheLine(t *testing.T) {
	user := func(fields string) string { return "bus:\n  users:\n    - " + fields + "\n" }
	ok := `password_bcrypt: "` + testHash + `"`
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown key", "bus:\n  users:\n    - name: a\n      rol: publisher\n",
			[]string{`lethe.yaml:4: field rol not found`}},
		{"unknown key under bus", "bus:\n  user: []\n", []string{`lethe.yaml:2: field user not found`}},
		{"underscore in the name", user("{name: crm_a, role: consumer, institutions: [inst-a], " + ok + "}"),
			[]string{`lethe.yaml:3: bus.users[0] (crm_a): name must be 1-64 characters of A-Z a-z 0-9 -`}},
		{"dot in the name", user("{name: crm.a, role: consumer, institutions: [inst-a], " + ok + "}"),
			[]string{`lethe.yaml:3: bus.users[0] (crm.a): name must be`}},
		{"no name", user("{role: consumer, institutions: [inst-a], " + ok + "}"),
			[]string{`lethe.yaml:3: bus.users[0] (): name is required`}},
		{"the services' name", user("{name: lethe, role: consumer, institutions: [inst-a], " + ok + "}"),
			[]string{`lethe.yaml:3: bus.users[0] (lethe): name "lethe" is the services' own user`}},
		{"twice", "bus:\n  users:\n    - {name: a, role: consumer, institutions: [i], " + ok + "}\n    - {name: a, role: publisher, institutions: [i], " + ok + "}\n",
			[]string{`lethe.yaml:4: bus.users[1] (a): user declared twice (line 3)`}},
		{"unknown role", user("{name: a, role: admin, institutions: [inst-a], " + ok + "}"),
			[]string{`lethe.yaml:3: bus.users[0] (a): role must be publisher or consumer`}},
		{"no institutions", user("{name: a, role: publisher, " + ok + "}"),
			[]string{`lethe.yaml:3: bus.users[0] (a): institutions is required`}},
		{"every institution", user("{name: a, role: publisher, institutions: ['*'], " + ok + "}"),
			[]string{`lethe.yaml:3: bus.users[0] (a): institution "*" must be an institution id`}},
		{"a subject in an institution", user("{name: a, role: publisher, institutions: [inst.>], " + ok + "}"),
			[]string{`lethe.yaml:3: bus.users[0] (a): institution "inst.>" must be an institution id`}},
		{"no password", user("{name: a, role: publisher, institutions: [i]}"),
			[]string{`lethe.yaml:3: bus.users[0] (a): password_bcrypt is required`}},
		{"a plain password", "bus:\n  users:\n    - name: a\n      role: publisher\n      institutions: [i]\n      password_bcrypt: hunter2\n",
			[]string{`lethe.yaml:6: bus.users[0] (a): password_bcrypt must be a bcrypt hash`}},
		{"a truncated hash", user("{name: a, role: publisher, institutions: [i], password_bcrypt: '" + testHash[:40] + "'}"),
			[]string{`lethe.yaml:3: bus.users[0] (a): password_bcrypt must be a bcrypt hash`}},
		{"a hash with a bad cost", user("{name: a, role: publisher, institutions: [i], password_bcrypt: '" + strings.Replace(testHash, "$04$", "$99$", 1) + "'}"),
			[]string{`lethe.yaml:3: bus.users[0] (a): password_bcrypt must be a bcrypt hash`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse([]byte(c.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", c.yaml)
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *config.Error: %v", err, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say\n  %s\ngot:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error quotes the password: %v", err)
			}
		})
	}
}
