package events

import (
	"bytes"
	"testing"
)

// BenchmarkValidate: one full contact.created (the largest golden) and one small payment.
func BenchmarkValidate(b *testing.B) {
	for _, name := range []string{"lethe.contact.created.v1.full", "lethe.payment.recorded.v1.eur", "lethe.order.placed.v1.buyer"} {
		e := goldenEvent(b, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Validate(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIngestPath is what ingest does per structured event: parse, decode, seal, re-encode.
func BenchmarkIngestPath(b *testing.B) {
	raw := golden(b)["lethe.contact.created.v1.full"]
	seal := func(_, v string) (string, error) { return SealedPrefix + v, nil }
	b.ReportAllocs()
	for b.Loop() {
		e, err := ParseStructured(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Seal(&e, seal); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseBatch parses a batch of 100 events (ns/op is per batch).
func BenchmarkParseBatch(b *testing.B) {
	var parts [][]byte
	for _, raw := range golden(b) {
		parts = append(parts, raw)
	}
	var one [][]byte
	for len(one) < 100 {
		one = append(one, parts...)
	}
	raw := append(append([]byte("["), bytes.Join(one[:100], []byte(","))...), ']')
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		es, err := ParseBatch(raw)
		if err != nil || len(es) != 100 {
			b.Fatal(err)
		}
	}
}
