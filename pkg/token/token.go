package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lethe-gdpr/lethe/pkg/config"
)

// Prefix starts every token lethe token makes, so that a secret scanner (or a person) knows a
// leaked one for what it is; the development token starts with "dev_".
const Prefix = "lethe_"

// Issued is a new token: Plain is given to its holder and kept nowhere else, Entry goes into
// lethe.yaml's tokens.
type Issued struct {
	Plain string
	Entry config.Token
}

// New makes a token of 256 random bits for institutions (config.AnyInstitution for every
// one) and scopes. An empty name becomes one derived from the hash. The entry is checked by
// the configuration loader itself, so a token New returns is one lethe serve accepts.
func New(name string, institutions, scopes []string) (Issued, error) {
	for _, in := range institutions {
		if in != config.AnyInstitution && !institutionID.MatchString(in) {
			return Issued{}, fmt.Errorf("token: institution %q is not an institution id (1-64 of A-Z a-z 0-9 _ -, or * for every one): %w", in, ErrRefused)
		}
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return Issued{}, fmt.Errorf("token: %w", err)
	}
	plain := Prefix + base64.RawURLEncoding.EncodeToString(secret[:])
	sum := Hash(plain)
	if name == "" {
		name = "token-" + sum[:8]
	}
	iss := Issued{Plain: plain, Entry: config.Token{Name: name, SHA256: sum, Institutions: institutions, Scopes: scopes}}
	y, err := iss.YAML()
	if err != nil {
		return Issued{}, err
	}
	if _, err := config.Parse([]byte("tokens:\n" + y)); err != nil {
		return Issued{}, refusal(err)
	}
	return iss, nil
}

// refusal is the loader's refusal in the words of the command line: without the line and
// the index of an entry in a file the user has not written yet.
func refusal(err error) error {
	var ce *config.Error
	if !errors.As(err, &ce) {
		return fmt.Errorf("token: %w", err)
	}
	msgs := make([]string, len(ce.Problems))
	for i, p := range ce.Problems {
		_, msg, found := strings.Cut(p.Msg, "): ")
		if !found {
			msg = p.Msg
		}
		msgs[i] = msg
	}
	return fmt.Errorf("token: %s: %w", strings.Join(msgs, "; "), ErrRefused)
}

// institutionID is an institution's id (docs/contract.md, "Events in"): the loader takes any
// string in a token's institutions, and a token for one that cannot exist would only ever get
// 403.
var institutionID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ErrRefused: lethe serve would not accept the token's entry.
var ErrRefused = errors.New("lethe.yaml would refuse this token")

// Hash is what lethe.yaml stores of a token: the hex SHA-256 of its value.
func Hash(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// YAML is the entry as lines to paste under `tokens:` in lethe.yaml, indented by two spaces;
// yaml.v3 writes it, so any name is quoted as YAML needs.
func (i Issued) YAML() (string, error) {
	b, err := yaml.Marshal([]config.Token{i.Entry})
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	lines := strings.SplitAfter(strings.TrimRight(string(b), "\n"), "\n")
	for n := range lines {
		lines[n] = "  " + lines[n]
	}
	return strings.Join(lines, "") + "\n", nil
}
