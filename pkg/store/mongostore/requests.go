package mongostore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// collRequests holds erasure requests under _id = the request id, so the primary key is the
// uniqueness Create relies on and no further index is needed.
const collRequests = "requests"

type requests struct {
	s *Store
	c *mongo.Collection
}

var _ store.Requests = (*requests)(nil)

// Requests implements store.Store.
func (s *Store) Requests() store.Requests { return &requests{s: s, c: s.db.Collection(collRequests)} }

func (rs *requests) Create(ctx context.Context, r store.Request) (err error) {
	ctx, end := rs.s.span(ctx, collRequests, "create")
	defer func() { end(err) }()
	if r.Institution == "" || r.ID == "" {
		return fmt.Errorf("%w: request without institution or id", ErrInvalid)
	}
	r.Version = 1
	if _, err := rs.c.InsertOne(ctx, r); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("mongostore: create request %s: %w", r.ID, store.ErrExists)
		}
		return fmt.Errorf("mongostore: create request %s: %w", r.ID, err)
	}
	return nil
}

func (rs *requests) Get(ctx context.Context, id string) (r store.Request, err error) {
	ctx, end := rs.s.span(ctx, collRequests, "get")
	defer func() { end(err) }()
	if err := rs.c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&r); err != nil {
		return store.Request{}, fmt.Errorf("mongostore: get request %s: %w", id, notFound(err))
	}
	return r, nil
}

// Update is a compare-and-swap on the version field.
func (rs *requests) Update(ctx context.Context, r store.Request) (out store.Request, err error) {
	ctx, end := rs.s.span(ctx, collRequests, "update")
	defer func() { end(err) }()
	next := r
	next.Version = r.Version + 1
	raw, err := roundTrip(next, &out)
	if err != nil {
		return store.Request{}, err
	}
	res, err := rs.c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: r.ID}, {Key: "version", Value: r.Version}}, raw)
	if err != nil {
		return store.Request{}, fmt.Errorf("mongostore: update request %s: %w", r.ID, err)
	}
	if res.MatchedCount == 0 {
		return store.Request{}, fmt.Errorf("mongostore: update request %s at version %d: %w", r.ID, r.Version, store.ErrConflict)
	}
	return out, nil
}
