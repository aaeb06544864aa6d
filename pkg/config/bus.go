package config

import (
	"fmt"
	"regexp"
	"slices"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// Roles a bus user may have. The list is closed: a role the bus does not know would get
// no permissions at best and a guessed set at worst.
const (
	// RolePublisher may publish only to lethe.inbox.<institution> of its institutions.
	RolePublisher = "publisher"
	// RoleConsumer may only create, read and acknowledge its own durable consumers on
	// LETHE_RESULTS, filtered to its institutions.
	RoleConsumer = "consumer"
)

// ServiceBusUser is the name the services connect to the bus as; no bus user may take it,
// since whoever holds it reaches every stream.
const ServiceBusUser = "lethe"

// Bus is `bus:` in lethe.yaml: who besides the services may connect to the bus.
type Bus struct {
	Users []BusUser `yaml:"users"`
}

// BusUser is one upstream publisher or downstream consumer of the bus. Its password is stored
// as a bcrypt hash, which NATS checks itself, so lethe.yaml never holds a bus password.
type BusUser struct {
	// Name is the NATS user name, also the prefix of its durable consumers (<name> or
	// <name>_<institution>) and of its reply inbox (_INBOX.<name>); it has no `_`, so that
	// `_` separates the name from the institution.
	Name         string   `yaml:"name"`
	Role         string   `yaml:"role"`
	Institutions []string `yaml:"institutions"`
	// PasswordBcrypt is the bcrypt hash of the password ($2a$, $2b$ or $2y$): NATS would take
	// anything else for a plain-text password.
	PasswordBcrypt string `yaml:"password_bcrypt"`
	// Destination, when set, is the downstream destination (destinations[].name) the user
	// speaks for: it may then also publish that destination's confirmations to
	// lethe.inbox.<institution>.<destination> of its institutions (every one of which the
	// destination must follow).
	Destination string `yaml:"destination"`

	lines lines
}

var (
	busNamePattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	bcryptPattern  = regexp.MustCompile(`^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$`)
)

func (u BusUser) lineOf(key string) int { return u.lines.of(key) }

// validate names every problem of the bus users. Institutions become subject tokens and
// durable names, so each must be an institution id (no `*`: a bus user is never granted
// every institution).
func (b Bus) validate(add func(line int, format string, args ...any)) {
	seen := map[string]int{}
	for i, u := range b.Users {
		where := fmt.Sprintf("bus.users[%d] (%s)", i, u.Name)
		switch {
		case u.Name == "":
			add(u.lineOf(""), "%s: name is required", where)
		case !busNamePattern.MatchString(u.Name):
			add(u.lineOf("name"), "%s: name must be 1-64 characters of A-Z a-z 0-9 - (no _, which separates a durable's user from its institution)", where)
		case u.Name == ServiceBusUser:
			add(u.lineOf("name"), "%s: name %q is the services' own user", where, ServiceBusUser)
		}
		if first, dup := seen[u.Name]; dup && u.Name != "" {
			add(u.lineOf("name"), "%s: user declared twice (line %d)", where, first)
		}
		seen[u.Name] = u.lineOf("name")
		if !slices.Contains([]string{RolePublisher, RoleConsumer}, u.Role) {
			add(u.lineOf("role"), "%s: role must be publisher or consumer", where)
		}
		if len(u.Institutions) == 0 {
			add(u.lineOf(""), "%s: institutions is required", where)
		}
		for _, in := range u.Institutions {
			if !idPattern.MatchString(in) {
				add(u.lineOf("institutions"), "%s: institution %q must be an institution id (1-64 characters of A-Z a-z 0-9 _ -)", where, in)
			}
		}
		if u.PasswordBcrypt == "" {
			add(u.lineOf(""), "%s: password_bcrypt is required", where)
		} else if _, err := bcrypt.Cost([]byte(u.PasswordBcrypt)); err != nil || !bcryptPattern.MatchString(u.PasswordBcrypt) {
			// The value is not quoted: it may be a password pasted in the wrong field.
			add(u.lineOf("password_bcrypt"), "%s: password_bcrypt must be a bcrypt hash ($2a$…, 60 characters; e.g. from nats server passwd)", where)
		}
	}
}

// attachBusLines records where each bus user, and each of its keys, stand in the file.
func attachBusLines(top *yaml.Node, b *Bus) {
	users := mapValue(mapValue(top, "bus"), "users")
	if users == nil || users.Kind != yaml.SequenceNode {
		return
	}
	for i, n := range users.Content {
		if i < len(b.Users) {
			b.Users[i].lines = keyLines(n, 1)
		}
	}
}
