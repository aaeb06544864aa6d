package pebblestore_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/pebblestore"
	"github.com/lethe-gdpr/lethe/pkg/store/storetest"
)

func open(t *testing.T, dir string) *pebblestore.Store {
	t.Helper()
	s, err := pebblestore.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(t.Context()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, t.TempDir()) })
}

// TestReopenKeepsEveryDocument closes the store and opens the same directory again: every
// collection, its indexes and the key tombstones must come back.
func TestReopenKeepsEveryDocument(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()
	base := time.Date(2024, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

	s, err := pebblestore.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var want []store.Contact
	for i, id := range []string{"c1", "c10", "c2"} {
		c, err := s.Contacts().Put(ctx, store.Contact{Institution: "inst-1", ID: id, Status: store.StatusActive,
			Recency: base.AddDate(0, 0, -i), Profile: map[string]store.Field{"email": {Value: "c2VhbGVk", Sealed: true}}})
		if err != nil {
			t.Fatalf("Put %s: %v", id, err)
		}
		want = append(want, c)
	}
	if _, err := s.Keys().Create(ctx, "inst-1", "c1", []byte("wrapped")); err != nil {
		t.Fatalf("Create key: %v", err)
	}
	if err := s.Keys().Destroy(ctx, "inst-1", "c2", base); err != nil {
		t.Fatalf("Destroy key: %v", err)
	}
	run := store.Run{Institution: "inst-1", ID: "r1", Mode: store.ModeSimulation, State: store.RunPlanned, CreatedAt: base}
	if err := s.Runs().Create(ctx, run); err != nil {
		t.Fatalf("Create run: %v", err)
	}
	item := store.RunItem{Institution: "inst-1", RunID: "r1", ContactID: "c1", Outcome: store.OutcomeDelete, Recency: base}
	if err := s.RunItems().Put(ctx, []store.RunItem{item}); err != nil {
		t.Fatalf("Put item: %v", err)
	}
	if err := s.Audit().Append(ctx, store.AuditEntry{Seq: 1, At: base, Institution: "inst-1", Actor: "run:r1", Action: "deleted", Key: "erase:c1", Hash: "h1"}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, pebblestore.ErrClosed) {
		t.Fatalf("Ping after Close: err = %v, want ErrClosed", err)
	}

	s = open(t, dir)
	for _, c := range want {
		got, err := s.Contacts().Get(ctx, c.Institution, c.ID)
		if err != nil || got.Version != c.Version || !got.Recency.Equal(c.Recency) || got.Profile["email"] != c.Profile["email"] {
			t.Fatalf("contact %s after reopen = %+v, %v; want %+v", c.ID, got, err, c)
		}
	}
	var inactive []string
	if err := s.Contacts().Inactive(ctx, "inst-1", store.StatusActive, base.Add(time.Millisecond), func(c store.Contact) error {
		inactive = append(inactive, c.ID)
		return nil
	}); err != nil {
		t.Fatalf("Inactive: %v", err)
	}
	if !slices.Equal(inactive, []string{"c2", "c10", "c1"}) {
		t.Fatalf("Inactive after reopen = %q, want [c2 c10 c1]", inactive)
	}
	if k, err := s.Keys().Get(ctx, "inst-1", "c1"); err != nil || string(k) != "wrapped" {
		t.Fatalf("key after reopen = %q, %v", k, err)
	}
	if _, err := s.Keys().Get(ctx, "inst-1", "c2"); !errors.Is(err, store.ErrKeyDestroyed) {
		t.Fatalf("tombstone after reopen: err = %v, want ErrKeyDestroyed", err)
	}
	if runs, err := s.Runs().List(ctx, "inst-1", 0); err != nil || len(runs) != 1 || runs[0].ID != "r1" || runs[0].Version != 1 {
		t.Fatalf("runs after reopen = %+v, %v", runs, err)
	}
	if items, err := s.RunItems().ForContact(ctx, "inst-1", "c1"); err != nil || len(items) != 1 || items[0].Outcome != store.OutcomeDelete {
		t.Fatalf("run items after reopen = %+v, %v", items, err)
	}
	if last, err := s.Audit().Last(ctx); err != nil || last.Seq != 1 || last.Hash != "h1" {
		t.Fatalf("audit head after reopen = %+v, %v", last, err)
	}
}

func TestOpenRefusesAnotherLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("mlayout"), []byte("lethe-pebble-0"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := pebblestore.Open(dir); err == nil {
		_ = s.Close(t.Context())
		t.Fatal("Open accepted a directory written with another key layout")
	}
}

func TestClosedStoreRefusesCalls(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Contacts().Get(t.Context(), "inst-1", "c1"); !errors.Is(err, pebblestore.ErrClosed) {
		t.Fatalf("Get after Close: err = %v, want ErrClosed", err)
	}
}
