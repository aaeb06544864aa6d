package config

import (
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"
)

// Destination is one downstream system (a CRM, a mailing tool) that copies contacts from
// LETHE_RESULTS and confirms, with lethe.erasure.confirmed.v1, that it erased its copy. Lethe
// expects one confirmation from every destination following an outcome's institution.
type Destination struct {
	// Name is how tokens (tokens[].destination), bus users (bus.users[].destination) and
	// confirmations name it: 1-64 of A-Z a-z 0-9 -, a NATS subject token.
	Name         string   `yaml:"name"`
	Institutions []string `yaml:"institutions"`

	lines lines
}

// Receipts is `receipts:` in lethe.yaml.
type Receipts struct {
	// SigningKey is the base64 Ed25519 private key (its 32-byte seed, or the 64-byte key) that
	// signs erasure receipts; when empty, one is generated once under --data (mode 0600).
	SigningKey string `yaml:"signing_key"`
}

func (d Destination) lineOf(key string) int { return d.lines.of(key) }

// Follows reports whether the destination copies institution's outcomes.
func (d Destination) Follows(institution string) bool {
	return slices.Contains(d.Institutions, institution)
}

// Destination returns the destination called name, and whether it is declared.
func (f File) Destination(name string) (Destination, bool) {
	for _, d := range f.Destinations {
		if d.Name == name {
			return d, true
		}
	}
	return Destination{}, false
}

// DestinationsOf returns the destinations following institution, in lethe.yaml's order:
// each outcome of that institution awaits a confirmation from every one.
func (f File) DestinationsOf(institution string) []Destination {
	var out []Destination
	for _, d := range f.Destinations {
		if d.Follows(institution) {
			out = append(out, d)
		}
	}
	return out
}

// validateDestinations names every problem of destinations, and of the bus users that speak
// for one: such a user's institutions must all be followed by its destination, since its
// right to publish confirmations is granted per institution.
func (f File) validateDestinations(add func(line int, format string, args ...any)) {
	seen := map[string]bool{}
	for i, d := range f.Destinations {
		where := fmt.Sprintf("destinations[%d] (%s)", i, d.Name)
		if !busNamePattern.MatchString(d.Name) {
			add(d.lineOf("name"), "%s: name must be 1-64 characters of A-Z a-z 0-9 -", where)
		}
		if seen[d.Name] {
			add(d.lineOf("name"), "%s: destination declared twice", where)
		}
		seen[d.Name] = true
		if len(d.Institutions) == 0 {
			add(d.lineOf(""), "%s: institutions is required", where)
		}
		for _, in := range d.Institutions {
			if !idPattern.MatchString(in) {
				add(d.lineOf("institutions"), "%s: institution %q must be an institution id (1-64 characters of A-Z a-z 0-9 _ -)", where, in)
			}
		}
	}
	for i, u := range f.Bus.Users {
		if u.Destination == "" {
			continue
		}
		where := fmt.Sprintf("bus.users[%d] (%s)", i, u.Name)
		d, ok := f.Destination(u.Destination)
		if !ok {
			add(u.lineOf("destination"), "%s: destination %q is not declared under destinations", where, u.Destination)
			continue
		}
		for _, in := range u.Institutions {
			if !d.Follows(in) {
				add(u.lineOf("institutions"), "%s: institution %q is not one destination %s follows", where, in, d.Name)
			}
		}
	}
	if k := f.Receipts.SigningKey; k != "" && len(k) < 40 {
		add(f.lines.of("receipts.signing_key"), "receipts.signing_key: must be a base64 Ed25519 private key")
	}
}

// attachDestinationLines records where each destination, and each of its keys, stand.
func attachDestinationLines(top *yaml.Node, ds []Destination) {
	n := mapValue(top, "destinations")
	if n == nil || n.Kind != yaml.SequenceNode {
		return
	}
	for i, e := range n.Content {
		if i < len(ds) {
			ds[i].lines = keyLines(e, 1)
		}
	}
}
