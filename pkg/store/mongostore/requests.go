package mongostore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

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
	return r.Normalised(), nil
}

// List finds the institution's requests (or all) and filters the rest after Normalised, so a
// request stored as "pending" before the legal clock matches in_progress. Requests are few.
func (rs *requests) List(ctx context.Context, f store.RequestFilter) (out []store.Request, err error) {
	ctx, end := rs.s.span(ctx, collRequests, "list")
	defer func() { end(err) }()
	q := bson.D{}
	if f.Institution != "" {
		q = append(q, bson.E{Key: "institution", Value: f.Institution})
	}
	if f.ContactID != "" {
		q = append(q, bson.E{Key: "contact_id", Value: f.ContactID})
	}
	cur, err := rs.c.Find(ctx, q, options.Find().SetBatchSize(rs.s.batchSize))
	if err != nil {
		return nil, fmt.Errorf("mongostore: list requests: %w", err)
	}
	out = []store.Request{}
	err = each(ctx, cur, func(r store.Request) error {
		if r = r.Normalised(); f.Match(r) {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	store.SortByDue(out)
	return out, nil
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
