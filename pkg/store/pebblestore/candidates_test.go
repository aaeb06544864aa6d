package pebblestore

import (
	"context"
	"reflect"
	"testing"
	"time"

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
