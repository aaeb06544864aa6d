package pebblestore

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

var inactiveN = flag.Int("inactive.contacts", 1_000_000, "contacts BenchmarkInactiveScan stores before scanning")

// sealed mimics a base64 AES-GCM ciphertext of n plaintext bytes.
func sealed(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n+28)) }

// benchContact is a contact of typical size: a sealed profile, consents, two orders.
func benchContact(inst string, i int, recency time.Time) store.Contact {
	src := store.Source{EventID: fmt.Sprintf("01HZX%021d", i), Type: "lethe.order.placed.v1", At: recency}
	return store.Contact{
		Institution: inst, ID: fmt.Sprintf("contact-%08d", i), Status: store.StatusActive,
		Created: true, Role: "individual", CreatedAt: recency.AddDate(-2, 0, 0),
		Recency: recency, RecencySource: src, Customer: true, CustomerSource: src,
		Balance: store.Balance{Currency: "EUR", Source: src},
		Authorisations: map[string]store.Authorisation{
			"email": {Value: "yes", Source: src}, "sms": {Value: "no", Source: src},
		},
		Profile: map[string]store.Field{
			"email":      {Value: sealed(24), Sealed: true, Source: src},
			"first_name": {Value: sealed(8), Sealed: true, Source: src},
			"last_name":  {Value: sealed(10), Sealed: true, Source: src},
			"phone":      {Value: sealed(12), Sealed: true, Source: src},
			"country":    {Value: "FR", Source: src},
		},
		Organisations: []string{"org-1"},
		Orders: map[string]store.Order{
			"order-1": {ID: "order-1", Kind: "order", Role: "buyer", Source: src,
				Items: []store.Item{{ProductID: "perf-2024-03-14", Dated: true, ValidAt: recency, BeneficiaryFirstName: sealed(8), BeneficiaryLastName: sealed(10)}}},
			"order-2": {ID: "order-2", Kind: "order", Role: "buyer", Source: src,
				Items: []store.Item{{ProductID: "membership", ValidAt: recency}}},
		},
		UpdatedAt: recency,
	}
}

func benchStore(b *testing.B, opts ...Option) *Store {
	b.Helper()
	s, err := Open(b.TempDir(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// BenchmarkContactsPut measures read-fold-Put updates of existing contacts, the recency
// consumer's hot path: Get, change the recency, Put. "parallel" runs 64 updaters, which lets
// Pebble group their WAL fsyncs into one.
func BenchmarkContactsPut(b *testing.B) {
	const population = 10_000
	base := time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC)
	for _, sync := range []bool{true, false} {
		for _, parallel := range []int{1, 64} {
			name := fmt.Sprintf("sync=%t/updaters=%d", sync, parallel)
			b.Run(name, func(b *testing.B) {
				var opts []Option
				if !sync {
					opts = append(opts, withoutSync())
				}
				s := benchStore(b, opts...)
				ctx := context.Background()
				seedContacts(b, s, population, func(i int) store.Contact { return benchContact("inst-1", i, base) })
				var next atomic.Int64
				update := func() error {
					i := int(next.Add(1))
					id := fmt.Sprintf("contact-%08d", i%population)
					c, err := s.Contacts().Get(ctx, "inst-1", id)
					if err != nil {
						return err
					}
					c.Recency = base.Add(time.Duration(i) * time.Millisecond)
					_, err = s.Contacts().Put(ctx, c)
					if err != nil && err != store.ErrConflict {
						return err
					}
					return nil
				}
				b.ResetTimer()
				start := time.Now()
				if parallel == 1 {
					for b.Loop() {
						if err := update(); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism(parallel)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := update(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
			})
		}
	}
}

// BenchmarkInactiveScan stores -inactive.contacts contacts, a quarter of them inactive, and
// measures one Inactive scan over the institution.
func BenchmarkInactiveScan(b *testing.B) {
	n := *inactiveN
	s := benchStore(b)
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	// Recency spread over four years; ids interleave active and inactive contacts.
	step := 4 * 365 * 24 * time.Hour / time.Duration(n)
	seedContacts(b, s, n, func(i int) store.Contact {
		return benchContact("inst-1", i, base.Add(time.Duration(i*7919%n)*step))
	})
	before := base.AddDate(1, 0, 0)
	ctx := context.Background()
	var found int
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		found = 0
		err := s.Contacts().Inactive(ctx, "inst-1", store.StatusActive, before, func(store.Contact) error {
			found++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start).Seconds() / float64(b.N)
	b.ReportMetric(float64(found)/elapsed, "contacts/s")
	b.ReportMetric(float64(found), "inactive")
}

// seedContacts writes n contacts (at version 1, with their index entries) in large unsynced
// batches, then flushes: setting up a benchmark is not what it measures.
func seedContacts(b *testing.B, s *Store, n int, contact func(i int) store.Contact) {
	b.Helper()
	batch := s.db.NewBatch()
	for i := range n {
		c := contact(i)
		c.Version = 1
		v, err := encodeContact(c)
		if err != nil {
			b.Fatal(err)
		}
		_ = batch.Set(inactiveKey(c.Institution, string(c.Status), c.Recency, c.ID), nil, nil)
		_ = batch.Set(contactKey(c.Institution, c.ID), v, nil)
		if batch.Len() > 16<<20 {
			if err := batch.Commit(pebble.NoSync); err != nil {
				b.Fatal(err)
			}
			batch = s.db.NewBatch()
		}
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		b.Fatal(err)
	}
	if err := s.db.Flush(); err != nil {
		b.Fatal(err)
	}
}
