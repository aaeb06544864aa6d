package seal_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/seal"
)

func skipOnWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX permissions are not checked on Windows")
	}
}

func TestEnsureMasterKeyCreatesOnceAndReuses(t *testing.T) {
	skipOnWindows(t)
	data := t.TempDir()
	first, err := seal.EnsureMasterKey(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != seal.MasterKeySize || bytes.Equal(first, make([]byte, seal.MasterKeySize)) {
		t.Fatalf("generated key has length %d or is all zeros", len(first))
	}
	path := seal.MasterKeyPath(data)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %#o, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("key directory mode %#o, want 0700", di.Mode().Perm())
	}

	again, err := seal.EnsureMasterKey(data)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := seal.LoadMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) || !bytes.Equal(first, loaded) {
		t.Fatal("the master key changed between calls")
	}
	// The file is the configuration format, so an operator can move it into lethe.yaml.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fromConfig, err := seal.MasterKeyFromConfig(string(b))
	if err != nil || !bytes.Equal(fromConfig, first) {
		t.Fatalf("MasterKeyFromConfig(file content) = %v", err)
	}
}

func TestEnsureMasterKeyConcurrentStartersAgree(t *testing.T) {
	skipOnWindows(t)
	data := t.TempDir()
	const starters = 8
	keys := make([][]byte, starters)
	errs := make([]error, starters)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range starters {
		wg.Go(func() {
			<-start
			keys[i], errs[i] = seal.EnsureMasterKey(data)
		})
	}
	close(start)
	wg.Wait()
	for i := range starters {
		if errs[i] != nil {
			t.Fatalf("starter %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("starter %d got a different master key", i)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(seal.MasterKeyPath(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("key directory holds %v, want only the key", names)
	}
}

func TestMasterKeyFileRefused(t *testing.T) {
	skipOnWindows(t)
	good := base64.StdEncoding.EncodeToString(randomBytes(seal.MasterKeySize)) + "\n"
	for _, tc := range []struct {
		name     string
		content  string
		fileMode fs.FileMode
		dirMode  fs.FileMode
		want     error
	}{
		{"file readable by others", good, 0o644, 0o700, seal.ErrMasterKeyPermissions},
		{"file readable by group", good, 0o640, 0o700, seal.ErrMasterKeyPermissions},
		{"directory open to others", good, 0o600, 0o755, seal.ErrMasterKeyPermissions},
		{"too short", base64.StdEncoding.EncodeToString(randomBytes(16)), 0o600, 0o700, seal.ErrBadMasterKey},
		{"too long", base64.StdEncoding.EncodeToString(randomBytes(64)), 0o600, 0o700, seal.ErrBadMasterKey},
		{"raw bytes, not base64", string(randomBytes(seal.MasterKeySize)), 0o600, 0o700, seal.ErrBadMasterKey},
		{"empty", "", 0o600, 0o700, seal.ErrBadMasterKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			path := seal.MasterKeyPath(data)
			if err := os.Mkdir(filepath.Dir(path), tc.dirMode); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.content), tc.fileMode); err != nil {
				t.Fatal(err)
			}
			// Umask may have narrowed the modes; set them exactly.
			if err := os.Chmod(path, tc.fileMode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Dir(path), tc.dirMode); err != nil {
				t.Fatal(err)
			}
			_, err := seal.EnsureMasterKey(data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("EnsureMasterKey: %v; want %v", err, tc.want)
			}
			if got, _ := os.ReadFile(path); string(got) != tc.content {
				t.Fatal("the refused key file was replaced")
			}
			if strings.Contains(err.Error(), strings.TrimSpace(good)) && tc.content == good {
				t.Fatal("the error message contains the key")
			}
		})
	}

	t.Run("LoadMasterKey checks permissions too", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o604); err != nil {
			t.Fatal(err)
		}
		if _, err := seal.LoadMasterKey(path); !errors.Is(err, seal.ErrMasterKeyPermissions) {
			t.Fatalf("LoadMasterKey: %v; want ErrMasterKeyPermissions", err)
		}
	})

	t.Run("a directory where the file should be", func(t *testing.T) {
		data := t.TempDir()
		if err := os.MkdirAll(seal.MasterKeyPath(data), 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := seal.EnsureMasterKey(data); !errors.Is(err, seal.ErrBadMasterKey) {
			t.Fatalf("EnsureMasterKey: %v; want ErrBadMasterKey", err)
		}
	})
}

func TestMasterKeyFromConfig(t *testing.T) {
	key := randomBytes(seal.MasterKeySize)
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"standard", base64.StdEncoding.EncodeToString(key), true},
		{"standard with newline", base64.StdEncoding.EncodeToString(key) + "\n", true},
		{"standard unpadded", base64.RawStdEncoding.EncodeToString(key), true},
		{"url-safe", base64.URLEncoding.EncodeToString(key), true},
		{"url-safe unpadded", base64.RawURLEncoding.EncodeToString(key), true},
		{"16 bytes", base64.StdEncoding.EncodeToString(key[:16]), false},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 1)), false},
		{"not base64", "correct horse battery staple!!", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := seal.MasterKeyFromConfig(tc.in)
			if tc.ok {
				if err != nil || !bytes.Equal(got, key) {
					t.Fatalf("MasterKeyFromConfig = %v", err)
				}
				return
			}
			if !errors.Is(err, seal.ErrBadMasterKey) {
				t.Fatalf("MasterKeyFromConfig: %v; want ErrBadMasterKey", err)
			}
			if tc.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
				t.Fatal("the error message echoes the configured value")
			}
		})
	}
}

func TestKeyIDIsStableAndDistinct(t *testing.T) {
	a, b := randomBytes(seal.MasterKeySize), randomBytes(seal.MasterKeySize)
	if seal.KeyID(a) != seal.KeyID(bytes.Clone(a)) {
		t.Fatal("KeyID is not a function of the key")
	}
	if seal.KeyID(a) == seal.KeyID(b) {
		t.Fatal("two keys share a KeyID")
	}
	if strings.Contains(seal.KeyID(a), base64.StdEncoding.EncodeToString(a)[:8]) || len(seal.KeyID(a)) != 16 {
		t.Fatalf("KeyID %q is not 16 hex digits independent of the key", seal.KeyID(a))
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestEnsureSecretIsWrittenOnceLikeTheMasterKey(t *testing.T) {
	skipOnWindows(t)
	dir := filepath.Join(t.TempDir(), "bus")
	first, err := seal.EnsureSecret(dir, "service.password")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := base64.StdEncoding.DecodeString(first); err != nil || len(b) != seal.SecretSize {
		t.Fatalf("secret %d characters, want base64 of %d bytes (%v)", len(first), seal.SecretSize, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "service.password"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if again, err := seal.EnsureSecret(dir, "service.password"); err != nil || again != first {
		t.Fatalf("second call: %v; the secret changed: %v", err, again != first)
	}
	if err := os.Chmod(filepath.Join(dir, "service.password"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.EnsureSecret(dir, "service.password"); !errors.Is(err, seal.ErrSecretPermissions) {
		t.Fatalf("a world-readable secret: %v, want ErrSecretPermissions", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.EnsureSecret(dir, "other"); !errors.Is(err, seal.ErrBadSecret) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("a file that is not a secret: %v, want ErrBadSecret without its content", err)
	}
}
