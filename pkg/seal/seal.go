package seal

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Prefix starts every sealed value; the rest is base64url (no padding) of nonce||ciphertext||tag.
const Prefix = "sealed:v1:"

// Defaults for the data-key cache.
const (
	DefaultCacheSize = 100_000
	DefaultCacheTTL  = time.Minute
)

// Sealing errors, checked with errors.Is. Messages carry institution and contact ids and field
// names, never a value or key material.
var (
	// ErrKeyDestroyed: the contact's data key was destroyed. Ingest drops the personal field
	// instead of sealing it; readers report the value as erased. It wraps store.ErrKeyDestroyed.
	ErrKeyDestroyed = fmt.Errorf("seal: %w", store.ErrKeyDestroyed)
	// ErrNoKey: the contact has no data key yet, so nothing can have been sealed for it.
	ErrNoKey = errors.New("seal: contact has no data key")
	// ErrNotSealed: the string is not a sealed value (no Prefix, bad base64, too short).
	ErrNotSealed = errors.New("seal: not a sealed value")
	// ErrTampered: the sealed value does not open: altered, or sealed for another institution,
	// contact or field.
	ErrTampered = errors.New("seal: sealed value does not open (altered, or bound to another contact or field)")
	// ErrInvalid: an empty institution, contact or field name.
	ErrInvalid = errors.New("seal: institution, contact and field are required")
)

var b64 = base64.RawURLEncoding.Strict()

// Sealer seals and opens personal values with per-contact data keys. It is safe for
// concurrent use; one per process is the intent, since Destroy only clears its own cache.
type Sealer struct {
	keys    store.Keys
	current master
	masters map[[kidSize]byte]cipher.AEAD
	cache   *keyCache
	now     func() time.Time

	cacheSize int
	cacheTTL  time.Duration
}

// Option configures a Sealer.
type Option func(*Sealer) error

// WithCacheSize bounds how many unwrapped data keys (and tombstones) are cached; 0 disables
// the cache, so every Seal and Open reads the store.
func WithCacheSize(n int) Option {
	return func(s *Sealer) error {
		if n < 0 {
			return fmt.Errorf("seal: cache size %d < 0", n)
		}
		s.cacheSize = n
		return nil
	}
}

// WithCacheTTL sets how long a cached data key is used before the store is asked again. It is
// the delay after which a Destroy done by another process is seen by this one.
func WithCacheTTL(d time.Duration) Option {
	return func(s *Sealer) error {
		if d <= 0 {
			return fmt.Errorf("seal: cache TTL %v <= 0", d)
		}
		s.cacheTTL = d
		return nil
	}
}

// WithClock replaces time.Now, for cache expiry and tombstone dates (tests).
func WithClock(now func() time.Time) Option {
	return func(s *Sealer) error {
		if now == nil {
			return errors.New("seal: nil clock")
		}
		s.now = now
		return nil
	}
}

// WithPreviousMasterKeys adds master keys that only unwrap: data keys wrapped under them still
// open, while new data keys are wrapped under the current master key. This is how a master
// key is rotated: start with the new key as current and the old one here.
func WithPreviousMasterKeys(keys ...[]byte) Option {
	return func(s *Sealer) error {
		for _, k := range keys {
			m, err := newMaster(k)
			if err != nil {
				return fmt.Errorf("previous master key: %w", err)
			}
			if _, dup := s.masters[m.id]; !dup {
				s.masters[m.id] = m.aead
			}
		}
		return nil
	}
}

// New returns a Sealer storing wrapped data keys in keys, wrapped under master (MasterKeySize
// bytes, from LoadMasterKey, MasterKeyFromConfig or EnsureMasterKey).
func New(keys store.Keys, master []byte, opts ...Option) (*Sealer, error) {
	if keys == nil {
		return nil, errors.New("seal: nil key store")
	}
	cur, err := newMaster(master)
	if err != nil {
		return nil, err
	}
	s := &Sealer{
		keys:      keys,
		current:   cur,
		masters:   map[[kidSize]byte]cipher.AEAD{cur.id: cur.aead},
		now:       time.Now,
		cacheSize: DefaultCacheSize,
		cacheTTL:  DefaultCacheTTL,
	}
	for _, opt := range opts {
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	s.cache = newKeyCache(s.cacheSize, s.cacheTTL)
	return s, nil
}

// KeyID is the id of the master key new data keys are wrapped under (safe to log).
func (s *Sealer) KeyID() string {
	return fmt.Sprintf("%x", s.current.id)
}

// Seal encrypts plaintext for the field of a contact, creating the contact's data key on first
// sight. ErrKeyDestroyed if the key was destroyed: the caller drops the value.
// To seal several fields of one event, use For once and seal through the ContactKey.
func (s *Sealer) Seal(ctx context.Context, institution, contact, field, plaintext string) (string, error) {
	ck, err := s.For(ctx, institution, contact)
	if err != nil {
		return "", err
	}
	return ck.Seal(field, plaintext)
}

// Open decrypts a value sealed for the field of a contact. It never creates a key.
func (s *Sealer) Open(ctx context.Context, institution, contact, field, sealed string) (string, error) {
	// Check the shape first: a value that cannot be sealed needs no store read.
	if !IsSealed(sealed) {
		return "", fmt.Errorf("%w: %s/%s field %q", ErrNotSealed, institution, contact, field)
	}
	ck, err := s.ForRead(ctx, institution, contact)
	if err != nil {
		return "", err
	}
	return ck.Open(field, sealed)
}

// For returns the contact's data key for sealing, creating it if absent: one cache lookup (or
// store round trip) per event rather than per field.
func (s *Sealer) For(ctx context.Context, institution, contact string) (*ContactKey, error) {
	return s.contactKey(ctx, institution, contact, true)
}

// ForRead returns the contact's data key for opening; ErrNoKey if it has none, never creating
// one (an export or a read must not write).
func (s *Sealer) ForRead(ctx context.Context, institution, contact string) (*ContactKey, error) {
	return s.contactKey(ctx, institution, contact, false)
}

// Destroy crypto-shreds the contact: the store replaces its data key by a tombstone, and this
// process's cache forgets the key at once. Other processes stop using it when their cached
// copy expires (WithCacheTTL). Idempotent; destroying a contact with no key still leaves a
// tombstone so that no key can be created for it later.
func (s *Sealer) Destroy(ctx context.Context, institution, contact string) error {
	if institution == "" || contact == "" {
		return ErrInvalid
	}
	if err := s.keys.Destroy(ctx, institution, contact, s.now()); err != nil {
		return fmt.Errorf("seal: destroy data key %s/%s: %w", institution, contact, err)
	}
	s.cache.destroyed(cacheKey{institution, contact})
	return nil
}

func (s *Sealer) contactKey(ctx context.Context, institution, contact string, create bool) (*ContactKey, error) {
	dk, err := s.dataKey(ctx, institution, contact, create)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(dk)
	if err != nil {
		return nil, err
	}
	return &ContactKey{institution: institution, contact: contact, aead: aead}, nil
}

func (s *Sealer) dataKey(ctx context.Context, institution, contact string, create bool) ([]byte, error) {
	if institution == "" || contact == "" {
		return nil, ErrInvalid
	}
	k := cacheKey{institution, contact}
	if dk, destroyed, ok := s.cache.get(k, s.now()); ok {
		if destroyed {
			return nil, destroyedErr(institution, contact)
		}
		return dk, nil
	}
	gen := s.cache.generation()

	// Read before creating: after a restart or an eviction most contacts already have a key,
	// and a read is cheaper than an insert-if-absent in every backend.
	wrapped, err := s.keys.Get(ctx, institution, contact)
	switch {
	case err == nil:
	case errors.Is(err, store.ErrKeyDestroyed):
		s.cache.destroyed(k)
		return nil, destroyedErr(institution, contact)
	case errors.Is(err, store.ErrNotFound) && !create:
		return nil, fmt.Errorf("%w: %s/%s", ErrNoKey, institution, contact)
	case errors.Is(err, store.ErrNotFound):
		fresh := make([]byte, MasterKeySize)
		rand.Read(fresh) // never fails: crypto/rand aborts the program rather than return weak bytes.
		// Whatever Create returns is the contact's key: ours if we won, the winner's otherwise.
		wrapped, err = s.keys.Create(ctx, institution, contact, s.current.wrap(institution, contact, fresh))
		if errors.Is(err, store.ErrKeyDestroyed) {
			s.cache.destroyed(k)
			return nil, destroyedErr(institution, contact)
		}
		if err != nil {
			return nil, fmt.Errorf("seal: create data key %s/%s: %w", institution, contact, err)
		}
	default:
		return nil, fmt.Errorf("seal: get data key %s/%s: %w", institution, contact, err)
	}

	dk, err := unwrap(s.masters, institution, contact, wrapped)
	if err != nil {
		return nil, err
	}
	s.cache.put(k, dk, gen, s.now())
	return dk, nil
}

// Contact names one contact for Prepare.
type Contact struct{ Institution, ID string }

// Prepare loads the data keys of contacts into the cache, creating the missing ones together
// (store.Keys.CreateMany: one durable write for a whole batch of new contacts, where one
// write each would wait for the disk once per contact). It only saves time: For and Open
// then find each key in the cache, and a contact Prepare could not serve is handled by them
// as before, errors included. With the cache disabled it does nothing.
func (s *Sealer) Prepare(ctx context.Context, contacts []Contact) error {
	if s.cacheSize == 0 {
		return nil
	}
	gen := s.cache.generation()
	now := s.now()
	seen := make(map[cacheKey]bool, len(contacts))
	// Tombstones are cached last: caching one fences off every put of an older generation,
	// ours included.
	var gone []cacheKey
	defer func() {
		for _, k := range gone {
			s.cache.destroyed(k)
		}
	}()
	var fresh []store.NewKey
	var freshKeys [][]byte
	for _, c := range contacts {
		k := cacheKey{c.Institution, c.ID}
		if c.Institution == "" || c.ID == "" || seen[k] {
			continue
		}
		seen[k] = true
		if _, _, ok := s.cache.get(k, now); ok {
			continue
		}
		wrapped, err := s.keys.Get(ctx, c.Institution, c.ID)
		switch {
		case err == nil:
			if dk, err := unwrap(s.masters, c.Institution, c.ID, wrapped); err == nil {
				s.cache.put(k, dk, gen, now)
			}
		case errors.Is(err, store.ErrKeyDestroyed):
			gone = append(gone, k)
		case errors.Is(err, store.ErrNotFound):
			dk := make([]byte, MasterKeySize)
			rand.Read(dk)
			fresh = append(fresh, store.NewKey{Institution: c.Institution, ID: c.ID, Wrapped: s.current.wrap(c.Institution, c.ID, dk)})
			freshKeys = append(freshKeys, dk)
		default:
			return fmt.Errorf("seal: get data key %s/%s: %w", c.Institution, c.ID, err)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	results, err := s.keys.CreateMany(ctx, fresh)
	if err != nil {
		return fmt.Errorf("seal: create %d data keys: %w", len(fresh), err)
	}
	for i, r := range results {
		k := cacheKey{fresh[i].Institution, fresh[i].ID}
		switch {
		case errors.Is(r.Err, store.ErrKeyDestroyed):
			gone = append(gone, k)
		case r.Err != nil:
		case bytes.Equal(r.Wrapped, fresh[i].Wrapped): // ours won: no need to unwrap it
			s.cache.put(k, freshKeys[i], gen, now)
		default: // another writer's key was first
			if dk, err := unwrap(s.masters, k.institution, k.contact, r.Wrapped); err == nil {
				s.cache.put(k, dk, gen, now)
			}
		}
	}
	return nil
}

func destroyedErr(institution, contact string) error {
	return fmt.Errorf("%w: %s/%s", ErrKeyDestroyed, institution, contact)
}

// ContactKey seals and opens the fields of one contact without further store or cache
// lookups. Get one per event: it keeps the key it was given even if the contact is destroyed
// meanwhile, so holding it for long would defeat Destroy.
type ContactKey struct {
	institution, contact string
	aead                 cipher.AEAD
}

// Seal encrypts plaintext bound to this contact and field.
func (c *ContactKey) Seal(field, plaintext string) (string, error) {
	if field == "" {
		return "", ErrInvalid
	}
	ct := c.aead.Seal(make([]byte, 0, len(plaintext)+gcmOverhead), nil, []byte(plaintext),
		valueAAD(c.institution, c.contact, field))
	out := make([]byte, len(Prefix)+b64.EncodedLen(len(ct)))
	copy(out, Prefix)
	b64.Encode(out[len(Prefix):], ct)
	return string(out), nil
}

// Open decrypts a value sealed for this contact and field.
func (c *ContactKey) Open(field, sealed string) (string, error) {
	if field == "" {
		return "", ErrInvalid
	}
	ct, ok := decode(sealed)
	if !ok {
		return "", fmt.Errorf("%w: %s/%s field %q", ErrNotSealed, c.institution, c.contact, field)
	}
	pt, err := c.aead.Open(ct[:0], nil, ct, valueAAD(c.institution, c.contact, field))
	if err != nil {
		return "", fmt.Errorf("%w: %s/%s field %q", ErrTampered, c.institution, c.contact, field)
	}
	return string(pt), nil
}

// IsSealed reports whether s has the shape of a sealed value. It is not proof of anything:
// an upstream system can send a name that looks sealed, so ingest seals every personal field
// it receives rather than skipping those that look done.
func IsSealed(s string) bool {
	_, ok := decode(s)
	return ok
}

func decode(s string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return nil, false
	}
	// The decoder skips line breaks; refuse them so that one sealed value has one spelling.
	if strings.ContainsAny(rest, "\r\n") {
		return nil, false
	}
	ct, err := b64.DecodeString(rest)
	if err != nil || len(ct) < gcmOverhead {
		return nil, false
	}
	return ct, true
}
