package mongostore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// TestAuditPurgeCrossesBatches shrinks the batch so that a purge takes several deletes.
func TestAuditPurgeCrossesBatches(t *testing.T) {
	uri := testkit.MongoURI(t)
	defer func(n int) { purgeChunk = n }(purgeChunk)
	purgeChunk = 4
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	s, err := Open(t.Context(), uri, "lethe_test_"+hex.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Database().Drop(ctx)
		_ = s.Close(ctx)
	})
	ctx := t.Context()
	const total, through = 23, 17 // through is not a multiple of the batch
	at := time.Date(2024, 3, 14, 9, 0, 0, 0, time.UTC)
	for seq := int64(1); seq <= total; seq++ {
		e := store.AuditEntry{Seq: seq, At: at, Institution: "inst-1", ContactID: "c1", Actor: "run:r1",
			Action: "deleted", Key: fmt.Sprintf("erase:%d", seq), Hash: fmt.Sprint(seq)}
		if err := s.Audit().Append(ctx, e); err != nil {
			t.Fatalf("Append %d: %v", seq, err)
		}
	}
	n, err := s.Audit().PurgeThrough(ctx, through)
	if err != nil || n != through {
		t.Fatalf("PurgeThrough(%d) = %d, %v; want %d", through, n, err, through)
	}
	left, err := s.Database().Collection(collAudit).CountDocuments(ctx, bson.D{})
	if err != nil || left != total-through {
		t.Fatalf("after purge %d entries, %v; want %d", left, err, total-through)
	}
	if n, err := s.Audit().PurgeThrough(ctx, through); err != nil || n != 0 {
		t.Fatalf("second PurgeThrough = %d, %v; want 0", n, err)
	}
}
