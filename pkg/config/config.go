package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Scopes a token may carry. Erase is kept apart from admin so that whoever reads reports and
// starts simulations cannot by that alone erase.
const (
	ScopeIngest = "ingest"
	ScopeRead   = "read"
	ScopeAdmin  = "admin"
	ScopeErase  = "erase"
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
}

// Token is one bearer token, stored as the SHA-256 of its value.
type Token struct {
	Name         string   `yaml:"name"`
	SHA256       string   `yaml:"sha256"`
	Institutions []string `yaml:"institutions"`
	Scopes       []string `yaml:"scopes"`
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
}

// RegisterEntry is one processing activity of the institution's register.
type RegisterEntry struct {
	Category   string    `yaml:"category"`
	Purpose    string    `yaml:"purpose"`
	LegalBasis string    `yaml:"legal_basis"`
	Recipients []string  `yaml:"recipients"`
	Retention  Retention `yaml:"retention"`
	line       int
}

// Retention is one of the three clocks (ISO 8601 durations, e.g. P12M).
type Retention struct {
	AfterLastActivity string `yaml:"after_last_activity"`
	AfterCollection   string `yaml:"after_collection"`
	UntilEvent        string `yaml:"until_event"`
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Parse reads lethe.yaml, rejecting unknown keys so a typo is an error, not a silent default.
func Parse(data []byte) (File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return File{}, fmt.Errorf("config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		attachRegisterLines(&root, &f)
	}
	f.applyDefaults()
	return f, f.Validate()
}

// Load reads and parses the file at path.
func Load(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("config: %w", err)
	}
	f, err := Parse(data)
	if err != nil {
		return File{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func (f *File) applyDefaults() {
	if f.MaxBodyBytes == 0 {
		f.MaxBodyBytes = 10 << 20
	}
	for i := range f.Institutions {
		in := &f.Institutions[i]
		if in.InactivityMonths == 0 {
			in.InactivityMonths = DefaultInactivityMonths
		}
		if in.Mode == "" {
			in.Mode = "simulation"
		}
	}
	for i := range f.Tokens {
		f.Tokens[i].SHA256 = strings.ToLower(strings.TrimSpace(f.Tokens[i].SHA256))
	}
}

// Validate names every problem, so an operator fixes the file in one pass.
func (f File) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, t := range f.Tokens {
		where := fmt.Sprintf("tokens[%d] (%s)", i, t.Name)
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", where))
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("%s: sha256 must be the 64-hex-digit SHA-256 of the token", where))
		}
		if seen[t.SHA256] {
			errs = append(errs, fmt.Errorf("%s: the same token hash is configured twice", where))
		}
		seen[t.SHA256] = true
		if len(t.Institutions) == 0 {
			errs = append(errs, fmt.Errorf("%s: institutions is required", where))
		}
		for _, s := range t.Scopes {
			if !slices.Contains([]string{ScopeIngest, ScopeRead, ScopeAdmin, ScopeErase}, s) {
				errs = append(errs, fmt.Errorf("%s: unknown scope %q (ingest, read, admin, erase)", where, s))
			}
		}
	}
	ids := map[string]bool{}
	for i, in := range f.Institutions {
		where := fmt.Sprintf("institutions[%d] (%s)", i, in.ID)
		if !idPattern.MatchString(in.ID) {
			errs = append(errs, fmt.Errorf("%s: id must be 1-128 characters of A-Z a-z 0-9 _ -", where))
		}
		if ids[in.ID] {
			errs = append(errs, fmt.Errorf("%s: institution declared twice", where))
		}
		ids[in.ID] = true
		if in.InactivityMonths < 1 {
			errs = append(errs, fmt.Errorf("%s: inactivity_months must be at least 1", where))
		}
		if in.Mode != "simulation" && in.Mode != "execute" {
			errs = append(errs, fmt.Errorf("%s: mode must be simulation or execute", where))
		}
	}
	if len(f.MasterKey) > 0 && len(f.MasterKey) < 40 {
		errs = append(errs, errors.New("master_key: must be a base64 256-bit key"))
	}
	return errors.Join(errs...)
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

// attachRegisterLines remembers where each register entry stands in the file so that a
// refusal at start-up can name the line.
func attachRegisterLines(root *yaml.Node, f *File) {
	if len(root.Content) == 0 {
		return
	}
	insts := mapValue(root.Content[0], "institutions")
	if insts == nil {
		return
	}
	for i, inNode := range insts.Content {
		if i >= len(f.Institutions) {
			return
		}
		reg := mapValue(inNode, "register")
		if reg == nil {
			continue
		}
		for j, e := range reg.Content {
			if j < len(f.Institutions[i].Register) {
				f.Institutions[i].Register[j].line = e.Line
			}
		}
	}
}

// Line is the line of lethe.yaml the entry was read from (0 when unknown).
func (r RegisterEntry) Line() int { return r.line }

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
