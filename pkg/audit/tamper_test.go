package audit_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/pkg/store/mongostore"
	"github.com/lethe-gdpr/lethe/pkg/store/pebblestore"
)

// tampered is a real store and two ways to tamper with it behind the port's back, as
// someone with access to the files or the database could.
type tampered struct {
	s       store.Store
	rewrite func(t *testing.T, seq int64, fn func(*store.AuditEntry))
	remove  func(t *testing.T, seqs ...int64)
}

// eachTampered runs fn on both stores.
func eachTampered(t *testing.T, fn func(t *testing.T, st *tampered)) {
	t.Run("pebble", func(t *testing.T) { fn(t, pebbleTampered(t)) })
	t.Run("mongo", func(t *testing.T) { fn(t, mongoTampered(t)) })
}

// pebbleTampered edits the directory with Pebble itself while the store is closed. The key
// of entry seq is 'a' then seq big-endian with the sign bit flipped; the value is its JSON
// (pebblestore's doc.go).
func pebbleTampered(t *testing.T) *tampered {
	dir := t.TempDir()
	st := &tampered{}
	reopen := func(t *testing.T) {
		s, err := pebblestore.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(context.Background()) })
		st.s = s
	}
	edit := func(t *testing.T, fn func(db *pebble.DB)) {
		if err := st.s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		db, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
		if err != nil {
			t.Fatal(err)
		}
		fn(db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		reopen(t)
	}
	key := func(seq int64) []byte { return binary.BigEndian.AppendUint64([]byte{'a'}, uint64(seq)^(1<<63)) }
	st.rewrite = func(t *testing.T, seq int64, fn func(*store.AuditEntry)) {
		edit(t, func(db *pebble.DB) {
			v, closer, err := db.Get(key(seq))
			if err != nil {
				t.Fatalf("raw get of seq %d: %v", seq, err)
			}
			var e store.AuditEntry
			err = json.Unmarshal(v, &e)
			_ = closer.Close()
			if err != nil {
				t.Fatal(err)
			}
			fn(&e)
			b, _ := json.Marshal(e)
			if err := db.Set(key(seq), b, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		})
	}
	st.remove = func(t *testing.T, seqs ...int64) {
		edit(t, func(db *pebble.DB) {
			for _, seq := range seqs {
				if err := db.Delete(key(seq), pebble.Sync); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	reopen(t)
	return st
}

func mongoTampered(t *testing.T) *tampered {
	s := backendtest.Mongo(t)
	c := s.(*mongostore.Store).Database().Collection("audit")
	ctx := context.Background()
	return &tampered{
		s: s,
		rewrite: func(t *testing.T, seq int64, fn func(*store.AuditEntry)) {
			var e store.AuditEntry
			if err := c.FindOne(ctx, bson.D{{Key: "seq", Value: seq}}).Decode(&e); err != nil {
				t.Fatal(err)
			}
			fn(&e)
			if _, err := c.ReplaceOne(ctx, bson.D{{Key: "seq", Value: seq}}, e); err != nil {
				t.Fatal(err)
			}
		},
		remove: func(t *testing.T, seqs ...int64) {
			for _, seq := range seqs {
				if res, err := c.DeleteOne(ctx, bson.D{{Key: "seq", Value: seq}}); err != nil || res.DeletedCount != 1 {
					t.Fatalf("delete seq %d: %v, %v", seq, res, err)
				}
			}
		},
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		tamper func(t *testing.T, st *tampered)
		seq    int64
		reason string
	}{
		{"a field altered", func(t *testing.T, st *tampered) {
			st.rewrite(t, 3, func(e *store.AuditEntry) { e.Fields = append(e.Fields, "profile.phone") })
		}, 3, "hash does not match"},
		{"the actor altered", func(t *testing.T, st *tampered) {
			st.rewrite(t, 5, func(e *store.AuditEntry) { e.Actor = "run:r-2" })
		}, 5, "hash does not match"},
		{"an entry altered and rehashed", func(t *testing.T, st *tampered) {
			st.rewrite(t, 3, func(e *store.AuditEntry) { e.Action = "skipped"; e.Hash = audit.Hash(*e) })
		}, 4, "prev_hash is not the hash of entry 3"},
		{"a middle entry removed", func(t *testing.T, st *tampered) { st.remove(t, 3) }, 3, "entry 3 is missing"},
		{"two middle entries removed", func(t *testing.T, st *tampered) { st.remove(t, 2, 3) }, 2, "entries 2..3 are missing"},
		{"the oldest entries removed without a purge", func(t *testing.T, st *tampered) { st.remove(t, 1, 2) },
			3, "no purge entry anchors"},
		{"the first entry given a predecessor", func(t *testing.T, st *tampered) {
			st.rewrite(t, 1, func(e *store.AuditEntry) { e.PrevHash = "00"; e.Hash = audit.Hash(*e) })
		}, 1, "first entry has a prev_hash"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachTampered(t, func(t *testing.T, st *tampered) {
				ctx := context.Background()
				log := audit.New(st.s.Audit())
				for n := 1; n <= 6; n++ {
					if _, err := log.Record(ctx, outcome(n)); err != nil {
						t.Fatal(err)
					}
				}
				mustVerify(t, st.s.Audit())
				tc.tamper(t, st)
				mustBreakAt(t, st.s.Audit(), tc.seq, tc.reason)
			})
		})
	}
}

// purged records entries 1..8 on days 1..8 and purges those before day 4: the log then holds
// 4..8 and the purge entry 9, which anchors 4.
func purged(t *testing.T, st *tampered, clk *clock) {
	t.Helper()
	ctx := context.Background()
	log := audit.New(st.s.Audit(), audit.WithClock(clk.now))
	for n := 1; n <= 8; n++ {
		clk.set(day(n))
		if _, err := log.Record(ctx, outcome(n)); err != nil {
			t.Fatal(err)
		}
	}
	clk.set(day(20))
	if n, err := log.Purge(ctx, cut(4)); err != nil || n != 3 {
		t.Fatalf("Purge = %d, %v; want 3", n, err)
	}
	if r := mustVerify(t, st.s.Audit()); r.FirstSeq != 4 || r.AnchoredBy != 9 {
		t.Fatalf("report after purge = %+v", r)
	}
}

func mustRefusePurge(t *testing.T, st *tampered, clk *clock, seq int64, reason string) {
	t.Helper()
	// A fresh Log: the pebble store was reopened by the tampering.
	n, err := audit.New(st.s.Audit(), audit.WithClock(clk.now)).Purge(context.Background(), cut(7))
	var broken *audit.BrokenError
	if !errors.As(err, &broken) || broken.Seq != seq || !strings.Contains(broken.Reason, reason) || n != 0 {
		t.Fatalf("Purge over a broken prefix = %d, %v; want a *BrokenError at seq %d (%s)", n, err, seq, reason)
	}
}

// TestPurgeKeepsTheEvidence: a purge never removes a broken prefix, so what Verify finds
// before the purge it still finds after.
func TestPurgeKeepsTheEvidence(t *testing.T) {
	t.Parallel()
	t.Run("an entry altered", func(t *testing.T) {
		eachTampered(t, func(t *testing.T, st *tampered) {
			clk := &clock{}
			purged(t, st, clk)
			st.rewrite(t, 5, func(e *store.AuditEntry) { e.Reason = "nothing to see" })
			mustRefusePurge(t, st, clk, 5, "hash does not match")
			mustBreakAt(t, st.s.Audit(), 5, "hash does not match")
		})
	})
	t.Run("the oldest kept entry removed", func(t *testing.T) {
		eachTampered(t, func(t *testing.T, st *tampered) {
			clk := &clock{}
			purged(t, st, clk)
			st.remove(t, 4)
			mustRefusePurge(t, st, clk, 5, "no purge entry anchors")
			mustBreakAt(t, st.s.Audit(), 5, "no purge entry anchors")
		})
	})
	t.Run("an entry removed after the purged prefix", func(t *testing.T) {
		eachTampered(t, func(t *testing.T, st *tampered) {
			clk := &clock{}
			purged(t, st, clk)
			st.remove(t, 6)
			mustRefusePurge(t, st, clk, 6, "entry 6 is missing")
			mustBreakAt(t, st.s.Audit(), 6, "entry 6 is missing")
		})
	})
}

// quiet keeps Pebble's recovery messages out of the test output.
type quiet struct{}

func (quiet) Infof(string, ...any)           {}
func (quiet) Errorf(string, ...any)          {}
func (quiet) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
