package seal_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

func newMaster(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, seal.MasterKeySize)
	rand.Read(k)
	return k
}

func newSealer(t testing.TB, keys store.Keys, master []byte, opts ...seal.Option) *seal.Sealer {
	t.Helper()
	s, err := seal.New(keys, master, opts...)
	if err != nil {
		t.Fatalf("seal.New: %v", err)
	}
	return s
}

func mustSeal(t testing.TB, s *seal.Sealer, inst, contact, field, plain string) string {
	t.Helper()
	v, err := s.Seal(t.Context(), inst, contact, field, plain)
	if err != nil {
		t.Fatalf("Seal(%s/%s %s): %v", inst, contact, field, err)
	}
	return v
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := newSealer(t, newMemKeys(), newMaster(t))
	for _, tc := range []struct{ name, plain string }{
		{"empty", ""},
		{"email", "jeanne.martin@example.org"},
		{"unicode name", "Zoë Ångström-Łukasiewicz 李"},
		{"long remark", strings.Repeat("allergic to peanuts; ", 500)},
		{"looks sealed", seal.Prefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v1 := mustSeal(t, s, "inst-a", "c1", "profile.remark", tc.plain)
			v2 := mustSeal(t, s, "inst-a", "c1", "profile.remark", tc.plain)
			if !strings.HasPrefix(v1, seal.Prefix) || !seal.IsSealed(v1) {
				t.Fatalf("sealed value %q lacks the sealed shape", v1)
			}
			if tc.plain != "" && strings.Contains(v1, tc.plain) {
				t.Fatal("sealed value contains the plaintext")
			}
			if v1 == v2 {
				t.Fatal("sealing twice gave the same value: nonces are not fresh")
			}
			for _, v := range []string{v1, v2} {
				got, err := s.Open(t.Context(), "inst-a", "c1", "profile.remark", v)
				if err != nil || got != tc.plain {
					t.Fatalf("Open = %q, %v; want the plaintext", got, err)
				}
			}
		})
	}

	t.Run("through ContactKey", func(t *testing.T) {
		ck, err := s.For(t.Context(), "inst-a", "c2")
		if err != nil {
			t.Fatal(err)
		}
		fields := map[string]string{"profile.email": "a@example.org", "profile.first_name": "Ana", "profile.phone": "+33 6 12 34 56 78"}
		sealed := map[string]string{}
		for f, p := range fields {
			if sealed[f], err = ck.Seal(f, p); err != nil {
				t.Fatal(err)
			}
		}
		rk, err := s.ForRead(t.Context(), "inst-a", "c2")
		if err != nil {
			t.Fatal(err)
		}
		for f, p := range fields {
			if got, err := rk.Open(f, sealed[f]); err != nil || got != p {
				t.Fatalf("ContactKey.Open(%s) = %q, %v", f, got, err)
			}
			if got, err := s.Open(t.Context(), "inst-a", "c2", f, sealed[f]); err != nil || got != p {
				t.Fatalf("Sealer.Open(%s) = %q, %v", f, got, err)
			}
		}
	})
}

func TestSealedValueIsBoundToInstitutionContactAndField(t *testing.T) {
	keys := newMemKeys()
	s := newSealer(t, keys, newMaster(t))
	const plain = "jeanne.martin@example.org"
	v := mustSeal(t, s, "inst-a", "c1", "profile.email", plain)
	// Give the other owners keys of their own, so each attempt reaches decryption.
	mustSeal(t, s, "inst-a", "c2", "profile.email", "x")
	mustSeal(t, s, "inst-b", "c1", "profile.email", "x")

	for _, tc := range []struct {
		name, inst, contact, field string
		want                       error
	}{
		{"other contact", "inst-a", "c2", "profile.email", seal.ErrTampered},
		{"other field", "inst-a", "c1", "profile.phone", seal.ErrTampered},
		{"other institution, same contact id", "inst-b", "c1", "profile.email", seal.ErrTampered},
		{"contact without a key", "inst-a", "c3", "profile.email", seal.ErrNoKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Open(t.Context(), tc.inst, tc.contact, tc.field, v)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %q, %v; want %v", got, err, tc.want)
			}
			if got != "" || strings.Contains(err.Error(), plain) {
				t.Fatalf("a failed Open leaked the plaintext: %q, %v", got, err)
			}
		})
	}
	if keys.live() != 3 {
		t.Fatalf("Open created keys: %d live, want 3", keys.live())
	}
}

func TestTamperingIsDetected(t *testing.T) {
	s := newSealer(t, newMemKeys(), newMaster(t))
	const plain = "12 rue des Lilas"
	v := mustSeal(t, s, "inst-a", "c1", "profile.address.line1", plain)
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(v, seal.Prefix))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return seal.Prefix + base64.RawURLEncoding.EncodeToString(b)
	}
	enc := strings.TrimPrefix(v, seal.Prefix)
	for _, tc := range []struct {
		name, value string
		want        error
	}{
		{"nonce bit", flip(0), seal.ErrTampered},
		{"ciphertext bit", flip(12), seal.ErrTampered},
		{"tag bit", flip(len(raw) - 1), seal.ErrTampered},
		{"truncated by one byte", seal.Prefix + base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]), seal.ErrTampered},
		{"shorter than nonce and tag", seal.Prefix + base64.RawURLEncoding.EncodeToString(raw[:27]), seal.ErrNotSealed},
		{"extra byte", seal.Prefix + base64.RawURLEncoding.EncodeToString(append(bytes.Clone(raw), 0)), seal.ErrTampered},
		{"no prefix", enc, seal.ErrNotSealed},
		{"other version", "sealed:v2:" + enc, seal.ErrNotSealed},
		{"padded base64", seal.Prefix + base64.URLEncoding.EncodeToString(raw), seal.ErrNotSealed},
		{"standard alphabet", seal.Prefix + strings.NewReplacer("-", "+", "_", "/").Replace(enc) + "+/", seal.ErrNotSealed},
		{"line break inside", seal.Prefix + enc[:10] + "\n" + enc[10:], seal.ErrNotSealed},
		{"clear text", plain, seal.ErrNotSealed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Open(t.Context(), "inst-a", "c1", "profile.address.line1", tc.value)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %q, %v; want %v", got, err, tc.want)
			}
			if got != "" || strings.Contains(err.Error(), plain) || strings.Contains(err.Error(), enc) {
				t.Fatalf("error leaks the value: %v", err)
			}
			if tc.want == seal.ErrNotSealed && seal.IsSealed(tc.value) {
				t.Fatal("IsSealed accepts a value Open rejects as not sealed")
			}
		})
	}
}

func TestWrappedKeyIsBoundToItsContact(t *testing.T) {
	keys := newMemKeys()
	s := newSealer(t, keys, newMaster(t))
	mustSeal(t, s, "inst-a", "c1", "profile.email", "a@example.org")
	stolen := keys.raw("inst-a", "c1")

	for _, target := range [][2]string{{"inst-a", "c2"}, {"inst-b", "c1"}} {
		t.Run(target[0]+"/"+target[1], func(t *testing.T) {
			keys.put(target[0], target[1], stolen)
			if _, err := s.Seal(t.Context(), target[0], target[1], "profile.email", "b@example.org"); !errors.Is(err, seal.ErrWrappedKey) {
				t.Fatalf("Seal under a key copied from another contact: %v; want ErrWrappedKey", err)
			}
			if !bytes.Equal(keys.raw(target[0], target[1]), stolen) {
				t.Fatal("the stored key was replaced")
			}
		})
	}
}

func TestWrongMasterKeyNeverReplacesAStoredKey(t *testing.T) {
	keys := newMemKeys()
	right := newSealer(t, keys, newMaster(t))
	v := mustSeal(t, right, "inst-a", "c1", "profile.email", "a@example.org")
	before := keys.raw("inst-a", "c1")

	wrong := newSealer(t, keys, newMaster(t))
	if _, err := wrong.Seal(t.Context(), "inst-a", "c1", "profile.email", "b@example.org"); !errors.Is(err, seal.ErrUnknownMasterKey) {
		t.Fatalf("Seal with another master key: %v; want ErrUnknownMasterKey", err)
	}
	if _, err := wrong.Open(t.Context(), "inst-a", "c1", "profile.email", v); !errors.Is(err, seal.ErrUnknownMasterKey) {
		t.Fatalf("Open with another master key: %v; want ErrUnknownMasterKey", err)
	}
	if !bytes.Equal(keys.raw("inst-a", "c1"), before) {
		t.Fatal("a Sealer with the wrong master key replaced the stored data key")
	}
	if got, err := right.Open(t.Context(), "inst-a", "c1", "profile.email", v); err != nil || got != "a@example.org" {
		t.Fatalf("the right master key no longer opens: %q, %v", got, err)
	}
}

func TestMasterKeyRotation(t *testing.T) {
	keys := newMemKeys()
	oldKey, newKey := newMaster(t), newMaster(t)
	before := newSealer(t, keys, oldKey)
	v := mustSeal(t, before, "inst-a", "c1", "profile.email", "a@example.org")

	after := newSealer(t, keys, newKey, seal.WithPreviousMasterKeys(oldKey))
	if after.KeyID() != seal.KeyID(newKey) || after.KeyID() == seal.KeyID(oldKey) {
		t.Fatalf("KeyID = %s; want the new key's %s", after.KeyID(), seal.KeyID(newKey))
	}
	if got, err := after.Open(t.Context(), "inst-a", "c1", "profile.email", v); err != nil || got != "a@example.org" {
		t.Fatalf("rotated Sealer cannot open a value under a previous master key: %q, %v", got, err)
	}
	w := mustSeal(t, after, "inst-a", "c2", "profile.email", "b@example.org")
	// The new contact's key is wrapped under the new master key only.
	if _, err := before.Open(t.Context(), "inst-a", "c2", "profile.email", w); !errors.Is(err, seal.ErrUnknownMasterKey) {
		t.Fatalf("old Sealer on a key wrapped by the new master: %v; want ErrUnknownMasterKey", err)
	}
	if _, err := newSealer(t, keys, newKey).Open(t.Context(), "inst-a", "c1", "profile.email", v); !errors.Is(err, seal.ErrUnknownMasterKey) {
		t.Fatalf("without the previous key: %v; want ErrUnknownMasterKey", err)
	}
}

func TestRacingFirstSealsConvergeOnOneKey(t *testing.T) {
	const racers = 16
	keys := newMemKeys()
	master := newMaster(t)
	sealers := make([]*seal.Sealer, racers)
	for i := range sealers {
		sealers[i] = newSealer(t, keys, master) // one per replica: no shared cache
	}
	values := make([]string, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			values[i], errs[i] = sealers[i].Seal(t.Context(), "inst-a", "new-contact", "profile.email", fmt.Sprintf("racer-%02d@example.org", i))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: %v", i, err)
		}
	}
	if n := keys.live(); n != 1 {
		t.Fatalf("%d keys stored, want 1", n)
	}
	t.Logf("%d Creates for %d racers", keys.creates.Load(), racers)
	for i, s := range sealers {
		for j, v := range values {
			got, err := s.Open(t.Context(), "inst-a", "new-contact", "profile.email", v)
			if want := fmt.Sprintf("racer-%02d@example.org", j); err != nil || got != want {
				t.Fatalf("sealer %d opening racer %d's value: %q, %v", i, j, got, err)
			}
		}
	}
}

func TestDestroyShredsForEverySealer(t *testing.T) {
	keys := newMemKeys()
	master := newMaster(t)
	s := newSealer(t, keys, master)
	v := mustSeal(t, s, "inst-a", "c1", "profile.email", "a@example.org")
	other := mustSeal(t, s, "inst-a", "c2", "profile.email", "b@example.org")

	if err := s.Destroy(t.Context(), "inst-a", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Destroy(t.Context(), "inst-a", "c1"); err != nil {
		t.Fatalf("second Destroy: %v; want idempotent", err)
	}
	cold := newSealer(t, keys, master)
	for _, sc := range []struct {
		name string
		s    *seal.Sealer
	}{{"same sealer", s}, {"cold sealer", cold}} {
		t.Run(sc.name, func(t *testing.T) {
			checks := map[string]func() error{
				"Open": func() error {
					_, err := sc.s.Open(t.Context(), "inst-a", "c1", "profile.email", v)
					return err
				},
				"Seal": func() error {
					_, err := sc.s.Seal(t.Context(), "inst-a", "c1", "profile.email", "late@example.org")
					return err
				},
				"For": func() error {
					_, err := sc.s.For(t.Context(), "inst-a", "c1")
					return err
				},
				"ForRead": func() error {
					_, err := sc.s.ForRead(t.Context(), "inst-a", "c1")
					return err
				},
			}
			for name, check := range checks {
				err := check()
				if !errors.Is(err, seal.ErrKeyDestroyed) || !errors.Is(err, store.ErrKeyDestroyed) {
					t.Errorf("%s after Destroy: %v; want ErrKeyDestroyed (wrapping store.ErrKeyDestroyed)", name, err)
				}
			}
			if got, err := sc.s.Open(t.Context(), "inst-a", "c2", "profile.email", other); err != nil || got != "b@example.org" {
				t.Errorf("another contact was affected: %q, %v", got, err)
			}
		})
	}
	if keys.live() != 1 {
		t.Fatalf("a late Seal recreated a key: %d live keys, want 1 (c2)", keys.live())
	}

	t.Run("never seen contact", func(t *testing.T) {
		if err := s.Destroy(t.Context(), "inst-a", "ghost"); err != nil {
			t.Fatal(err)
		}
		if _, err := cold.Seal(t.Context(), "inst-a", "ghost", "profile.email", "g@example.org"); !errors.Is(err, seal.ErrKeyDestroyed) {
			t.Fatalf("Seal for a contact destroyed before its first event: %v; want ErrKeyDestroyed", err)
		}
	})
}

func TestDestroyElsewhereIsSeenWhenTheCacheExpires(t *testing.T) {
	keys := newMemKeys()
	master := newMaster(t)
	clk := newClock()
	const ttl = 30 * time.Second
	replica := newSealer(t, keys, master, seal.WithCacheTTL(ttl), seal.WithClock(clk.Now))
	anonymiser := newSealer(t, keys, master)
	mustSeal(t, replica, "inst-a", "c1", "profile.email", "a@example.org")

	if err := anonymiser.Destroy(t.Context(), "inst-a", "c1"); err != nil {
		t.Fatal(err)
	}
	// The documented window: the replica's cached key still seals until it expires.
	clk.Advance(ttl - time.Second)
	if _, err := replica.Seal(t.Context(), "inst-a", "c1", "profile.email", "late@example.org"); err != nil {
		t.Fatalf("within the TTL the cached key is expected to be used: %v", err)
	}
	clk.Advance(time.Second)
	if _, err := replica.Seal(t.Context(), "inst-a", "c1", "profile.email", "late@example.org"); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Fatalf("after the TTL: %v; want ErrKeyDestroyed", err)
	}
}

func TestDestroyFencesALoadInFlight(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		// during runs while the load is held, after Destroy returned.
		during func(t *testing.T, s *seal.Sealer)
	}{
		{"tombstone still cached", seal.DefaultCacheSize, func(*testing.T, *seal.Sealer) {}},
		{"tombstone evicted meanwhile", 1, func(t *testing.T, s *seal.Sealer) {
			mustSeal(t, s, "inst-a", "c2", "profile.email", "b@example.org")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := newMemKeys()
			master := newMaster(t)
			mustSeal(t, newSealer(t, keys, master), "inst-a", "c1", "profile.email", "a@example.org")
			s := newSealer(t, keys, master, seal.WithCacheSize(tc.size)) // cold: its first Seal reads the store

			// Hold s's store read for c1 after it has read the live key, destroy meanwhile,
			// then let the read finish: the key it read must not land in the cache.
			read, release := make(chan struct{}), make(chan struct{})
			keys.afterGet = func(inst, id string) {
				if id == "c1" {
					select {
					case <-read:
					default:
						close(read)
						<-release
					}
				}
			}
			done := make(chan error)
			go func() {
				_, err := s.Seal(t.Context(), "inst-a", "c1", "profile.email", "in-flight@example.org")
				done <- err
			}()
			<-read
			if err := s.Destroy(t.Context(), "inst-a", "c1"); err != nil {
				t.Fatal(err)
			}
			tc.during(t, s)
			close(release)
			if err := <-done; err != nil {
				t.Fatalf("the Seal that read the key before Destroy: %v", err)
			}
			if _, err := s.Seal(t.Context(), "inst-a", "c1", "profile.email", "late@example.org"); !errors.Is(err, seal.ErrKeyDestroyed) {
				t.Fatalf("Seal after Destroy returned: %v; want ErrKeyDestroyed (the in-flight read re-cached the key)", err)
			}
		})
	}
}

func TestCache(t *testing.T) {
	t.Run("a cached key is not a store read per value", func(t *testing.T) {
		keys := newMemKeys()
		s := newSealer(t, keys, newMaster(t))
		for i := range 1000 {
			mustSeal(t, s, "inst-a", "c1", "profile.email", fmt.Sprintf("v%d", i))
		}
		if n := keys.gets.Load(); n != 1 {
			t.Fatalf("%d store reads for 1000 seals of one contact, want 1", n)
		}
	})

	t.Run("bounded, least recently used goes first", func(t *testing.T) {
		keys := newMemKeys()
		s := newSealer(t, keys, newMaster(t), seal.WithCacheSize(2))
		reads := func() int64 { return keys.gets.Load() }
		for _, step := range []struct {
			contact string
			reads   int64
		}{
			{"c1", 1}, {"c2", 2}, // both cached
			{"c1", 2},            // hit; c2 is now the least recent
			{"c3", 3},            // evicts c2
			{"c1", 3}, {"c3", 3}, // still cached
			{"c2", 4}, // evicted: read again
		} {
			mustSeal(t, s, "inst-a", step.contact, "profile.email", "x")
			if reads() != step.reads {
				t.Fatalf("after sealing for %s: %d store reads, want %d", step.contact, reads(), step.reads)
			}
		}
	})

	t.Run("size zero disables it", func(t *testing.T) {
		keys := newMemKeys()
		s := newSealer(t, keys, newMaster(t), seal.WithCacheSize(0))
		v := mustSeal(t, s, "inst-a", "c1", "profile.email", "a@example.org")
		mustSeal(t, s, "inst-a", "c1", "profile.email", "b@example.org")
		if n := keys.gets.Load(); n != 2 {
			t.Fatalf("%d store reads, want 2", n)
		}
		if err := s.Destroy(t.Context(), "inst-a", "c1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open(t.Context(), "inst-a", "c1", "profile.email", v); !errors.Is(err, seal.ErrKeyDestroyed) {
			t.Fatalf("Open after Destroy: %v; want ErrKeyDestroyed", err)
		}
	})

	t.Run("not found is not remembered", func(t *testing.T) {
		keys := newMemKeys()
		master := newMaster(t)
		reader, writer := newSealer(t, keys, master), newSealer(t, keys, master)
		if _, err := reader.ForRead(t.Context(), "inst-a", "c1"); !errors.Is(err, seal.ErrNoKey) {
			t.Fatalf("ForRead before any key: %v; want ErrNoKey", err)
		}
		v := mustSeal(t, writer, "inst-a", "c1", "profile.email", "a@example.org")
		if got, err := reader.Open(t.Context(), "inst-a", "c1", "profile.email", v); err != nil || got != "a@example.org" {
			t.Fatalf("reader that saw no key earlier: %q, %v", got, err)
		}
		w := mustSeal(t, reader, "inst-a", "c1", "profile.email", "b@example.org")
		if got, err := writer.Open(t.Context(), "inst-a", "c1", "profile.email", w); err != nil || got != "b@example.org" {
			t.Fatalf("the two sealers use different keys: %q, %v", got, err)
		}
		if keys.live() != 1 {
			t.Fatalf("%d keys, want 1", keys.live())
		}
	})

	t.Run("tombstones are remembered", func(t *testing.T) {
		keys := newMemKeys()
		s := newSealer(t, keys, newMaster(t))
		if err := keys.Destroy(t.Context(), "inst-a", "c1", time.Now()); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := s.Seal(t.Context(), "inst-a", "c1", "profile.email", "x"); !errors.Is(err, seal.ErrKeyDestroyed) {
				t.Fatalf("Seal: %v; want ErrKeyDestroyed", err)
			}
		}
		if n := keys.gets.Load(); n != 1 {
			t.Fatalf("%d store reads for three late events, want 1", n)
		}
	})
}

func TestInvalidArguments(t *testing.T) {
	keys := newMemKeys()
	s := newSealer(t, keys, newMaster(t))
	ck, err := s.For(t.Context(), "inst-a", "c1")
	if err != nil {
		t.Fatal(err)
	}
	v, err := ck.Seal("profile.email", "a@example.org")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Seal without institution", func() error { _, err := s.Seal(t.Context(), "", "c1", "f", "x"); return err }},
		{"Seal without contact", func() error { _, err := s.Seal(t.Context(), "inst-a", "", "f", "x"); return err }},
		{"Seal without field", func() error { _, err := s.Seal(t.Context(), "inst-a", "c1", "", "x"); return err }},
		{"Open without contact", func() error { _, err := s.Open(t.Context(), "inst-a", "", "f", v); return err }},
		{"ContactKey.Open without field", func() error { _, err := ck.Open("", v); return err }},
		{"Destroy without contact", func() error { return s.Destroy(t.Context(), "inst-a", "") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, seal.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		master []byte
		opts   []seal.Option
		want   error
	}{
		{"short master key", make([]byte, 16), nil, seal.ErrBadMasterKey},
		{"short previous key", newMaster(t), []seal.Option{seal.WithPreviousMasterKeys(make([]byte, 31))}, seal.ErrBadMasterKey},
		{"negative cache size", newMaster(t), []seal.Option{seal.WithCacheSize(-1)}, nil},
		{"zero TTL", newMaster(t), []seal.Option{seal.WithCacheTTL(0)}, nil},
		{"nil clock", newMaster(t), []seal.Option{seal.WithClock(nil)}, nil},
	} {
		t.Run("New with "+tc.name, func(t *testing.T) {
			_, err := seal.New(keys, tc.master, tc.opts...)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("New: %v; want an error (%v)", err, tc.want)
			}
		})
	}
	if _, err := seal.New(nil, newMaster(t)); err == nil {
		t.Fatal("New with a nil store: no error")
	}
}

func FuzzOpen(f *testing.F) {
	keys := newMemKeys()
	s := newSealer(f, keys, newMaster(f))
	const plain = "jeanne.martin@example.org"
	v := mustSeal(f, s, "inst-a", "c1", "profile.email", plain)
	for _, seed := range []string{v, v[:len(v)-1], v + "A", seal.Prefix, seal.Prefix + "====", "", plain} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := s.Open(t.Context(), "inst-a", "c1", "profile.email", in)
		if err == nil && (in != v || got != plain) {
			t.Fatalf("Open accepted a value that was never sealed: %q -> %q", in, got)
		}
		if err != nil && !seal.IsSealed(in) && !errors.Is(err, seal.ErrNotSealed) {
			t.Fatalf("unsealed input gave %v, want ErrNotSealed", err)
		}
	})
}

// Prepare creates every missing key of a batch in one CreateMany, keeps the keys already
// stored, remembers tombstones, and leaves For nothing to ask the store.
func TestPrepareCreatesMissingKeysTogether(t *testing.T) {
	keys := newMemKeys()
	master := newMaster(t)
	ctx := t.Context()
	// Another process sealed for "known" and destroyed "gone" before this one started.
	other := newSealer(t, keys, master)
	before := mustSeal(t, other, "inst-a", "known", "profile.email", "known@example.org")
	if err := other.Destroy(ctx, "inst-a", "gone"); err != nil {
		t.Fatal(err)
	}

	s := newSealer(t, keys, master)
	var batch []seal.Contact
	for i := range 50 {
		batch = append(batch, seal.Contact{Institution: "inst-a", ID: fmt.Sprintf("new-%02d", i)})
	}
	batch = append(batch, seal.Contact{Institution: "inst-a", ID: "known"}, seal.Contact{Institution: "inst-a", ID: "gone"}, seal.Contact{Institution: "inst-a", ID: "new-00"})
	creates := keys.creates.Load()
	if err := s.Prepare(ctx, batch); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if n := keys.createManys.Load(); n != 1 {
		t.Fatalf("Prepare called CreateMany %d times, want once for the whole batch", n)
	}
	if n := keys.creates.Load() - creates; n != 0 {
		t.Fatalf("Prepare called Create %d times, want none", n)
	}

	gets, createManys := keys.gets.Load(), keys.createManys.Load()
	sealed := map[string]string{}
	for i := range 50 {
		id := fmt.Sprintf("new-%02d", i)
		ck, err := s.For(ctx, "inst-a", id)
		if err != nil {
			t.Fatalf("For %s after Prepare: %v", id, err)
		}
		if sealed[id], err = ck.Seal("profile.email", id+"@example.org"); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Open(ctx, "inst-a", "known", "profile.email", before); err != nil || got != "known@example.org" {
		t.Fatalf("a key stored before Prepare: Open = %q, %v", got, err)
	}
	if _, err := s.For(ctx, "inst-a", "gone"); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Fatalf("For a destroyed contact after Prepare: %v, want ErrKeyDestroyed", err)
	}
	if keys.gets.Load() != gets || keys.createManys.Load() != createManys || keys.creates.Load() != creates {
		t.Fatalf("For asked the store for a key Prepare had already loaded: gets %d→%d, createManys %d→%d, creates %d→%d", gets, keys.gets.Load(), createManys, keys.createManys.Load(), creates, keys.creates.Load())
	}
	// The keys Prepare created are the stored ones: a fresh sealer (no cache) opens with them.
	fresh := newSealer(t, keys, master)
	for id, v := range sealed {
		if got, err := fresh.Open(ctx, "inst-a", id, "profile.email", v); err != nil || got != id+"@example.org" {
			t.Fatalf("%s: Open by another sealer = %q, %v", id, got, err)
		}
	}
}

// A key created elsewhere between Prepare's read and its CreateMany wins, and Prepare caches
// that one, not its own.
func TestPrepareKeepsTheKeyThatWonTheRace(t *testing.T) {
	keys := newMemKeys()
	master := newMaster(t)
	ctx := t.Context()
	winner := newSealer(t, keys, master)
	s := newSealer(t, keys, master)
	var won string
	keys.afterGet = func(inst, id string) {
		keys.afterGet = nil
		won = mustSeal(t, winner, inst, id, "profile.email", "first@example.org")
	}
	if err := s.Prepare(ctx, []seal.Contact{{Institution: "inst-a", ID: "c1"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(ctx, "inst-a", "c1", "profile.email", won); err != nil || got != "first@example.org" {
		t.Fatalf("Open with the cached key = %q, %v; want the winner's key", got, err)
	}
}

func TestPrepareWithoutCacheDoesNothing(t *testing.T) {
	keys := newMemKeys()
	s := newSealer(t, keys, newMaster(t), seal.WithCacheSize(0))
	if err := s.Prepare(t.Context(), []seal.Contact{{Institution: "inst-a", ID: "c1"}}); err != nil {
		t.Fatal(err)
	}
	if keys.gets.Load()+keys.creates.Load()+keys.createManys.Load() != 0 {
		t.Fatal("Prepare asked the store with the cache disabled")
	}
}
