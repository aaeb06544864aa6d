package token

import (
	"errors"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/config"
)

// The entry, pasted under tokens:, is what the configuration loader reads back: the hash of
// the printed token, its institutions and scopes; two tokens are never the same.
func TestTheEntryParsesToTheTokensHash(t *testing.T) {
	t.Parallel()
	a, err := New("ops: night shift", []string{"inst-a", "inst-b"}, []string{config.ScopeRead, config.ScopeErase})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New("", []string{config.AnyInstitution}, []string{config.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	if a.Plain == b.Plain || !strings.HasPrefix(a.Plain, Prefix) || len(a.Plain) != len(Prefix)+43 {
		t.Fatalf("tokens %q and %q: want two different lethe_ tokens of 256 bits", a.Plain, b.Plain)
	}
	ya, _ := a.YAML()
	yb, _ := b.YAML()
	f, err := config.Parse([]byte("tokens:\n" + ya + yb))
	if err != nil {
		t.Fatalf("the printed entries do not load: %v\n%s%s", err, ya, yb)
	}
	got := f.Tokens[0]
	if got.Name != "ops: night shift" || got.SHA256 != Hash(a.Plain) || !got.Covers("inst-b") || got.Covers("inst-c") || !got.Has(config.ScopeErase) || got.Has(config.ScopeAdmin) {
		t.Errorf("loaded %+v, want the token's hash, institutions and scopes", got)
	}
	if f.Tokens[1].Name != "token-"+Hash(b.Plain)[:8] || !f.Tokens[1].Covers("any") {
		t.Errorf("unnamed token loaded as %+v", f.Tokens[1])
	}
	if strings.Contains(ya, a.Plain) {
		t.Error("the lethe.yaml entry holds the token itself")
	}
}

// A token lethe serve would refuse, or one for an institution that cannot exist, is refused
// here, with the loader's own words but not its place in a file not yet written.
func TestAnEntryTheLoaderRefusesIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		insts, scopes []string
		want          string
	}{
		{nil, []string{"read"}, "institutions is required"},
		{[]string{"inst-a"}, []string{"delete"}, `unknown scope "delete"`},
		{[]string{"inst a"}, []string{"read"}, `"inst a" is not an institution id`},
	} {
		if _, err := New("x", tc.insts, tc.scopes); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "tokens[0]") {
			t.Errorf("New(%v, %v) = %v, want %q", tc.insts, tc.scopes, err, tc.want)
		}
	}
}
