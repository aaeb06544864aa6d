package recency

import (
	"context"
	"slices"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
)

// The rules through the use case and a real store, on both backends. Events arrive newest
// first and one per write, so every case also crosses the compare-and-swap path.
func TestRulesOnStores(t *testing.T) {
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
