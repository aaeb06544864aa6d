package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

func runKeys(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("GetAbsentIsNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.Keys().Get(t.Context(), "inst-1", "c1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get absent key: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("CreateStoresAndGetReturns", func(t *testing.T) {
		s := open(t)
		wrapped := []byte{0x00, 0x01, 0xfe, 0xff, 'k', 0x00}
		got, err := s.Keys().Create(t.Context(), "inst-1", "c1", wrapped)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if !bytes.Equal(got, wrapped) {
			t.Fatalf("Create returned %x, want %x", got, wrapped)
		}
		stored, err := s.Keys().Get(t.Context(), "inst-1", "c1")
		if err != nil || !bytes.Equal(stored, wrapped) {
			t.Fatalf("Get = %x, %v; want %x", stored, err, wrapped)
		}
	})

	t.Run("CreateKeepsTheFirstKey", func(t *testing.T) {
		s := open(t)
		first := []byte("first-wrapped-key")
		if _, err := s.Keys().Create(t.Context(), "inst-1", "c1", first); err != nil {
			t.Fatalf("Create: %v", err)
		}
		got, err := s.Keys().Create(t.Context(), "inst-1", "c1", []byte("second-wrapped-key"))
		if err != nil || !bytes.Equal(got, first) {
			t.Fatalf("second Create = %q, %v; want the first key and no error", got, err)
		}
	})

	t.Run("RacingCreatesAllGetTheSameKey", func(t *testing.T) {
		s := open(t)
		const racers = 16
		results := make([][]byte, racers)
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				results[i], errs[i] = s.Keys().Create(t.Context(), "inst-1", "c1", fmt.Appendf(nil, "key-from-racer-%02d", i))
			})
		}
		wg.Wait()
		stored, err := s.Keys().Get(t.Context(), "inst-1", "c1")
		if err != nil {
			t.Fatalf("Get after the race: %v", err)
		}
		for i := range racers {
			if errs[i] != nil {
				t.Fatalf("racer %d: %v", i, errs[i])
			}
			if !bytes.Equal(results[i], stored) {
				t.Fatalf("racer %d got %q, but %q is stored", i, results[i], stored)
			}
		}
	})

	t.Run("CreateManyCreatesTheNewKeepsTheOldAndReportsTombstones", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if _, err := s.Keys().Create(ctx, "inst-1", "old", []byte("old-key")); err != nil {
			t.Fatal(err)
		}
		if err := s.Keys().Destroy(ctx, "inst-1", "gone", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Keys().CreateMany(ctx, []store.NewKey{
			{Institution: "inst-1", ID: "new-1", Wrapped: []byte("new-1-key")},
			{Institution: "inst-1", ID: "old", Wrapped: []byte("replacement")},
			{Institution: "inst-1", ID: "gone", Wrapped: []byte("resurrection")},
			{Institution: "inst-2", ID: "new-1", Wrapped: []byte("other-institution")},
			{Institution: "inst-1", ID: "", Wrapped: []byte("no-id")},
		})
		if err != nil {
			t.Fatalf("CreateMany: %v", err)
		}
		if len(got) != 5 {
			t.Fatalf("CreateMany returned %d results, want 5", len(got))
		}
		want := []string{"new-1-key", "old-key", "", "other-institution"}
		for i, w := range want {
			if string(got[i].Wrapped) != w {
				t.Fatalf("result %d = %q, want %q", i, got[i].Wrapped, w)
			}
		}
		if got[0].Err != nil || got[1].Err != nil || got[3].Err != nil {
			t.Fatalf("errors %v %v %v, want none", got[0].Err, got[1].Err, got[3].Err)
		}
		if !errors.Is(got[2].Err, store.ErrKeyDestroyed) {
			t.Fatalf("a tombstone's result: %v, want ErrKeyDestroyed", got[2].Err)
		}
		if got[4].Err == nil {
			t.Fatal("a key without a contact id was accepted")
		}
		for _, c := range []struct{ inst, id, want string }{{"inst-1", "new-1", "new-1-key"}, {"inst-1", "old", "old-key"}, {"inst-2", "new-1", "other-institution"}} {
			if stored, err := s.Keys().Get(ctx, c.inst, c.id); err != nil || string(stored) != c.want {
				t.Fatalf("Get %s/%s = %q, %v; want %q", c.inst, c.id, stored, err, c.want)
			}
		}
		if _, err := s.Keys().Get(ctx, "inst-1", "gone"); !errors.Is(err, store.ErrKeyDestroyed) {
			t.Fatalf("the tombstone after CreateMany: %v, want ErrKeyDestroyed", err)
		}
	})

	t.Run("RacingCreateManyAndCreateAgreeOnEveryKey", func(t *testing.T) {
		s := open(t)
		const racers, contacts = 8, 40
		results := make([][]store.KeyResult, racers)
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for r := range racers {
			wg.Go(func() {
				if r%2 == 0 { // half the racers create one by one
					results[r] = make([]store.KeyResult, contacts)
					for c := range contacts {
						results[r][c].Wrapped, results[r][c].Err = s.Keys().Create(t.Context(), "inst-1", fmt.Sprintf("c%02d", c), fmt.Appendf(nil, "r%d-c%02d", r, c))
					}
					return
				}
				ks := make([]store.NewKey, contacts)
				for c := range contacts {
					ks[c] = store.NewKey{Institution: "inst-1", ID: fmt.Sprintf("c%02d", (c+r)%contacts), Wrapped: fmt.Appendf(nil, "r%d-c%02d", r, (c+r)%contacts)}
				}
				got, err := s.Keys().CreateMany(t.Context(), ks)
				errs[r] = err
				results[r] = make([]store.KeyResult, contacts)
				for i, k := range got {
					results[r][(i+r)%contacts] = k
				}
			})
		}
		wg.Wait()
		for c := range contacts {
			stored, err := s.Keys().Get(t.Context(), "inst-1", fmt.Sprintf("c%02d", c))
			if err != nil {
				t.Fatalf("Get c%02d: %v", c, err)
			}
			for r := range racers {
				if errs[r] != nil || results[r][c].Err != nil {
					t.Fatalf("racer %d, contact %d: %v %v", r, c, errs[r], results[r][c].Err)
				}
				if !bytes.Equal(results[r][c].Wrapped, stored) {
					t.Fatalf("racer %d got %q for c%02d, but %q is stored", r, results[r][c].Wrapped, c, stored)
				}
			}
		}
	})

	t.Run("KeysArePerInstitutionAndContact", func(t *testing.T) {
		s := open(t)
		pairs := [][2]string{{"i1", "c1"}, {"i1", "c10"}, {"i10", "c1"}, {"i1-", "c1"}, {"i1", "c1-"}, {"I1", "C1"}}
		for _, p := range pairs {
			if _, err := s.Keys().Create(t.Context(), p[0], p[1], []byte(p[0]+"/"+p[1])); err != nil {
				t.Fatalf("Create %s/%s: %v", p[0], p[1], err)
			}
		}
		if err := s.Keys().Destroy(t.Context(), "i1", "c1", at(0)); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		for _, p := range pairs[1:] {
			got, err := s.Keys().Get(t.Context(), p[0], p[1])
			if err != nil || string(got) != p[0]+"/"+p[1] {
				t.Fatalf("Get %s/%s = %q, %v; want its own key", p[0], p[1], got, err)
			}
		}
	})

	t.Run("DestroyLeavesATombstone", func(t *testing.T) {
		s := open(t)
		if _, err := s.Keys().Create(t.Context(), "inst-1", "c1", []byte("k")); err != nil {
			t.Fatalf("Create: %v", err)
		}
		for i := range 2 { // idempotent
			if err := s.Keys().Destroy(t.Context(), "inst-1", "c1", at(i)); err != nil {
				t.Fatalf("Destroy #%d: %v", i+1, err)
			}
		}
		if got, err := s.Keys().Get(t.Context(), "inst-1", "c1"); !errors.Is(err, store.ErrKeyDestroyed) || got != nil {
			t.Fatalf("Get after Destroy = %q, %v; want nil, ErrKeyDestroyed", got, err)
		}
		if got, err := s.Keys().Create(t.Context(), "inst-1", "c1", []byte("fresh")); !errors.Is(err, store.ErrKeyDestroyed) || got != nil {
			t.Fatalf("Create after Destroy = %q, %v; want nil, ErrKeyDestroyed", got, err)
		}
	})

	t.Run("DestroyAbsentKeyLeavesATombstone", func(t *testing.T) {
		s := open(t)
		if err := s.Keys().Destroy(t.Context(), "inst-1", "never", at(0)); err != nil {
			t.Fatalf("Destroy of an absent key: %v", err)
		}
		if _, err := s.Keys().Get(t.Context(), "inst-1", "never"); !errors.Is(err, store.ErrKeyDestroyed) {
			t.Fatalf("Get: err = %v, want ErrKeyDestroyed", err)
		}
		if _, err := s.Keys().Create(t.Context(), "inst-1", "never", []byte("late")); !errors.Is(err, store.ErrKeyDestroyed) {
			t.Fatalf("late Create: err = %v, want ErrKeyDestroyed", err)
		}
	})
}
