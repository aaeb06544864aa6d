package pebblestore

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// TestCandidateCodecCoversEveryField fails when a field is added to store.Candidate and not
// to the index entry's codec, and refuses every truncation of a value.
func TestCandidateCodecCoversEveryField(t *testing.T) {
	var want store.Candidate
	n := 0
	fill(reflect.ValueOf(&want).Elem(), &n)
	v := encodeCandidate(nil, want)
	got, err := decodeCandidate(v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got  %+v\n want %+v", got, want)
	}
	for i := range len(v) {
		if _, err := decodeCandidate(v[:i]); err == nil {
			t.Fatalf("a value cut at %d of %d bytes decoded", i, len(v))
		}
	}
}

// TestCandidatesReadIndexEntriesWrittenBeforeThem: an index entry written by an earlier build
// has an empty value; Candidates reads the contact for it instead of failing.
func TestCandidatesReadIndexEntriesWrittenBeforeThem(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	ctx := t.Context()
	c := store.Contact{Institution: "i", ID: "c1", Status: store.StatusActive, Created: true, Role: "individual",
		Recency: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Balance: store.Balance{Amount: -5}}
	if c, err = s.Contacts().Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Set(inactiveKey("i", "active", c.Recency, "c1"), nil, nil); err != nil {
		t.Fatal(err)
	}
	var got []store.Candidate
	if err := s.Contacts().Candidates(ctx, "i", store.StatusActive, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), func(e store.Candidate) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []store.Candidate{store.CandidateOf(c)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Candidates over an old entry = %+v, want %+v", got, want)
	}
}

// TestRunItemCodecCoversEveryField: every field of store.RunItem survives the binary codec
// (the identity from the key), a truncated value is refused, and an item written as JSON
// before it still reads, whole.
func TestRunItemCodecCoversEveryField(t *testing.T) {
	var want store.RunItem
	n := 0
	fill(reflect.ValueOf(&want).Elem(), &n)
	v := encodeRunItem(nil, want)
	got, err := decodeRunItem(want.Institution, want.RunID, want.ContactID, v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got  %+v\n want %+v", got, want)
	}
	for i := range len(v) {
		if _, err := decodeRunItem(want.Institution, want.RunID, want.ContactID, v[:i]); err == nil {
			t.Fatalf("a value cut at %d of %d bytes decoded", i, len(v))
		}
	}
	old, err := encodeJSON(want)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = decodeRunItem("other", "other", "other", old); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("a JSON item reads as %+v, %v; want %+v", got, err, want)
	}
}

// TestRunItemsWrittenByEarlierBuildsStillRead: a report written before the by-contact index
// was dropped (a JSON item beside its 'j' entry) reads through ForContact, Get and Page with
// the items written since, and Put now writes one key per item, nothing under 'j'.
func TestRunItemsWrittenByEarlierBuildsStillRead(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	ctx := t.Context()
	old := store.RunItem{Institution: "i", RunID: "r1", ContactID: "c1", Outcome: store.OutcomeDelete,
		Role: "individual", Recency: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Result: "deleted"}
	v, err := encodeJSON(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Set(itemKey("i", "r1", "c1"), v, nil); err != nil {
		t.Fatal(err)
	}
	oldIndex := appendString(appendString(appendString([]byte{tagItemByContact}, "i"), "c1"), "r1")
	if err := s.db.Set(oldIndex, nil, nil); err != nil {
		t.Fatal(err)
	}
	later := store.RunItem{Institution: "i", RunID: "r2", ContactID: "c1", Outcome: store.OutcomeSkip, Reason: "blocked"}
	other := store.RunItem{Institution: "i", RunID: "r2", ContactID: "c2", Outcome: store.OutcomeAnonymise}
	if err := s.RunItems().Put(ctx, []store.RunItem{later, other}); err != nil {
		t.Fatal(err)
	}
	got, err := s.RunItems().ForContact(ctx, "i", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.RunItem{old, later}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ForContact = %+v, want %+v", got, want)
	}
	if got, err := s.RunItems().Get(ctx, "i", "r1", "c1"); err != nil || !reflect.DeepEqual(got, old) {
		t.Fatalf("Get of the old item = %+v, %v; want %+v", got, err, old)
	}
	if got, err := s.RunItems().Page(ctx, "i", "r1", "", 10); err != nil || !reflect.DeepEqual(got, []store.RunItem{old}) {
		t.Fatalf("Page of the old run = %+v, %v; want the old item", got, err)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagItemByContact}, UpperBound: []byte{tagItemByContact + 1}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d by-contact entries after Put, want only the old one", n)
	}
}
