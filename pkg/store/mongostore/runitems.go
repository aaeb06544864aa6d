package mongostore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

type runItems struct {
	s *Store
	c *mongo.Collection
}

// putAttempts bounds the retries of a bulk upsert that met a duplicate key: two writers
// upserting the same new item can both miss the filter and both insert; the loser's retry
// then matches the winner's document and replaces it.
const putAttempts = 3

// Put upserts every item in one unordered bulk write (the driver splits it into batches the
// server accepts). Each item is replaced whole, so repeating a Put is harmless.
func (ri *runItems) Put(ctx context.Context, items []store.RunItem) (err error) {
	ctx, end := ri.s.span(ctx, collRunItems, "put")
	defer func() { end(err) }()
	if len(items) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, 0, len(items))
	for _, it := range items {
		if it.Institution == "" || it.RunID == "" || it.ContactID == "" {
			return fmt.Errorf("%w: run item without institution, run or contact", ErrInvalid)
		}
		filter := bson.D{
			{Key: "institution", Value: it.Institution},
			{Key: "run_id", Value: it.RunID},
			{Key: "contact_id", Value: it.ContactID},
		}
		models = append(models, mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(it).SetUpsert(true))
	}
	opts := options.BulkWrite().SetOrdered(false)
	for attempt := 1; ; attempt++ {
		_, err = ri.c.BulkWrite(ctx, models, opts)
		if err == nil {
			return nil
		}
		if !mongo.IsDuplicateKeyError(err) || attempt == putAttempts {
			return fmt.Errorf("mongostore: put %d run items: %w", len(items), err)
		}
	}
}

func (ri *runItems) Page(ctx context.Context, institution, runID, afterContact string, limit int) (out []store.RunItem, err error) {
	ctx, end := ri.s.span(ctx, collRunItems, "page")
	defer func() { end(err) }()
	if limit < 0 {
		return nil, fmt.Errorf("%w: limit %d", ErrInvalid, limit)
	}
	filter := bson.D{{Key: "institution", Value: institution}, {Key: "run_id", Value: runID}}
	if afterContact != "" {
		filter = append(filter, bson.E{Key: "contact_id", Value: bson.D{{Key: "$gt", Value: afterContact}}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "contact_id", Value: 1}}).SetBatchSize(ri.s.batchSize)
	if limit > 0 {
		opts.SetLimit(int64(limit))
	}
	return ri.collect(ctx, filter, opts)
}

// ForContact returns the contact's items ordered by run id, so an export reads the same twice.
func (ri *runItems) Get(ctx context.Context, institution, runID, contactID string) (it store.RunItem, err error) {
	ctx, end := ri.s.span(ctx, collRunItems, "get")
	defer func() { end(err) }()
	filter := bson.D{{Key: "institution", Value: institution}, {Key: "run_id", Value: runID}, {Key: "contact_id", Value: contactID}}
	if err := ri.c.FindOne(ctx, filter).Decode(&it); err != nil {
		return store.RunItem{}, fmt.Errorf("mongostore: get run item %s/%s/%s: %w", institution, runID, contactID, notFound(err))
	}
	return it, nil
}

func (ri *runItems) ForContact(ctx context.Context, institution, contactID string) (out []store.RunItem, err error) {
	ctx, end := ri.s.span(ctx, collRunItems, "for_contact")
	defer func() { end(err) }()
	filter := bson.D{{Key: "institution", Value: institution}, {Key: "contact_id", Value: contactID}}
	opts := options.Find().SetSort(bson.D{{Key: "run_id", Value: 1}}).SetBatchSize(ri.s.batchSize)
	return ri.collect(ctx, filter, opts)
}

func (ri *runItems) collect(ctx context.Context, filter bson.D, opts *options.FindOptionsBuilder) ([]store.RunItem, error) {
	cur, err := ri.c.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("mongostore: find run items: %w", err)
	}
	out := []store.RunItem{}
	err = each(ctx, cur, func(it store.RunItem) error {
		out = append(out, it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
