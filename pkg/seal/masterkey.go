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
	// ErrMasterKeyPermissions: the key file or its directory is open to group or others. The
	// master key unlocks every contact's personal data, so Lethe refuses to start rather than
	// use a key that other local users may have read or swapped.
	ErrMasterKeyPermissions = errors.New("seal: master key file or directory permissions too wide")
)

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
	s := strings.TrimSpace(b64)
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		key, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(key) != MasterKeySize {
			return nil, fmt.Errorf("%w: want base64 of %d bytes, got %d bytes", ErrBadMasterKey, MasterKeySize, len(key))
		}
		return key, nil
	}
	// The input is deliberately not quoted: it may be a key with a typo.
	return nil, fmt.Errorf("%w: not base64 (want base64 of %d bytes)", ErrBadMasterKey, MasterKeySize)
}

// LoadMasterKey reads a master key file: base64 of MasterKeySize bytes, as EnsureMasterKey
// writes it. It refuses a file readable or writable by group or others.
func LoadMasterKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: open master key: %w", err)
	}
	defer f.Close()
	// Stat the opened file, not the path, so the mode checked is the mode of what is read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: stat master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrBadMasterKey, path)
	}
	if err := checkPrivate(path, fi.Mode(), 0o600); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("seal: read master key: %w", err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrBadMasterKey, path, maxKeyFile)
	}
	key, err := MasterKeyFromConfig(string(b))
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
	dir := filepath.Join(dataDir, masterKeyDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("seal: create master key directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("seal: stat master key directory: %w", err)
	}
	if err := checkPrivate(dir, fi.Mode(), 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, masterKeyName)
	key, err := LoadMasterKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createKeyFile(dir, path); err != nil {
		return nil, err
	}
	return LoadMasterKey(path)
}

// createKeyFile writes a fresh key at path unless a file is already there.
func createKeyFile(dir, path string) (err error) {
	key := make([]byte, MasterKeySize)
	rand.Read(key) // never fails: crypto/rand aborts the program rather than return weak bytes.

	tmp, err := os.CreateTemp(dir, ".master.key.*") // mode 0600
	if err != nil {
		return fmt.Errorf("seal: create master key: %w", err)
	}
	defer func() {
		// The temporary name is only a staging step, whether the link won or lost.
		if rmErr := os.Remove(tmp.Name()); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = fmt.Errorf("seal: remove temporary master key: %w", rmErr)
		}
	}()
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: write master key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: sync master key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("seal: close master key: %w", err)
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
			return fmt.Errorf("seal: install master key: %w", err)
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
		return fmt.Errorf("seal: open master key directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("seal: sync master key directory: %w", err)
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
