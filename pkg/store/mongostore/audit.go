package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

type audit struct {
	s *Store
	c *mongo.Collection
}

// Append relies on the unique seq index: of two appenders that read the same head, one insert
// wins and the other gets ErrExists, re-reads the head and chains onto it.
func (a *audit) Append(ctx context.Context, e store.AuditEntry) (err error) {
	ctx, end := a.s.span(ctx, collAudit, "append")
	defer func() { end(err) }()
	if _, err := a.c.InsertOne(ctx, e); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("mongostore: append audit %d: %w", e.Seq, store.ErrExists)
		}
		return fmt.Errorf("mongostore: append audit %d: %w", e.Seq, err)
	}
	return nil
}

func (a *audit) Last(ctx context.Context) (e store.AuditEntry, err error) {
	ctx, end := a.s.span(ctx, collAudit, "last")
	defer func() { end(err) }()
	opts := options.FindOne().SetSort(bson.D{{Key: "seq", Value: -1}})
	if err := a.c.FindOne(ctx, bson.D{}, opts).Decode(&e); err != nil {
		return store.AuditEntry{}, fmt.Errorf("mongostore: last audit entry: %w", notFound(err))
	}
	return e, nil
}

func (a *audit) Scan(ctx context.Context, afterSeq int64, fn func(store.AuditEntry) error) (err error) {
	ctx, end := a.s.span(ctx, collAudit, "scan")
	defer func() { end(err) }()
	filter := bson.D{{Key: "seq", Value: bson.D{{Key: "$gt", Value: afterSeq}}}}
	opts := options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}).SetBatchSize(a.s.batchSize)
	cur, err := a.c.Find(ctx, filter, opts)
	if err != nil {
		return fmt.Errorf("mongostore: scan audit: %w", err)
	}
	return each(ctx, cur, fn)
}

func (a *audit) PurgeBefore(ctx context.Context, t time.Time) (n int, err error) {
	ctx, end := a.s.span(ctx, collAudit, "purge_before")
	defer func() { end(err) }()
	res, err := a.c.DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: t}}}})
	if err != nil {
		return 0, fmt.Errorf("mongostore: purge audit: %w", err)
	}
	return int(res.DeletedCount), nil
}
