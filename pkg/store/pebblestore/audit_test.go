package pebblestore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// TestAuditPurgeCrossesBatches shrinks the batch so that a purge takes several commits, and
// checks that the secondary index entries (by key, by contact) go with their entries.
func TestAuditPurgeCrossesBatches(t *testing.T) {
	defer func(n int) { purgeChunk = n }(purgeChunk)
	purgeChunk = 4
	s, err := Open(t.TempDir(), withoutSync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	ctx := t.Context()
	const total, through = 23, 17 // through is not a multiple of the batch
	at := time.Date(2024, 3, 14, 9, 0, 0, 0, time.UTC)
	for seq := int64(1); seq <= total; seq++ {
		e := store.AuditEntry{Seq: seq, At: at, Institution: "inst-1", Actor: "run:r1", Action: "deleted",
			Key: fmt.Sprintf("erase:%d", seq), Hash: fmt.Sprint(seq)}
		if seq%2 == 0 {
			e.ContactID = fmt.Sprintf("c%d", seq%3)
		}
		if err := s.Audit().Append(ctx, e); err != nil {
			t.Fatalf("Append %d: %v", seq, err)
		}
	}
	n, err := s.Audit().PurgeThrough(ctx, through)
	if err != nil || n != through {
		t.Fatalf("PurgeThrough(%d) = %d, %v; want %d", through, n, err, through)
	}
	count := func(tag byte) (n int) {
		if err := iterate(ctx, s.db, []byte{tag}, []byte{tag + 1}, func(_, _ []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// 18..23 remain: six entries, six keys, and the three with an even seq have a contact.
	if a, d, f := count(tagAudit), count(tagAuditByKey), count(tagAuditByContact); a != 6 || d != 6 || f != 3 {
		t.Fatalf("after purge: %d entries, %d key index entries, %d contact index entries; want 6, 6, 3", a, d, f)
	}
	if n, err := s.Audit().PurgeThrough(ctx, through); err != nil || n != 0 {
		t.Fatalf("second PurgeThrough = %d, %v; want 0", n, err)
	}
}
