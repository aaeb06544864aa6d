package seal_test

import (
	"strconv"
	"testing"
)

// BenchmarkSeal seals one field of a contact whose key is cached: the steady state of ingest.
func BenchmarkSeal(b *testing.B) {
	s := newSealer(b, newMemKeys(), newMaster(b))
	mustSeal(b, s, "inst-a", "c1", "profile.email", "warm-up")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(b.Context(), "inst-a", "c1", "profile.email", "jeanne.martin@example.org"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealNewContact seals for a contact never seen: a store read, an insert-if-absent,
// a wrap and an unwrap, against the in-memory store (a real store adds its round trips).
func BenchmarkSealNewContact(b *testing.B) {
	s := newSealer(b, newMemKeys(), newMaster(b))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Seal(b.Context(), "inst-a", "c"+strconv.Itoa(i), "profile.email", "jeanne.martin@example.org"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealEvent seals the six personal fields of one contact.created event through one
// ContactKey, as ingest does.
func BenchmarkSealEvent(b *testing.B) {
	s := newSealer(b, newMemKeys(), newMaster(b))
	mustSeal(b, s, "inst-a", "c1", "profile.email", "warm-up")
	fields := [][2]string{
		{"profile.email", "jeanne.martin@example.org"}, {"profile.first_name", "Jeanne"},
		{"profile.last_name", "Martin"}, {"profile.phone", "+33 6 12 34 56 78"},
		{"profile.address.line1", "12 rue des Lilas"}, {"profile.address.city", "Lyon"},
	}
	b.ReportAllocs()
	for b.Loop() {
		ck, err := s.For(b.Context(), "inst-a", "c1")
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range fields {
			if _, err := ck.Seal(f[0], f[1]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkOpen opens one field of a cached contact: the export and read path.
func BenchmarkOpen(b *testing.B) {
	s := newSealer(b, newMemKeys(), newMaster(b))
	v := mustSeal(b, s, "inst-a", "c1", "profile.email", "jeanne.martin@example.org")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(b.Context(), "inst-a", "c1", "profile.email", v); err != nil {
			b.Fatal(err)
		}
	}
}
