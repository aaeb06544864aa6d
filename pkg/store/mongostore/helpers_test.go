package mongostore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store/mongostore"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// openTest opens a store on a fresh database, dropped when the test ends.
func openTest(t *testing.T, opts ...mongostore.Option) *mongostore.Store {
	t.Helper()
	return openDB(t, freshName(t), opts...)
}

func freshName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "lethe_test_" + hex.EncodeToString(b)
}

func openDB(t *testing.T, db string, opts ...mongostore.Option) *mongostore.Store {
	t.Helper()
	uri := testkit.MongoURI(t)
	s, err := mongostore.Open(t.Context(), uri, db, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Database().Drop(ctx); err != nil {
			t.Errorf("drop %s: %v", db, err)
		}
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}
