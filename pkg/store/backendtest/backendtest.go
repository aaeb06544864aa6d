package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/mongostore"
	"github.com/lethe-gdpr/lethe/pkg/store/pebblestore"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
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

// Mongo opens a fresh database on MONGODB_URI, dropped at cleanup; without it the test is
// skipped, or failed in CI (testkit.MongoURI).
func Mongo(t testing.TB) store.Store {
	t.Helper()
	uri := testkit.MongoURI(t)
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
