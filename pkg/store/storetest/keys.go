package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

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
