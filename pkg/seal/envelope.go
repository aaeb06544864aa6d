package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// Wrapped data key layout, as stored through store.Keys:
//
//	version (1 byte, 1) || master KeyID (8 bytes) || nonce (12) || AES-256-GCM(data key) (32) || tag (16)
//
// The associated data binds the wrap to its institution and contact and to the header, so a
// wrapped key copied under another contact, or relabelled with another KeyID, does not open.
const (
	wrapVersion = 1
	kidSize     = 8
	wrapHeader  = 1 + kidSize
	gcmOverhead = 12 + 16 // random nonce + tag
	wrappedSize = wrapHeader + gcmOverhead + MasterKeySize
)

// Envelope errors, checked with errors.Is.
var (
	// ErrWrappedKey: a stored data key does not unwrap under the master key that its KeyID
	// names: the store holds a corrupted key, or a key copied from another contact.
	ErrWrappedKey = errors.New("seal: stored data key does not unwrap")
	// ErrUnknownMasterKey: a stored data key was wrapped by a master key this process was not
	// given (see WithPreviousMasterKeys).
	ErrUnknownMasterKey = errors.New("seal: data key wrapped by an unknown master key")
)

// master is one master key ready to wrap and unwrap.
type master struct {
	id   [kidSize]byte
	aead cipher.AEAD
}

func newMaster(key []byte) (master, error) {
	if len(key) != MasterKeySize {
		return master{}, fmt.Errorf("%w: want %d bytes, got %d", ErrBadMasterKey, MasterKeySize, len(key))
	}
	aead, err := newAEAD(key)
	if err != nil {
		return master{}, err
	}
	return master{id: keyID(key), aead: aead}, nil
}

// newAEAD returns AES-256-GCM with random 96-bit nonces prepended to the ciphertext: the
// standard library's construction, so no caller can ever reuse a nonce by mistake.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: aes: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("seal: gcm: %w", err)
	}
	return aead, nil
}

func (m master) wrap(institution, contact string, dataKey []byte) []byte {
	out := make([]byte, wrapHeader, wrappedSize)
	out[0] = wrapVersion
	copy(out[1:], m.id[:])
	return m.aead.Seal(out, nil, dataKey, wrapAAD(out[:wrapHeader], institution, contact))
}

// unwrap finds the master key named in wrapped and opens the data key with it.
func unwrap(masters map[[kidSize]byte]cipher.AEAD, institution, contact string, wrapped []byte) ([]byte, error) {
	if len(wrapped) != wrappedSize || wrapped[0] != wrapVersion {
		return nil, fmt.Errorf("%w: %s/%s: unknown format (%d bytes)", ErrWrappedKey, institution, contact, len(wrapped))
	}
	var id [kidSize]byte
	copy(id[:], wrapped[1:wrapHeader])
	aead, ok := masters[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s/%s: master key id %x", ErrUnknownMasterKey, institution, contact, id)
	}
	dk, err := aead.Open(nil, nil, wrapped[wrapHeader:], wrapAAD(wrapped[:wrapHeader], institution, contact))
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s", ErrWrappedKey, institution, contact)
	}
	return dk, nil
}

// wrapAAD and valueAAD are length-prefixed so that no two (institution, contact[, field])
// tuples encode alike ("ab"+"c" vs "a"+"bc"), and domain-separated so that a wrapped key can
// never pass for a sealed value or the reverse.
func wrapAAD(header []byte, institution, contact string) []byte {
	b := make([]byte, 0, 32+len(header)+len(institution)+len(contact))
	b = append(b, "lethe/seal/wrap/v1\x00"...)
	b = append(b, header...)
	b = appendString(b, institution)
	return appendString(b, contact)
}

func valueAAD(institution, contact, field string) []byte {
	b := make([]byte, 0, 40+len(institution)+len(contact)+len(field))
	b = append(b, "lethe/seal/value/v1\x00"...)
	b = appendString(b, institution)
	b = appendString(b, contact)
	return appendString(b, field)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
