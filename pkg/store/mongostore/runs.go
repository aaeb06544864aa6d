package mongostore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

type runs struct {
	s *Store
	c *mongo.Collection
}

func runKey(institution, id string) bson.D {
	return bson.D{{Key: "institution", Value: institution}, {Key: "run_id", Value: id}}
}

// Create stores r at version 1, like a contact's first Put; the unique (institution, run_id)
// index elects one winner among schedulers that derived the same id.
func (rs *runs) Create(ctx context.Context, r store.Run) (err error) {
	ctx, end := rs.s.span(ctx, collRuns, "create")
	defer func() { end(err) }()
	if r.Institution == "" || r.ID == "" {
		return fmt.Errorf("%w: run without institution or id", ErrInvalid)
	}
	r.Version = 1
	if _, err := rs.c.InsertOne(ctx, r); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("mongostore: create run %s/%s: %w", r.Institution, r.ID, store.ErrExists)
		}
		return fmt.Errorf("mongostore: create run %s/%s: %w", r.Institution, r.ID, err)
	}
	return nil
}

func (rs *runs) Get(ctx context.Context, institution, id string) (r store.Run, err error) {
	ctx, end := rs.s.span(ctx, collRuns, "get")
	defer func() { end(err) }()
	if err := rs.c.FindOne(ctx, runKey(institution, id)).Decode(&r); err != nil {
		return store.Run{}, fmt.Errorf("mongostore: get run %s/%s: %w", institution, id, notFound(err))
	}
	return r, nil
}

// Update is a compare-and-swap on the version field, like contacts' Put.
func (rs *runs) Update(ctx context.Context, r store.Run) (out store.Run, err error) {
	ctx, end := rs.s.span(ctx, collRuns, "update")
	defer func() { end(err) }()
	next := r
	next.Version = r.Version + 1
	raw, err := roundTrip(next, &out)
	if err != nil {
		return store.Run{}, err
	}
	filter := append(runKey(r.Institution, r.ID), bson.E{Key: "version", Value: r.Version})
	res, err := rs.c.ReplaceOne(ctx, filter, raw)
	if err != nil {
		return store.Run{}, fmt.Errorf("mongostore: update run %s/%s: %w", r.Institution, r.ID, err)
	}
	if res.MatchedCount == 0 {
		return store.Run{}, fmt.Errorf("mongostore: update run %s/%s at version %d: %w", r.Institution, r.ID, r.Version, store.ErrConflict)
	}
	return out, nil
}

// List sorts by creation time, newest first, with the run id as tie-break so that runs created
// in the same millisecond keep a stable order.
func (rs *runs) List(ctx context.Context, institution string, limit int) (out []store.Run, err error) {
	ctx, end := rs.s.span(ctx, collRuns, "list")
	defer func() { end(err) }()
	if limit < 0 {
		return nil, fmt.Errorf("%w: limit %d", ErrInvalid, limit)
	}
	opts := options.Find().
		SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "run_id", Value: -1}}).
		SetBatchSize(rs.s.batchSize)
	if limit > 0 {
		opts.SetLimit(int64(limit))
	}
	cur, err := rs.c.Find(ctx, bson.D{{Key: "institution", Value: institution}}, opts)
	if err != nil {
		return nil, fmt.Errorf("mongostore: list runs %s: %w", institution, err)
	}
	out = []store.Run{}
	err = each(ctx, cur, func(r store.Run) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Unfinished finds the runs whose state is not a finished one, across institutions.
func (rs *runs) Unfinished(ctx context.Context) (out []store.Run, err error) {
	ctx, end := rs.s.span(ctx, collRuns, "unfinished")
	defer func() { end(err) }()
	filter := bson.D{{Key: "state", Value: bson.D{{Key: "$nin", Value: bson.A{store.RunPlanned, store.RunCompleted, store.RunFailed}}}}}
	cur, err := rs.c.Find(ctx, filter, options.Find().SetBatchSize(rs.s.batchSize))
	if err != nil {
		return nil, fmt.Errorf("mongostore: list unfinished runs: %w", err)
	}
	out = []store.Run{}
	if err := each(ctx, cur, func(r store.Run) error {
		out = append(out, r)
		return nil
	}); err != nil {
		return nil, err
	}
	return out, nil
}
