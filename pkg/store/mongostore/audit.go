package mongostore

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// purgeChunk bounds how many entries one delete of PurgeThrough removes.
var purgeChunk = 1000 // a variable so that tests can cross batch boundaries cheaply

type audit struct {
	s *Store
	c *mongo.Collection
}

// endAudit ends a span treating ErrDuplicate as an answer, like the other port sentinels.
func endAudit(end func(error), err error) {
	if errors.Is(err, store.ErrDuplicate) {
		err = nil
	}
	end(err)
}

// Append relies on two unique indexes: on seq, so that of two appenders that read the same
// head one insert wins and the other gets ErrExists, re-reads the head and chains onto it; on
// key, so that a redelivered outcome is refused with ErrDuplicate. The duplicate-key error
// does not say portably which index refused, so a lookup by key tells: the key checked first.
func (a *audit) Append(ctx context.Context, e store.AuditEntry) (err error) {
	ctx, end := a.s.span(ctx, collAudit, "append")
	defer func() { endAudit(end, err) }()
	if e.Key == "" {
		return fmt.Errorf("%w: audit entry without a key", ErrInvalid)
	}
	_, err = a.c.InsertOne(ctx, e)
	if err == nil {
		return nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongostore: append audit %d: %w", e.Seq, err)
	}
	switch n, cerr := a.c.CountDocuments(ctx, bson.D{{Key: "key", Value: e.Key}}); {
	case cerr != nil:
		return fmt.Errorf("mongostore: append audit %d: %w", e.Seq, cerr)
	case n > 0:
		// The key is the caller's own id (a command id), never a personal value.
		return fmt.Errorf("mongostore: audit key %q: %w", e.Key, store.ErrDuplicate)
	}
	return fmt.Errorf("mongostore: append audit %d: %w", e.Seq, store.ErrExists)
}

// AppendMany is one ordered InsertMany: the server stops at the first entry it refuses, and
// that entry is classified as Append classifies it.
func (a *audit) AppendMany(ctx context.Context, es []store.AuditEntry) (n int, err error) {
	ctx, end := a.s.span(ctx, collAudit, "append_many")
	defer func() { endAudit(end, err) }()
	if len(es) == 0 {
		return 0, nil
	}
	docs := make([]any, len(es))
	for i, e := range es {
		if e.Key == "" {
			return 0, fmt.Errorf("%w: audit entry without a key", ErrInvalid)
		}
		docs[i] = e
	}
	_, err = a.c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
	if err == nil {
		return len(es), nil
	}
	var bulk mongo.BulkWriteException
	if !errors.As(err, &bulk) || len(bulk.WriteErrors) == 0 || !mongo.IsDuplicateKeyError(err) {
		return 0, fmt.Errorf("mongostore: append %d audit entries: %w", len(es), err)
	}
	n = bulk.WriteErrors[0].Index
	e := es[n]
	switch c, cerr := a.c.CountDocuments(ctx, bson.D{{Key: "key", Value: e.Key}}); {
	case cerr != nil:
		return n, fmt.Errorf("mongostore: append audit %d: %w", e.Seq, cerr)
	case c > 0:
		return n, fmt.Errorf("mongostore: audit key %q: %w", e.Key, store.ErrDuplicate)
	}
	return n, fmt.Errorf("mongostore: append audit %d: %w", e.Seq, store.ErrExists)
}

func (a *audit) ByKey(ctx context.Context, key string) (e store.AuditEntry, err error) {
	ctx, end := a.s.span(ctx, collAudit, "by_key")
	defer func() { end(err) }()
	if err := a.c.FindOne(ctx, bson.D{{Key: "key", Value: key}}).Decode(&e); err != nil {
		return store.AuditEntry{}, fmt.Errorf("mongostore: audit by key: %w", notFound(err))
	}
	return e, nil
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

// ForContact reads the (institution, contact_id, seq) index.
func (a *audit) ForContact(ctx context.Context, institution, contactID string) (out []store.AuditEntry, err error) {
	ctx, end := a.s.span(ctx, collAudit, "for_contact")
	defer func() { end(err) }()
	filter := bson.D{{Key: "institution", Value: institution}, {Key: "contact_id", Value: contactID}}
	opts := options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}).SetBatchSize(a.s.batchSize)
	cur, err := a.c.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("mongostore: audit for contact: %w", err)
	}
	err = each(ctx, cur, func(e store.AuditEntry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// PurgeThrough deletes at most purgeChunk entries per round trip: it finds the seq of the
// purgeChunk-th oldest entry and deletes up to it, so no single delete holds the collection
// for long however much has aged out.
func (a *audit) PurgeThrough(ctx context.Context, seq int64) (n int, err error) {
	ctx, end := a.s.span(ctx, collAudit, "purge_through")
	defer func() { end(err) }()
	for {
		bound := seq
		opts := options.FindOne().SetSort(bson.D{{Key: "seq", Value: 1}}).SetSkip(int64(purgeChunk) - 1).
			SetProjection(bson.D{{Key: "seq", Value: 1}})
		var nth struct {
			Seq int64 `bson:"seq"`
		}
		switch err := a.c.FindOne(ctx, bson.D{{Key: "seq", Value: bson.D{{Key: "$lte", Value: seq}}}}, opts).Decode(&nth); {
		case err == nil:
			bound = nth.Seq
		case !errors.Is(err, mongo.ErrNoDocuments):
			return n, fmt.Errorf("mongostore: purge audit: %w", err)
		}
		res, err := a.c.DeleteMany(ctx, bson.D{{Key: "seq", Value: bson.D{{Key: "$lte", Value: bound}}}})
		if err != nil {
			return n, fmt.Errorf("mongostore: purge audit: %w", err)
		}
		n += int(res.DeletedCount)
		if bound == seq || res.DeletedCount == 0 {
			return n, nil
		}
	}
}
