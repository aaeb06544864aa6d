package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// engineEntries declares the categories the engine always stores, so a test register is
// complete and only the entries under test decide the outcome.
const engineEntries = `
      - category: identity
        purpose: "identify the contact"
        legal_basis: contract
        recipients: [institution, lethe]
        retention: {after_last_activity: P36M}
      - category: orders
        purpose: "sell and deliver"
        legal_basis: contract
        recipients: [institution, lethe]
        retention: {after_last_activity: P36M}
      - category: activity
        purpose: "date the last activity"
        legal_basis: legal_obligation
        recipients: [lethe]
        retention: {after_last_activity: P36M}
      - category: consents
        purpose: "prove consent"
        legal_basis: legal_obligation
        recipients: [institution, lethe]
        retention: {after_last_activity: P36M}
      - category: billing
        purpose: "never erase a debtor"
        legal_basis: legal_obligation
        recipients: [institution, lethe]
        retention: {after_last_activity: P36M}
      - category: legal_hold
        purpose: "never erase under legal hold"
        legal_basis: legal_obligation
        recipients: [institution, lethe]
        retention: {after_last_activity: P36M}`

// withRegister is a lethe.yaml whose inst-a declares the engine's categories and then extra,
// whose first line is line 34 (35 with a one-line head).
func withRegister(head, extra string) string {
	return "institutions:\n  - id: inst-a\n" + head + "    register:" + engineEntries + extra + "\n"
}

func TestValidRegisterParses(t *testing.T) {
	f, err := config.Parse([]byte(withRegister("", `
      - category: email
        purpose: "log in; run bookings"
        legal_basis: contract
        recipients: [institution, lethe]
        retention: {after_last_activity: P3Y}
      - category: technical
        purpose: "security and proper functioning"
        legal_basis: legitimate_interest
        recipients: [lethe]
        retention: {after_collection: P12M}
      - category: remarks
        purpose: "notes"
        legal_basis: legitimate_interest
        recipients: [institution]
        retention: {until_event: lethe.erasure.requested.v1}
      - category: email
        purpose: "a second purpose for the same data, same clock"
        legal_basis: consent
        recipients: [institution]
        retention: {after_last_activity: P36M}`)))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	in, ok := f.Institution("inst-a")
	if !ok {
		t.Fatal("inst-a not found")
	}
	if in.InactivityMonths != 36 {
		t.Errorf("inactivity_months left out: got %d, want 36 from the register", in.InactivityMonths)
	}
	reg, declared := in.EffectiveRegister()
	if !declared || len(reg) != 10 {
		t.Fatalf("register: declared %v, %d entries", declared, len(reg))
	}
	if reg[0].Line() != 4 {
		t.Errorf("first entry line = %d, want 4", reg[0].Line())
	}
	p, ok := in.TechnicalRetention()
	if !ok || p.String() != "P12M" {
		t.Errorf("technical retention = %v, %v", p, ok)
	}
	if got := reg[7].RetentionText(); got != "12 months after collection" {
		t.Errorf("retention text %q", got)
	}
	if got := reg[6].RetentionText(); got != "3 years after the last activity" {
		t.Errorf("retention text %q", got)
	}
	if got := reg[8].Enforcement(); got != "on-demand erasure" {
		t.Errorf("enforcement %q", got)
	}
}

func TestInactivityMonthsTakenFromTheRegisterWhenLeftOut(t *testing.T) {
	reg := strings.ReplaceAll(engineEntries, "P36M", "P2Y")
	f, err := config.Parse([]byte("institutions:\n  - id: inst-a\n    register:" + reg + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := f.Institution("inst-a")
	if in.InactivityMonths != 24 {
		t.Fatalf("inactivity_months = %d, want 24 (P2Y)", in.InactivityMonths)
	}
	// Given and equal is fine too.
	if _, err := config.Parse([]byte("institutions:\n  - id: inst-a\n    inactivity_months: 24\n    register:" + reg + "\n")); err != nil {
		t.Fatal(err)
	}
}

func TestRegisterRefusalsNameTheLine(t *testing.T) {
	entry := func(category, basis, retention string) string {
		return "\n      - category: " + category + "\n        purpose: \"p\"\n        legal_basis: " + basis +
			"\n        recipients: [lethe]\n        retention: " + retention
	}
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown category", withRegister("", entry("emial", "contract", "{after_last_activity: P36M}")),
			[]string{`lethe.yaml:34: register entry 7 of inst-a: unknown category "emial"; did you mean "email"?`}},
		{"unknown legal basis", withRegister("", entry("email", "contrat", "{after_last_activity: P36M}")),
			[]string{`lethe.yaml:36: register entry 7 of inst-a: unknown legal_basis "contrat"`}},
		{"negative duration", withRegister("", entry("email", "contract", "{after_last_activity: -P12M}")),
			[]string{`lethe.yaml:38: register entry 7 of inst-a: after_last_activity "-P12M": a negative duration`}},
		{"zero duration", withRegister("", entry("technical", "legitimate_interest", "{after_collection: P0D}")),
			[]string{`lethe.yaml:38: register entry 7 of inst-a: after_collection "P0D": a zero duration`}},
		{"garbage duration", withRegister("", entry("technical", "legitimate_interest", "{after_collection: 12 months}")),
			[]string{`lethe.yaml:38: register entry 7 of inst-a: after_collection "12 months": not an ISO 8601 duration`}},
		{"no clock", withRegister("", entry("email", "contract", "{}")),
			[]string{`lethe.yaml:38: register entry 7 of inst-a: retention needs one clock`}},
		{"two clocks", withRegister("", entry("technical", "contract", "{after_collection: P12M, until_event: lethe.erasure.requested.v1}")),
			[]string{`lethe.yaml:38: register entry 7 of inst-a: retention has 2 clocks (after_collection, until_event)`}},
		{"unknown clock", withRegister("", entry("email", "contract", "{after_colection: P12M}")),
			[]string{`lethe.yaml:38: field after_colection not found`}},
		{"after_last_activity in days", withRegister("", entry("email", "contract", "{after_last_activity: P400D}")),
			[]string{`lethe.yaml:38: register entry 7 of inst-a: after_last_activity "P400D" must be whole months or years`}},
		{"contradicts inactivity_months", withRegister("    inactivity_months: 36\n", entry("email", "contract", "{after_last_activity: P12M}")),
			[]string{`lethe.yaml:39: register entry 7 of inst-a: after_last_activity P12M contradicts inactivity_months 36`}},
		{"two periods without inactivity_months", withRegister("", entry("email", "contract", "{after_last_activity: P12M}")),
			[]string{`lethe.yaml:3: register of inst-a: the after_last_activity entries give different periods (P36M, P12M)`}},
		{"after_collection on a category not dated by collection", withRegister("", entry("email", "contract", "{after_collection: P12M}")),
			[]string{`lethe.yaml:38: register entry 7 of inst-a: after_collection is enforced for the technical category only`}},
		{"technical on the inactivity clock", withRegister("", entry("technical", "legitimate_interest", "{after_last_activity: P36M}")),
			[]string{`lethe.yaml:38: register entry 7 of inst-a: technical data is kept on the after_collection clock`}},
		{"until an unknown event", withRegister("", entry("remarks", "contract", "{until_event: contract.terminated}")),
			[]string{`lethe.yaml:38: register entry 7 of inst-a: until_event "contract.terminated" is not an event type of the contract`}},
		{"until an event the engine does not erase on", withRegister("", entry("remarks", "contract", "{until_event: lethe.waitlist.joined.v1}")),
			[]string{`lethe.yaml:38: register entry 7 of inst-a: until_event "lethe.waitlist.joined.v1": the engine erases on lethe.erasure.requested.v1 only`}},
		{"one category, two clocks", withRegister("", entry("technical", "legitimate_interest", "{after_collection: P12M}")+entry("technical", "consent", "{after_collection: P6M}")),
			[]string{`lethe.yaml:43: register entry 8 of inst-a: category technical already has the retention after_collection P12M (line 38)`}},
		{"missing fields", withRegister("", "\n      - category: email\n        retention: {after_last_activity: P36M}"),
			[]string{`lethe.yaml:34: register entry 7 of inst-a: purpose is required`, `lethe.yaml:34: register entry 7 of inst-a: legal_basis is required`, `lethe.yaml:34: register entry 7 of inst-a: recipients is required`}},
		{"engine category not declared", "institutions:\n  - id: inst-a\n    register:\n" + entry("email", "contract", "{after_last_activity: P36M}")[1:] + "\n",
			[]string{`lethe.yaml:3: register of inst-a: the engine stores identity, orders, activity, consents, billing, legal_hold for every contact, but the register does not declare identity, orders, activity, consents, billing, legal_hold`}},
		{"retention as a scalar", withRegister("", entry("email", "contract", "P12M")),
			[]string{`lethe.yaml:38: cannot unmarshal !!str`}},
		{"audit retention", "audit:\n  retention: -P1Y\n", []string{`lethe.yaml:2: audit.retention "-P1Y": a negative duration`}},
		{"trusted proxy", "trusted_proxies: [10.0.0.0/8, proxy.local]\n", []string{`lethe.yaml:1: trusted_proxies: "proxy.local" is neither an IP address nor a CIDR prefix`}},
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
		})
	}
}

func TestLoadNamesTheFileInEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site.yaml")
	yaml := "institutions:\n  - id: inst-a\n    register:\n      - category: emial\n        purpose: p\n        legal_basis: nope\n        recipients: [lethe]\n        retention: {after_last_activity: P36M}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) < 3 {
		t.Fatalf("want one line per problem, got %q", err)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, path+":") {
			t.Errorf("problem does not start with the file name: %q", l)
		}
	}
	if !strings.HasPrefix(lines[0], path+":3: ") || !strings.HasPrefix(lines[1], path+":4: ") || !strings.HasPrefix(lines[2], path+":6: ") {
		t.Errorf("problems not in file order with their lines:\n%v", err)
	}
}

func TestNoConfigGetsTheDefaultRegister(t *testing.T) {
	f, err := config.Parse(nil)
	if err != nil {
		t.Fatalf("an empty configuration must start: %v", err)
	}
	in, declared := f.Institution("inst-z")
	if declared {
		t.Fatal("inst-z is not declared")
	}
	reg, fromFile := in.EffectiveRegister()
	if fromFile {
		t.Fatal("the default register is not declared")
	}
	if _, ok := in.TechnicalRetention(); ok {
		t.Error("the default register must not turn on technical-data capture")
	}
	var names []string
	for _, e := range reg {
		names = append(names, e.Category)
		if e.Retention.AfterLastActivity != "P36M" {
			t.Errorf("%s: retention %+v, want after_last_activity P36M", e.Category, e.Retention)
		}
	}
	for _, c := range config.Categories {
		if c.Name != config.CategoryTechnical && !slices.Contains(names, c.Name) {
			t.Errorf("default register lacks %s", c.Name)
		}
	}
	// The default register, written out, is a valid declared register.
	decl := config.File{Institutions: []config.Institution{{ID: "inst-z", InactivityMonths: 24, Mode: "simulation", Register: config.DefaultRegister(24)}}}
	if err := decl.Validate(); err != nil {
		t.Fatalf("the default register does not validate: %v", err)
	}
}

func TestAuditRetention(t *testing.T) {
	f, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	if got, want := f.AuditRetention().Before(now), time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("default audit cut-off %s, want %s", got, want)
	}
	f, err = config.Parse([]byte("audit:\n  retention: P2Y\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.AuditRetention().String(); got != "P2Y" {
		t.Errorf("audit retention %s, want P2Y", got)
	}
}

func TestTrustedProxies(t *testing.T) {
	f, err := config.Parse([]byte("trusted_proxies: [10.0.0.0/8, 192.0.2.7, \"::1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range f.TrustedProxyPrefixes() {
		got = append(got, p.String())
	}
	if want := []string{"10.0.0.0/8", "192.0.2.7/32", "::1/128"}; !slices.Equal(got, want) {
		t.Errorf("prefixes %v, want %v", got, want)
	}
}

func TestActivityMaxAgeIsTheShortestTechnicalWindow(t *testing.T) {
	tech := func(id, window string) config.Institution {
		return config.Institution{ID: id, Register: []config.RegisterEntry{{Category: config.CategoryTechnical, Retention: config.Retention{AfterCollection: window}}}}
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	def := 365 * 24 * time.Hour
	if got := (config.File{}).ActivityMaxAge(now, def); got != def {
		t.Errorf("no technical data: %v, want the default", got)
	}
	f := config.File{Institutions: []config.Institution{tech("a", "P12M"), tech("b", "P30D"), {ID: "c"}}}
	if got := f.ActivityMaxAge(now, def); got != 30*24*time.Hour {
		t.Errorf("got %v, want 30 days", got)
	}
}

// Every field of the projection belongs to one category, or is bookkeeping: a field added to
// store.Contact without a category fails here, so the register cannot fall behind the engine.
func TestCategoriesCoverTheProjection(t *testing.T) {
	covered := map[string]string{}
	for _, c := range config.Categories {
		for _, f := range c.Fields {
			top, _, _ := strings.Cut(f, ".")
			if prev, ok := covered[top]; ok && prev != c.Name && top != "profile" && top != "orders" {
				t.Errorf("field %s is in %s and %s", top, prev, c.Name)
			}
			covered[top] = c.Name
		}
	}
	for _, f := range config.BookkeepingFields {
		covered[f] = "bookkeeping"
	}
	ct := reflect.TypeFor[store.Contact]()
	for i := range ct.NumField() {
		name, _, _ := strings.Cut(ct.Field(i).Tag.Get("json"), ",")
		if _, ok := covered[name]; !ok {
			t.Errorf("store.Contact.%s (%s) is in no category", ct.Field(i).Name, name)
		}
	}
	// Every profile field the contract carries maps to a category.
	var walk func(prefix string, t reflect.Type)
	var profile []string
	walk = func(prefix string, rt reflect.Type) {
		for rt.Kind() == reflect.Pointer {
			rt = rt.Elem()
		}
		for i := range rt.NumField() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			ft := rt.Field(i).Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft.Kind() == reflect.Struct:
				walk(prefix+name+".", ft)
			case ft.Kind() == reflect.Map:
				profile = append(profile, prefix+name+".anything")
			default:
				profile = append(profile, prefix+name)
			}
		}
	}
	walk("", reflect.TypeFor[events.Profile]())
	if len(profile) < 10 {
		t.Fatalf("walked only %v", profile)
	}
	for _, p := range profile {
		if config.CategoryOfProfileField(p) == "" {
			t.Errorf("profile field %s is in no category", p)
		}
	}
	if got := config.CategoryOfProfileField("address.city"); got != config.CategoryPostalAddress {
		t.Errorf("address.city → %q", got)
	}
}
