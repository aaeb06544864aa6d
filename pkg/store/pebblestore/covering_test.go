package pebblestore

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// The Inactive index carries the document, and stays equal to it through every write; an
// entry written by an older version (empty value) is still read, by key.
func TestInactiveIndexCarriesTheDocument(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	ctx := context.Background()
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

	c, err := s.Contacts().Put(ctx, store.Contact{Institution: "i", ID: "new", Status: store.StatusActive, Recency: at, Role: "individual"})
	if err != nil {
		t.Fatal(err)
	}
	// A change that moves neither status nor recency must still refresh the index's copy.
	c.Role = "relay"
	if _, err := s.Contacts().Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	v, closer, err := s.db.Get(inactiveKey("i", string(store.StatusActive), at, "new"))
	if err != nil {
		t.Fatalf("index entry: %v", err)
	}
	indexed, err := decodeContact(v)
	closer.Close()
	if err != nil || indexed.Role != "relay" || indexed.Version != 2 {
		t.Fatalf("the index holds %+v (%v), want the document at version 2", indexed, err)
	}

	// An entry as older versions wrote it: the document under its key, an empty index value.
	old := store.Contact{Institution: "i", ID: "old", Status: store.StatusActive, Recency: at.Add(time.Hour), Role: "individual", Version: 1}
	ov, err := encodeContact(old)
	if err != nil {
		t.Fatal(err)
	}
	b := s.db.NewBatch()
	_ = b.Set(contactKey("i", "old"), ov, nil)
	_ = b.Set(inactiveKey("i", string(store.StatusActive), old.Recency, "old"), nil, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}

	var got []store.Contact
	if err := s.Contacts().Inactive(ctx, "i", store.StatusActive, at.Add(24*time.Hour), func(c store.Contact) error {
		got = append(got, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "new" || got[0].Role != "relay" || got[1].ID != "old" || got[1].Role != "individual" {
		t.Fatalf("Inactive = %+v, want new (relay) then old (individual)", got)
	}
}
