package recency

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
)

// The rules through the use case and a real store, on both backends. Events arrive newest
// first and one per write, so every case also crosses the compare-and-swap path.
func TestRulesOnStores(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, s store.Store) {
		uc := NewRecordActivity(s.Contacts())
		ctx := context.Background()
		for i, rc := range ruleCases() {
			t.Run(rc.name, func(t *testing.T) {
				contact := "rule-" + string(rune('a'+i))
				evs := slices.Clone(rc.events)
				slices.Reverse(evs)
				for _, a := range evs {
					a.Contact = contact
					if err := uc.Handle(ctx, []Activity{a, a}); err != nil { // and a duplicate
						t.Fatal(err)
					}
				}
				c, err := s.Contacts().Get(ctx, "inst-a", contact)
				if err != nil {
					t.Fatal(err)
				}
				checkRule(t, rc, c)
			})
		}
	})
}

// Replicas folding overlapping batches at once (the same contacts in several batches in
// flight, so their PutMany calls conflict) end with the projection of one ordered fold.
func TestConcurrentReplicasConvergeOnTheOrderedProjection(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(3, 4))
		const contacts, replicas = 8, 3
		var all []Activity
		for c := range contacts {
			for _, a := range randomHistory(r, 10+r.IntN(15)) {
				a.Contact = fmt.Sprintf("c%d", c)
				all = append(all, a)
			}
		}
		// The reference: the same events, in order, one Handle each, under another institution.
		ordered := NewRecordActivity(s.Contacts())
		for _, a := range all {
			a.Institution = "inst-ref"
			if err := ordered.Handle(ctx, []Activity{a}); err != nil {
				t.Fatal(err)
			}
		}

		r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		batches := make(chan []Activity, len(all))
		for rest := all; len(rest) > 0; {
			n := min(1+r.IntN(12), len(rest))
			batches <- rest[:n]
			rest = rest[n:]
		}
		close(batches)
		var wg sync.WaitGroup
		errs := make(chan error, replicas)
		for range replicas {
			uc := NewRecordActivity(s.Contacts()) // one per replica, sharing only the store
			wg.Go(func() {
				for b := range batches {
					if err := uc.Handle(ctx, b); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for c := range contacts {
			id := fmt.Sprintf("c%d", c)
			got, err := s.Contacts().Get(ctx, "inst-a", id)
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.Contacts().Get(ctx, "inst-ref", id)
			if err != nil {
				t.Fatal(err)
			}
			got.Version, want.Version, want.Institution = 0, 0, got.Institution
			if !reflect.DeepEqual(normalise(got), normalise(want)) {
				t.Fatalf("%s: concurrent replicas\n got: %+v\nwant: %+v", id, got, want)
			}
		}
	})
}
