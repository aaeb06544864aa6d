package seal

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// MasterKeySize is the length of a master key and of every data key: AES-256.
const MasterKeySize = 32

// Master-key errors, checked with errors.Is. Their messages name paths and lengths, never a key.
var (
	// ErrBadMasterKey: the master key is not base64 of exactly MasterKeySize bytes.
	ErrBadMasterKey = errors.New("seal: bad master key")
	// ErrSecretPermissions: a secret file (the master key, the bus's service password) or its
	// directory is open to group or others. Such a secret unlocks every contact's personal
	// data or every stream, so Lethe refuses to start rather than use one that other local
	// users may have read or swapped.
	ErrSecretPermissions = errors.New("seal: secret file or directory permissions too wide")
	// ErrMasterKeyPermissions is ErrSecretPermissions for the master key's file.
	ErrMasterKeyPermissions = ErrSecretPermissions
	// ErrBadSecret: a secret file holds something other than base64 of SecretSize bytes.
	ErrBadSecret = errors.New("seal: bad secret file")
)

// SecretSize is the number of random bytes of a secret EnsureSecret generates.
const SecretSize = MasterKeySize

// masterKeyDir and masterKeyName place the generated key in a directory of its own under the
// data directory, so that tightening its mode to 0700 never fights with whatever else lives in
// the data directory (the embedded store, NATS).
const (
	masterKeyDir  = "seal"
	masterKeyName = "master.key"
	// maxKeyFile bounds what LoadMasterKey reads: a key file is 45 bytes; anything much larger
	// is a wrong path, not a key.
	maxKeyFile = 4 << 10
)

// MasterKeyPath is where EnsureMasterKey keeps the generated master key under dataDir.
func MasterKeyPath(dataDir string) string {
	return filepath.Join(dataDir, masterKeyDir, masterKeyName)
}

// KeyID names a master key without revealing it: the first 8 bytes of a domain-separated
// SHA-256, in hex. Every wrapped data key records the KeyID of the master key that wrapped it,
// which is what lets a master key be rotated: old wraps still find their key.
func KeyID(master []byte) string {
	id := keyID(master)
	return hex.EncodeToString(id[:])
}

func keyID(master []byte) [kidSize]byte {
	h := sha256.New()
	h.Write([]byte("lethe/seal/master-key-id/v1\x00"))
	h.Write(master)
	var id [kidSize]byte
	copy(id[:], h.Sum(nil))
	return id
}

// MasterKeyFromConfig decodes a master key given in configuration as base64 (standard or URL
// alphabet, padded or not) of MasterKeySize bytes. Generate one with
// `head -c 32 /dev/urandom | base64`.
func MasterKeyFromConfig(b64 string) ([]byte, error) {
	return decodeSecret(b64, ErrBadMasterKey)
}

// decodeSecret decodes base64 (any alphabet, padded or not) of MasterKeySize bytes; its
// errors wrap bad.
func decodeSecret(b64 string, bad error) ([]byte, error) {
	s := strings.TrimSpace(b64)
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		key, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(key) != MasterKeySize {
			return nil, fmt.Errorf("%w: want base64 of %d bytes, got %d bytes", bad, MasterKeySize, len(key))
		}
		return key, nil
	}
	// The input is deliberately not quoted: it may be a key with a typo.
	return nil, fmt.Errorf("%w: not base64 (want base64 of %d bytes)", bad, MasterKeySize)
}

// LoadMasterKey reads a master key file: base64 of MasterKeySize bytes, as EnsureMasterKey
// writes it. It refuses a file readable or writable by group or others.
func LoadMasterKey(path string) ([]byte, error) {
	return readSecret(path, ErrBadMasterKey)
}

// readSecret reads a secret file (base64 of MasterKeySize bytes), refusing one open to group
// or others; errors about its content wrap bad.
func readSecret(path string, bad error) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: open %s: %w", path, err)
	}
	defer f.Close()
	// Stat the opened file, not the path, so the mode checked is the mode of what is read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", bad, path)
	}
	if err := checkPrivate(path, fi.Mode(), 0o600); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("seal: read %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", bad, path, maxKeyFile)
	}
	key, err := decodeSecret(string(b), bad)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// EnsureMasterKey returns the master key kept under dataDir (see MasterKeyPath), generating a
// random one on first use. The directory is created 0700 and the file 0600; an existing file
// or directory with wider permissions, or a file that is not a key, is refused, never
// replaced: replacing it would make every stored data key unreadable.
//
// Creation is atomic and happens once even when several processes start together: the key is
// written to a temporary file, synced, and hard-linked into place, which fails if another
// process won; the loser then reads the winner's key.
func EnsureMasterKey(dataDir string) ([]byte, error) {
	return ensureSecret(filepath.Join(dataDir, masterKeyDir), masterKeyName, ErrBadMasterKey)
}

// EnsureSecret returns the secret kept in dir/name as text (base64 of SecretSize random
// bytes: usable as a password), generating it on first use exactly as EnsureMasterKey
// generates the master key — dir 0700, file 0600, created once and atomically even when
// several processes start together, never replaced, refused when open to group or others.
// The bus's service password is one (services/lethe).
func EnsureSecret(dir, name string) (string, error) {
	b, err := ensureSecret(dir, name, ErrBadSecret)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

func ensureSecret(dir, name string, bad error) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("seal: create %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("seal: stat %s: %w", dir, err)
	}
	if err := checkPrivate(dir, fi.Mode(), 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	key, err := readSecret(path, bad)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createKeyFile(dir, path); err != nil {
		return nil, err
	}
	return readSecret(path, bad)
}

// createKeyFile writes a fresh secret at path unless a file is already there.
func createKeyFile(dir, path string) (err error) {
	key := make([]byte, MasterKeySize)
	rand.Read(key) // never fails: crypto/rand aborts the program rather than return weak bytes.

	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*") // mode 0600
	if err != nil {
		return fmt.Errorf("seal: create %s: %w", path, err)
	}
	defer func() {
		// The temporary name is only a staging step, whether the link won or lost.
		if rmErr := os.Remove(tmp.Name()); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = fmt.Errorf("seal: remove temporary %s: %w", tmp.Name(), rmErr)
		}
	}()
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("seal: close %s: %w", path, err)
	}
	switch err := os.Link(tmp.Name(), path); {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return nil // another process created it first; the caller reads theirs
	default:
		// Hard links are unavailable on some filesystems; fall back to rename, which is still
		// atomic for readers but lets a simultaneous starter overwrite: acceptable there,
		// since the key was only just created and nothing is wrapped under it yet.
		if _, statErr := os.Lstat(path); statErr == nil {
			return nil
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("seal: install %s: %w", path, err)
		}
	}
	return syncDir(dir)
}

// syncDir makes the new directory entry durable, so a crash right after startup cannot lose
// the key that data keys are already wrapped under.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("seal: open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("seal: sync %s: %w", dir, err)
	}
	return nil
}

// checkPrivate refuses a mode with any group or other bit set.
func checkPrivate(path string, mode fs.FileMode, want fs.FileMode) error {
	if runtime.GOOS == "windows" { // POSIX modes mean nothing there; ACLs are the operator's job
		return nil
	}
	if mode.Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o; run chmod %#o %s", ErrMasterKeyPermissions, path, mode.Perm(), want, path)
	}
	return nil
}
