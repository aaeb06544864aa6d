package receipt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gowebpki/jcs"
)

// Algorithm is the only signature algorithm of Version.
const Algorithm = "Ed25519"

// Errors of Verify, checked with errors.Is.
var (
	// ErrMalformed: the file is not a receipt (not a JSON object, no signature, another version).
	ErrMalformed = errors.New("receipt: malformed")
	// ErrBadSignature: the signature does not verify with the key: the receipt was changed, or
	// signed by another key.
	ErrBadSignature = errors.New("receipt: signature does not verify")
	// ErrOtherKey: the receipt names another key than the one given.
	ErrOtherKey = errors.New("receipt: signed with another key")
)

// Signature is the receipt's signature over Canonical.
type Signature struct {
	Algorithm string `json:"alg"`
	// KeyID is KeyID of the public key that verifies it.
	KeyID string `json:"key_id"`
	// Value is the Ed25519 signature, base64 (standard, padded).
	Value string `json:"value"`
}

// KeyID names a public key: the first 16 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:16])
}

// Canonical is what is signed: the receipt without its "signature" member, in the JSON
// Canonicalization Scheme (RFC 8785: members sorted by their UTF-16 code units, no
// whitespace, ECMAScript number and string forms), so any JCS implementation reproduces the
// bytes from the JSON alone.
func Canonical(r Receipt) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("receipt: encode: %w", err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return nil, fmt.Errorf("receipt: encode: %w", err)
	}
	return canonical(members)
}

// canonical is the JCS form of a receipt's members without "signature".
func canonical(members map[string]json.RawMessage) ([]byte, error) {
	delete(members, "signature")
	rest, err := json.Marshal(members)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	out, err := jcs.Transform(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return out, nil
}

// Sign sets r's signature with key.
func Sign(r *Receipt, key ed25519.PrivateKey) error {
	msg, err := Canonical(*r)
	if err != nil {
		return err
	}
	pub := key.Public().(ed25519.PublicKey)
	r.Signature = &Signature{Algorithm: Algorithm, KeyID: KeyID(pub), Value: base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))}
	return nil
}

// Verify checks the receipt in data (as served, or as saved to a file) against pub and returns
// it decoded. It canonicalises the JSON as it stands, every member but "signature" included,
// unknown ones too: a member added, removed or changed breaks the signature.
func Verify(data []byte, pub ed25519.PublicKey) (Receipt, error) {
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&members); err != nil || members == nil {
		return Receipt{}, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if dec.More() {
		return Receipt{}, fmt.Errorf("%w: more than one JSON value", ErrMalformed)
	}
	var sig Signature
	if raw, ok := members["signature"]; !ok || json.Unmarshal(raw, &sig) != nil || sig.Value == "" {
		return Receipt{}, fmt.Errorf("%w: no signature", ErrMalformed)
	}
	var r Receipt
	if err := json.Unmarshal(data, &r); err != nil {
		return Receipt{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if r.Version != Version {
		return Receipt{}, fmt.Errorf("%w: version %q, want %q", ErrMalformed, r.Version, Version)
	}
	if sig.Algorithm != Algorithm {
		return Receipt{}, fmt.Errorf("%w: algorithm %q, want %s", ErrMalformed, sig.Algorithm, Algorithm)
	}
	if want := KeyID(pub); sig.KeyID != want {
		return Receipt{}, fmt.Errorf("%w: key %s, the key given is %s", ErrOtherKey, sig.KeyID, want)
	}
	msg, err := canonical(members)
	if err != nil {
		return Receipt{}, err
	}
	s, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig.Value))
	if err != nil || !ed25519.Verify(pub, msg, s) {
		return Receipt{}, ErrBadSignature
	}
	return r, nil
}
