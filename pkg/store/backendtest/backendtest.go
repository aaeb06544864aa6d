package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/mongostore"
	"github.com/lethe-gdpr/lethe/pkg/store/pebblestore"
)

// Pebble opens a fresh embedded store in a temporary directory, closed at cleanup.
func Pebble(t testing.TB) store.Store {
	t.Helper()
	s, err := pebblestore.Open(t.TempDir())
	if err != nil {
		t.Fatalf("pebblestore: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// Mongo opens a fresh database on MONGODB_URI, dropped at cleanup. Without MONGODB_URI the
// test is skipped, except in CI (CI set), where the missing harness is a failure.
func Mongo(t testing.TB) store.Store {
	t.Helper()
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatal("MONGODB_URI is not set and CI must not skip the MongoDB tests: run them through `make test`")
		}
		t.Skip("MONGODB_URI is not set: run `make test` to start the MongoDB harness")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := "lethe_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := mongostore.Open(ctx, uri, db)
	if err != nil {
		t.Fatalf("mongostore: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Database().Drop(ctx)
		_ = s.Close(ctx)
	})
	return s
}

// ForEach runs fn once per backend, as subtests named pebble and mongo.
func ForEach(t *testing.T, fn func(t *testing.T, s store.Store)) {
	t.Run("pebble", func(t *testing.T) { fn(t, Pebble(t)) })
	t.Run("mongo", func(t *testing.T) { fn(t, Mongo(t)) })
}
