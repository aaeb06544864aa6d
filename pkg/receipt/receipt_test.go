package receipt_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/receipt"
)

func signed(t *testing.T, key ed25519.PrivateKey) []byte {
	t.Helper()
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	r := receipt.Receipt{
		Version: receipt.Version, Institution: "inst-a", ContactID: "c-1", Outcome: "anonymised",
		ErasedAt: at, ErasedBy: "request:req_1",
		Erased:         receipt.Erased{Categories: []string{"email", "identity"}, Fields: []string{"profile.email", "profile.last_name"}},
		KeyDestruction: receipt.KeyDestruction{Destroyed: true, Scheme: receipt.Scheme},
		Audit:          receipt.Audit{Seq: 7, Hash: "ab12", HeadSeq: 9, HeadHash: "cd34", Algorithm: "sha256"},
		OutcomeEvent:   receipt.OutcomeEvent{ID: "out_1", Type: "lethe.contact.anonymised.v1"},
		Destinations:   []receipt.Destination{{Name: "crm-a", Confirmed: true, ConfirmedAt: &at, ConfirmationID: "conf-1"}, {Name: "crm-b"}},
		IssuedAt:       at.Add(time.Hour),
	}
	if err := receipt.Sign(&r, key); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestReceiptVerifiesAndAnyChangedByteDoesNot(t *testing.T) {
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	file := signed(t, key)
	r, err := receipt.Verify(file, pub)
	if err != nil {
		t.Fatalf("Verify of the receipt as signed: %v", err)
	}
	if r.ContactID != "c-1" || r.Audit.Seq != 7 || len(r.Destinations) != 2 {
		t.Fatalf("Verify decoded %+v", r)
	}
	// Reformatted (another indentation, members reordered) it is the same JSON: it verifies.
	var generic map[string]any
	_ = json.Unmarshal(file, &generic)
	compact, _ := json.Marshal(generic)
	if _, err := receipt.Verify(compact, pub); err != nil {
		t.Fatalf("Verify of the receipt re-encoded: %v", err)
	}

	// Every byte inside a string or number of the signed members, changed, breaks it.
	sigAt := bytes.Index(file, []byte(`"signature"`))
	changed := 0
	inString := false
	for i := 0; i < sigAt; i++ {
		c := file[i]
		if c == '"' {
			inString = !inString
			continue
		}
		if !inString && (c < '0' || c > '9') {
			continue
		}
		mut := slices.Clone(file)
		switch {
		case c >= '0' && c <= '8', c >= 'a' && c <= 'y':
			mut[i] = c + 1
		default:
			mut[i] = '0'
		}
		_, err := receipt.Verify(mut, pub)
		if err == nil {
			t.Fatalf("a receipt with byte %d changed (%q→%q) verifies:\n%s", i, c, mut[i], mut)
		}
		changed++
	}
	if changed < 200 {
		t.Fatalf("only %d bytes tried", changed)
	}

	for name, mut := range map[string][]byte{
		"a member added":   bytes.Replace(file, []byte(`"version"`), []byte(`"note": "x", "version"`), 1),
		"a member removed": bytes.Replace(file, []byte(`"outcome": "anonymised",`), nil, 1),
		"a destination dropped": bytes.Replace(file, []byte(`,
    {
      "name": "crm-b",
      "confirmed": false
    }`), nil, 1),
	} {
		if bytes.Equal(mut, file) {
			t.Fatalf("%s: the mutation changed nothing", name)
		}
		if _, err := receipt.Verify(mut, pub); !errors.Is(err, receipt.ErrBadSignature) {
			t.Errorf("%s: Verify = %v, want ErrBadSignature", name, err)
		}
	}
	if _, err := receipt.Verify(file, newKey(t).Public().(ed25519.PublicKey)); !errors.Is(err, receipt.ErrOtherKey) {
		t.Errorf("Verify with another key = %v, want ErrOtherKey", err)
	}
	if _, err := receipt.Verify([]byte(`{"version":"lethe.receipt.v1"}`), pub); !errors.Is(err, receipt.ErrMalformed) {
		t.Errorf("Verify of an unsigned receipt = %v, want ErrMalformed", err)
	}
}

func TestCanonicalIsJCS(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	got, err := receipt.Canonical(receipt.Receipt{Version: receipt.Version, ContactID: "c<1>", ErasedAt: at, IssuedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	// Members sorted, no whitespace, "<" not escaped (JCS writes it as is; Go's encoder escapes it).
	if !strings.HasPrefix(s, `{"audit":{"algorithm":"","hash":"","head_hash":"","head_seq":0,"seq":0},"contact_id":"c<1>","destinations":null,`) ||
		!strings.HasSuffix(s, `"version":"lethe.receipt.v1"}`) || strings.Contains(s, "signature") {
		t.Fatalf("Canonical = %s", s)
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	k1, err := receipt.EnsureSigningKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := receipt.EnsureSigningKey(dir)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("a second EnsureSigningKey gave another key (%v)", err)
	}
	pk := receipt.PublicKeyOf(k1.Public().(ed25519.PublicKey))
	js, _ := json.Marshal(pk)
	for _, in := range []string{string(js), pk.Key} {
		got, err := receipt.ParsePublicKey([]byte(in + "\n"))
		if err != nil || !got.Equal(k1.Public()) {
			t.Errorf("ParsePublicKey(%s) = %v, %v", in, got, err)
		}
	}
	if _, err := receipt.SigningKeyFromConfig("c2hvcnQ="); !errors.Is(err, receipt.ErrBadKey) {
		t.Errorf("a 5-byte key: %v, want ErrBadKey", err)
	}
}

func TestCategories(t *testing.T) {
	got := receipt.Categories([]string{"profile.email", "profile.last_name", "profile.custom.loyalty", "orders.items.beneficiary.first_name", "legal_hold.reason", "technical.ip", "criteria.value", "profile.first_name"})
	want := []string{"activity", "beneficiaries", "custom_fields", "email", "identity", "legal_hold", "technical"}
	if !slices.Equal(got, want) {
		t.Errorf("Categories = %v, want %v", got, want)
	}
}
