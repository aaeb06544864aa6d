package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// Scopes a token may carry. Erase is kept apart from admin so that whoever reads reports and
// starts simulations cannot by that alone erase.
const (
	ScopeIngest = "ingest"
	ScopeRead   = "read"
	ScopeAdmin  = "admin"
	ScopeErase  = "erase"
	// ScopeExport is the only scope that reads decrypted personal data (the right-of-access
	// export): a token that reads reports does not by that alone read the people in them.
	ScopeExport = "export"
)

// AnyInstitution, in a token's institutions, covers every institution (the development token).
const AnyInstitution = "*"

// DefaultInactivityMonths is the period the seeds' batch proposes by default (3 years).
const DefaultInactivityMonths = 36

// File is lethe.yaml.
type File struct {
	Tokens       []Token       `yaml:"tokens"`
	Institutions []Institution `yaml:"institutions"`
	// MasterKey is a base64 256-bit key wrapping every contact's data key; when empty, one is
	// generated once under --data (mode 0600).
	MasterKey string `yaml:"master_key"`
	// MaxBodyBytes bounds an HTTP request body (413 beyond). Default 10 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Audit holds the audit log's settings.
	Audit Audit `yaml:"audit"`
	// TrustedProxies are the reverse proxies (CIDR prefixes or single addresses) whose
	// X-Forwarded-For ingest believes when it records a request's IP address. Empty: the
	// address is the connection's, and X-Forwarded-For is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Bus lists the bus users besides the services (bus.go).
	Bus Bus `yaml:"bus"`
	// Destinations are the downstream systems that copy contacts from LETHE_RESULTS and
	// confirm their own erasures (destinations.go).
	Destinations []Destination `yaml:"destinations"`
	// Receipts holds the signing key of erasure receipts (destinations.go).
	Receipts Receipts `yaml:"receipts"`

	lines lines
}

// Audit is `audit:` in lethe.yaml.
type Audit struct {
	// Retention is how long audit entries are kept (ISO 8601, default P12M); read it through
	// File.AuditRetention.
	Retention string `yaml:"retention"`
}

// DefaultAuditRetention is how long audit entries are kept when lethe.yaml does not say: a
// year, as the seeds keep their logs.
const DefaultAuditRetention = "P12M"

// AuditRetention is how long the audit log keeps an entry: the anonymiser purges entries
// recorded before AuditRetention().Before(now) (store.Audit.PurgeBefore). It is a calendar
// Period, not a time.Duration, so that "P12M" means twelve calendar months.
func (f File) AuditRetention() Period {
	if p, err := ParsePeriod(f.Audit.Retention); err == nil {
		return p
	}
	return MustPeriod(DefaultAuditRetention)
}

// TrustedProxyPrefixes returns TrustedProxies parsed (a single address is a /32 or /128).
// Validate refuses any that does not parse, so none is dropped here silently after it.
func (f File) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range f.TrustedProxies {
		if p, err := parseProxy(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parseProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Token is one bearer token, stored as the SHA-256 of its value.
type Token struct {
	Name         string   `yaml:"name"`
	SHA256       string   `yaml:"sha256"`
	Institutions []string `yaml:"institutions"`
	Scopes       []string `yaml:"scopes"`
	// Destination, when set, is the downstream destination (destinations[].name) the token
	// speaks for: it may send lethe.erasure.confirmed.v1 for that destination only.
	Destination string `yaml:"destination"`

	lines lines
}

// Covers reports whether the token may act on institution.
func (t Token) Covers(institution string) bool {
	return slices.Contains(t.Institutions, AnyInstitution) || slices.Contains(t.Institutions, institution)
}

// Has reports whether the token carries scope.
func (t Token) Has(scope string) bool { return slices.Contains(t.Scopes, scope) }

// Institution is one tenant's retention policy.
type Institution struct {
	ID               string          `yaml:"id"`
	InactivityMonths int             `yaml:"inactivity_months"`
	Schedule         string          `yaml:"schedule"`
	Mode             string          `yaml:"mode"`
	Register         []RegisterEntry `yaml:"register"`

	// inactivityFromRegister: inactivity_months was left out and taken from the register's
	// after_last_activity entries.
	inactivityFromRegister bool
	lines                  lines
}

// RegisterEntry is one processing activity of the institution's register.
type RegisterEntry struct {
	Category   string    `yaml:"category"`
	Purpose    string    `yaml:"purpose"`
	LegalBasis string    `yaml:"legal_basis"`
	Recipients []string  `yaml:"recipients"`
	Retention  Retention `yaml:"retention"`
	lines      lines
}

// Retention is one of the three clocks (ISO 8601 durations, e.g. P12M).
// In JSON (the export, the register) it keeps lethe.yaml's names and omits unset clocks.
type Retention struct {
	AfterLastActivity string `yaml:"after_last_activity" json:"after_last_activity,omitempty"`
	AfterCollection   string `yaml:"after_collection" json:"after_collection,omitempty"`
	UntilEvent        string `yaml:"until_event" json:"until_event,omitempty"`
}

// idPattern is an institution's id: a NATS subject token (docs/contract.md, "Events in").
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Parse reads lethe.yaml, rejecting unknown keys so a typo is an error, not a silent default.
// Its errors are an *Error naming the line of each problem as "lethe.yaml:14: …".
func Parse(data []byte) (File, error) {
	return parse("lethe.yaml", data)
}

// Load reads and parses the file at path; problems are named "path:line: …".
func Load(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("config: %w", err)
	}
	return parse(path, data)
}

func parse(name string, data []byte) (File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return File{}, &Error{File: name, Problems: yamlProblems(err)}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		attachLines(&root, &f)
	}
	f.applyDefaults()
	if err := f.Validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = name
		}
		return File{}, err
	}
	return f, nil
}

// Problem is one thing wrong with lethe.yaml, at a line when known (0 otherwise).
type Problem struct {
	Line int
	Msg  string
}

// Error lists every problem of a configuration, so an operator fixes the file in one pass.
type Error struct {
	File     string // "lethe.yaml" when the name is unknown
	Problems []Problem
}

func (e *Error) Error() string {
	name := e.File
	if name == "" {
		name = "lethe.yaml"
	}
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(name)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": " + p.Msg)
	}
	return b.String()
}

var yamlLinePrefix = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// yamlProblems turns the decoder's errors ("line 5: field x not found in type …") into
// problems with their line.
func yamlProblems(err error) []Problem {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	out := make([]Problem, 0, len(msgs))
	for _, m := range msgs {
		p := Problem{Msg: strings.TrimPrefix(m, "yaml: ")}
		if sm := yamlLinePrefix.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Msg = m[len(sm[0]):]
		}
		out = append(out, p)
	}
	return out
}

func (f *File) applyDefaults() {
	if f.MaxBodyBytes == 0 {
		f.MaxBodyBytes = 10 << 20
	}
	if f.Audit.Retention == "" {
		f.Audit.Retention = DefaultAuditRetention
	}
	for i := range f.Institutions {
		in := &f.Institutions[i]
		if in.InactivityMonths == 0 {
			// Left out: the register's after_last_activity says it; else the default.
			in.InactivityMonths = DefaultInactivityMonths
			switch ms := registerMonths(in.Register); len(ms) {
			case 0:
			case 1:
				in.InactivityMonths, in.inactivityFromRegister = ms[0], true
			default:
				in.inactivityFromRegister = true // Validate names the disagreement
			}
		}
		if in.Mode == "" {
			in.Mode = "simulation"
		}
	}
	for i := range f.Tokens {
		f.Tokens[i].SHA256 = strings.ToLower(strings.TrimSpace(f.Tokens[i].SHA256))
	}
}

// Validate names every problem, each at its line of lethe.yaml when the File was parsed
// from one; the error is an *Error.
func (f File) Validate() error {
	var probs []Problem
	add := func(line int, format string, args ...any) {
		probs = append(probs, Problem{Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	seen := map[string]bool{}
	for i, t := range f.Tokens {
		where := fmt.Sprintf("tokens[%d] (%s)", i, t.Name)
		if t.Name == "" {
			add(t.lineOf(""), "%s: name is required", where)
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != sha256.Size {
			add(t.lineOf("sha256"), "%s: sha256 must be the 64-hex-digit SHA-256 of the token", where)
		}
		if seen[t.SHA256] {
			add(t.lineOf("sha256"), "%s: the same token hash is configured twice", where)
		}
		seen[t.SHA256] = true
		if len(t.Institutions) == 0 {
			add(t.lineOf(""), "%s: institutions is required", where)
		}
		for _, s := range t.Scopes {
			if !slices.Contains([]string{ScopeIngest, ScopeRead, ScopeAdmin, ScopeErase, ScopeExport}, s) {
				add(t.lineOf("scopes"), "%s: unknown scope %q (ingest, read, admin, erase, export)", where, s)
			}
		}
		if t.Destination != "" {
			if _, ok := f.Destination(t.Destination); !ok {
				add(t.lineOf("destination"), "%s: destination %q is not declared under destinations", where, t.Destination)
			}
		}
	}
	ids := map[string]bool{}
	for i, in := range f.Institutions {
		where := fmt.Sprintf("institutions[%d] (%s)", i, in.ID)
		if !idPattern.MatchString(in.ID) {
			add(in.lineOf("id"), "%s: id must be 1-64 characters of A-Z a-z 0-9 _ -", where)
		}
		if ids[in.ID] {
			add(in.lineOf("id"), "%s: institution declared twice", where)
		}
		ids[in.ID] = true
		if in.InactivityMonths < 1 {
			add(in.lineOf("inactivity_months"), "%s: inactivity_months must be at least 1", where)
		}
		if in.Mode != "simulation" && in.Mode != "execute" {
			add(in.lineOf("mode"), "%s: mode must be simulation or execute", where)
		}
		if in.Schedule != "" {
			if _, err := ParseSchedule(in.Schedule); err != nil {
				add(in.lineOf("schedule"), "%s: schedule %q: %v (five cron fields, e.g. \"0 3 * * *\", or @daily)", where, in.Schedule, err)
			}
		}
		validateRegister(in, add)
	}
	if len(f.MasterKey) > 0 && len(f.MasterKey) < 40 {
		add(f.lines.of("master_key"), "master_key: must be a base64 256-bit key")
	}
	if f.Audit.Retention != "" {
		if _, err := ParsePeriod(f.Audit.Retention); err != nil {
			add(f.lines.of("audit.retention"), "audit.retention %q: %v", f.Audit.Retention, err)
		}
	}
	for _, p := range f.TrustedProxies {
		if _, err := parseProxy(p); err != nil {
			add(f.lines.of("trusted_proxies"), "trusted_proxies: %q is neither an IP address nor a CIDR prefix", p)
		}
	}
	f.validateDestinations(add)
	f.Bus.validate(add)
	if len(probs) == 0 {
		return nil
	}
	// In file order, so the list reads top to bottom (problems with no line first).
	slices.SortStableFunc(probs, func(a, b Problem) int { return a.Line - b.Line })
	return &Error{Problems: probs}
}

// Institution returns the policy of id, and whether it is declared.
func (f File) Institution(id string) (Institution, bool) {
	for _, in := range f.Institutions {
		if in.ID == id {
			return in, true
		}
	}
	return Institution{ID: id, InactivityMonths: DefaultInactivityMonths, Mode: "simulation"}, false
}

// lines maps a key of a yaml mapping ("" for the mapping itself, "a.b" for a nested key) to
// the line it was read from, so that a refusal at start-up can name the line.
type lines map[string]int

func (l lines) of(key string) int {
	if n := l[key]; n > 0 {
		return n
	}
	if i := strings.LastIndexByte(key, '.'); i > 0 {
		return l.of(key[:i])
	}
	return l[""]
}

func (t Token) lineOf(key string) int         { return t.lines.of(key) }
func (in Institution) lineOf(key string) int  { return in.lines.of(key) }
func (r RegisterEntry) lineOf(key string) int { return r.lines.of(key) }

// Line is the line of lethe.yaml the entry was read from (0 when unknown).
func (r RegisterEntry) Line() int { return r.lines[""] }

// attachLines records where each token, institution and register entry, and each of their
// keys, stand in the file.
func attachLines(root *yaml.Node, f *File) {
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return
	}
	top := root.Content[0]
	f.lines = keyLines(top, 2)
	attachBusLines(top, &f.Bus)
	attachDestinationLines(top, f.Destinations)
	if toks := mapValue(top, "tokens"); toks != nil && toks.Kind == yaml.SequenceNode {
		for i, n := range toks.Content {
			if i < len(f.Tokens) {
				f.Tokens[i].lines = keyLines(n, 1)
			}
		}
	}
	insts := mapValue(top, "institutions")
	if insts == nil || insts.Kind != yaml.SequenceNode {
		return
	}
	for i, inNode := range insts.Content {
		if i >= len(f.Institutions) {
			return
		}
		f.Institutions[i].lines = keyLines(inNode, 1)
		reg := mapValue(inNode, "register")
		if reg == nil || reg.Kind != yaml.SequenceNode {
			continue
		}
		for j, e := range reg.Content {
			if j < len(f.Institutions[i].Register) {
				f.Institutions[i].Register[j].lines = keyLines(e, 2)
			}
		}
	}
}

// keyLines maps the keys of mapping n, and of its nested mappings down to depth levels, to
// the lines they are written on.
func keyLines(n *yaml.Node, depth int) lines {
	l := lines{"": n.Line}
	var walk func(n *yaml.Node, prefix string, depth int)
	walk = func(n *yaml.Node, prefix string, depth int) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			l[prefix+k.Value] = k.Line
			if depth > 1 {
				walk(v, prefix+k.Value+".", depth-1)
			}
		}
	}
	walk(n, "", depth)
	return l
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// scheduleParser reads an institution's schedule: the five standard cron fields (minute,
// hour, day of month, month, day of week) or a descriptor such as @daily.
var scheduleParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses an institution's schedule as Validate checks it and the scheduler
// fires it, so the two never read a schedule differently.
func ParseSchedule(spec string) (cron.Schedule, error) { return scheduleParser.Parse(spec) }
