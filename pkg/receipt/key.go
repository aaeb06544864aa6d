package receipt

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lethe-gdpr/lethe/pkg/seal"
)

// ErrBadKey: a signing or public key that is not one.
var ErrBadKey = errors.New("receipt: bad key")

// KeyDir and KeyFile place the generated signing key under --data: a directory of its own,
// 0700, the file 0600, created once (seal.EnsureSecret), like the master key.
const (
	KeyDir  = "receipts"
	KeyFile = "signing.key"
)

// EnsureSigningKey returns the signing key kept under dataDir, generating it on first use.
func EnsureSigningKey(dataDir string) (ed25519.PrivateKey, error) {
	b64, err := seal.EnsureSecret(filepath.Join(dataDir, KeyDir), KeyFile)
	if err != nil {
		return nil, fmt.Errorf("receipt: signing key: %w", err)
	}
	return SigningKeyFromConfig(b64)
}

// SigningKeyFromConfig decodes a signing key given as base64 (any alphabet) of an Ed25519
// seed (32 bytes) or private key (64 bytes). Generate one with `head -c 32 /dev/urandom | base64`.
func SigningKeyFromConfig(b64 string) (ed25519.PrivateKey, error) {
	b, err := decodeBase64(b64)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: not base64", ErrBadKey)
	case len(b) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case len(b) == ed25519.PrivateKeySize:
		k := ed25519.PrivateKey(b)
		if !k.Public().(ed25519.PublicKey).Equal(ed25519.NewKeyFromSeed(k.Seed()).Public()) {
			return nil, fmt.Errorf("%w: its public half does not match its seed", ErrBadKey)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: want base64 of a %d-byte seed or a %d-byte private key, got %d bytes", ErrBadKey, ed25519.SeedSize, ed25519.PrivateKeySize, len(b))
}

// PublicKey is the public key as GET /v1/receipts/key serves it and the register prints it.
type PublicKey struct {
	Algorithm string `json:"alg"`
	KeyID     string `json:"key_id"`
	// Key is the raw 32-byte Ed25519 public key, base64 (standard, padded).
	Key string `json:"public_key"`
}

// PublicKeyOf describes pub.
func PublicKeyOf(pub ed25519.PublicKey) PublicKey {
	return PublicKey{Algorithm: Algorithm, KeyID: KeyID(pub), Key: base64.StdEncoding.EncodeToString(pub)}
}

// ParsePublicKey reads a public key as GET /v1/receipts/key serves it (JSON), or as the bare
// base64 of its 32 bytes (its public_key member, as the register prints it).
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	s := strings.TrimSpace(string(data))
	if strings.HasPrefix(s, "{") {
		var pk PublicKey
		if err := json.Unmarshal([]byte(s), &pk); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		if pk.Algorithm != Algorithm {
			return nil, fmt.Errorf("%w: algorithm %q, want %s", ErrBadKey, pk.Algorithm, Algorithm)
		}
		s = pk.Key
	}
	b, err := decodeBase64(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: want base64 of a %d-byte Ed25519 public key", ErrBadKey, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, err
}
