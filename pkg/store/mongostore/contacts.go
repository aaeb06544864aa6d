package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// contacts stores one document per (institution, contact_id): store.Contact's own BSON form,
// plus the _id MongoDB assigns.
type contacts struct {
	s *Store
	c *mongo.Collection
}

func contactKey(institution, id string) bson.D {
	return bson.D{{Key: "institution", Value: institution}, {Key: "contact_id", Value: id}}
}

func (cs *contacts) Get(ctx context.Context, institution, id string) (c store.Contact, err error) {
	ctx, end := cs.s.span(ctx, collContacts, "get")
	defer func() { end(err) }()
	if err := cs.c.FindOne(ctx, contactKey(institution, id)).Decode(&c); err != nil {
		return store.Contact{}, fmt.Errorf("mongostore: get contact %s/%s: %w", institution, id, notFound(err))
	}
	return c, nil
}

// Put is a compare-and-swap on the version field. Version 0 inserts, and the unique
// (institution, contact_id) index turns a racing insert into a duplicate-key error; a later
// version replaces only the document still carrying the version the caller read.
func (cs *contacts) Put(ctx context.Context, c store.Contact) (out store.Contact, err error) {
	ctx, end := cs.s.span(ctx, collContacts, "put")
	defer func() { end(err) }()
	if c.Institution == "" || c.ID == "" {
		return store.Contact{}, fmt.Errorf("%w: contact without institution or id", ErrInvalid)
	}
	if c.Version < 0 {
		return store.Contact{}, fmt.Errorf("%w: contact %s/%s version %d", ErrInvalid, c.Institution, c.ID, c.Version)
	}
	next := c
	next.Version = c.Version + 1
	raw, err := roundTrip(next, &out)
	if err != nil {
		return store.Contact{}, err
	}
	if c.Version == 0 {
		if _, err := cs.c.InsertOne(ctx, raw); err != nil {
			if mongo.IsDuplicateKeyError(err) {
				return store.Contact{}, fmt.Errorf("mongostore: insert contact %s/%s: %w", c.Institution, c.ID, store.ErrConflict)
			}
			return store.Contact{}, fmt.Errorf("mongostore: insert contact %s/%s: %w", c.Institution, c.ID, err)
		}
		return out, nil
	}
	filter := append(contactKey(c.Institution, c.ID), bson.E{Key: "version", Value: c.Version})
	res, err := cs.c.ReplaceOne(ctx, filter, raw)
	if err != nil {
		return store.Contact{}, fmt.Errorf("mongostore: replace contact %s/%s: %w", c.Institution, c.ID, err)
	}
	if res.MatchedCount == 0 {
		return store.Contact{}, fmt.Errorf("mongostore: replace contact %s/%s at version %d: %w", c.Institution, c.ID, c.Version, store.ErrConflict)
	}
	return out, nil
}

// putManyConcurrency bounds the writes PutMany has in flight: MongoDB has no multi-document
// compare-and-swap short of transactions, and a bulk write reports matches only in total,
// so each contact is its own Put and the round trips overlap instead.
const putManyConcurrency = 16

// PutMany runs one Put per contact, putManyConcurrency at a time.
func (cs *contacts) PutMany(ctx context.Context, docs []store.Contact) ([]store.PutResult, error) {
	results := make([]store.PutResult, len(docs))
	var g errgroup.Group
	g.SetLimit(putManyConcurrency)
	for i := range docs {
		g.Go(func() error {
			results[i].Contact, results[i].Err = cs.Put(ctx, docs[i])
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return results, nil
}

// Delete removes the contact at version. When nothing matched it tells "already gone" (fine:
// deleting is idempotent) from "someone wrote since" (a conflict) by looking again.
func (cs *contacts) Delete(ctx context.Context, institution, id string, version int64) (err error) {
	ctx, end := cs.s.span(ctx, collContacts, "delete")
	defer func() { end(err) }()
	filter := append(contactKey(institution, id), bson.E{Key: "version", Value: version})
	res, err := cs.c.DeleteOne(ctx, filter)
	if err != nil {
		return fmt.Errorf("mongostore: delete contact %s/%s: %w", institution, id, err)
	}
	if res.DeletedCount > 0 {
		return nil
	}
	err = cs.c.FindOne(ctx, contactKey(institution, id), options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	switch {
	case err == nil:
		return fmt.Errorf("mongostore: delete contact %s/%s at version %d: %w", institution, id, version, store.ErrConflict)
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil
	default:
		return fmt.Errorf("mongostore: delete contact %s/%s: %w", institution, id, err)
	}
}

// Inactive walks the (institution, status, recency, contact_id) index from its start up to
// `before`, one cursor batch at a time. A contact without a recency has no recency field
// (omitempty) and so never matches: without a date there is nothing to be inactive since.
func (cs *contacts) Inactive(ctx context.Context, institution string, status store.Status, before time.Time, fn func(store.Contact) error) (err error) {
	ctx, end := cs.s.span(ctx, collContacts, "inactive")
	defer func() { end(err) }()
	return cs.scan(ctx, inactiveFilter(institution, status, before), inactiveSort, fn)
}

// inactiveFilter and inactiveSort are the query of Inactive and Candidates.
func inactiveFilter(institution string, status store.Status, before time.Time) bson.D {
	return bson.D{
		{Key: "institution", Value: institution},
		{Key: "status", Value: status},
		{Key: "recency", Value: bson.D{{Key: "$lt", Value: before}}},
	}
}

var inactiveSort = bson.D{{Key: "recency", Value: 1}, {Key: "contact_id", Value: 1}}

// candidateFields is the projection of Candidates: what store.CandidateOf reads, and no more.
var candidateFields = bson.D{
	{Key: "_id", Value: 0}, {Key: "contact_id", Value: 1}, {Key: "status", Value: 1},
	{Key: "created", Value: 1}, {Key: "role", Value: 1}, {Key: "recency", Value: 1},
	{Key: "recency_source", Value: 1}, {Key: "customer", Value: 1}, {Key: "balance.amount", Value: 1},
	{Key: "legal_hold.held", Value: 1}, {Key: "subscriptions", Value: 1},
}

// Candidates is Inactive's query with a projection: the server sends the few fields a run
// decides on, and a partial contact is decoded from them.
func (cs *contacts) Candidates(ctx context.Context, institution string, status store.Status, before time.Time, fn func(store.Candidate) error) (err error) {
	ctx, end := cs.s.span(ctx, collContacts, "candidates")
	defer func() { end(err) }()
	cur, err := cs.c.Find(ctx, inactiveFilter(institution, status, before),
		options.Find().SetSort(inactiveSort).SetProjection(candidateFields).SetBatchSize(cs.s.batchSize))
	if err != nil {
		return fmt.Errorf("mongostore: scan candidates: %w", err)
	}
	return each(ctx, cur, func(c store.Contact) error { return fn(store.CandidateOf(c)) })
}

func (cs *contacts) Scan(ctx context.Context, institution, afterID string, fn func(store.Contact) error) (err error) {
	ctx, end := cs.s.span(ctx, collContacts, "scan")
	defer func() { end(err) }()
	filter := bson.D{{Key: "institution", Value: institution}}
	if afterID != "" {
		filter = append(filter, bson.E{Key: "contact_id", Value: bson.D{{Key: "$gt", Value: afterID}}})
	}
	return cs.scan(ctx, filter, bson.D{{Key: "contact_id", Value: 1}}, fn)
}

func (cs *contacts) scan(ctx context.Context, filter, sort bson.D, fn func(store.Contact) error) error {
	cur, err := cs.c.Find(ctx, filter, options.Find().SetSort(sort).SetBatchSize(cs.s.batchSize))
	if err != nil {
		return fmt.Errorf("mongostore: scan contacts: %w", err)
	}
	return each(ctx, cur, fn)
}

// each decodes the cursor one document at a time into T and hands it to fn; fn's error is
// returned unwrapped so the caller's errors.Is works on its own sentinel. The context is
// checked before every document, not only when the cursor fetches its next batch, so a
// cancelled scan stops at once.
func each[T any](ctx context.Context, cur *mongo.Cursor, fn func(T) error) error {
	defer cur.Close(context.WithoutCancel(ctx))
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !cur.Next(ctx) {
			break
		}
		var v T
		if err := cur.Decode(&v); err != nil {
			return fmt.Errorf("mongostore: decode: %w", err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("mongostore: cursor: %w", err)
	}
	return nil
}
