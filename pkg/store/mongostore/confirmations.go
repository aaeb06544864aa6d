package mongostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Downstream confirmations: expectations under _id = institution/destination/outcome (the
// primary key is the insert-if-absent Expect relies on; institutions and destinations hold no
// "/"), unmatched confirmations under institution/destination/event. Every write is one
// idempotent single-document step, as the store's test server (no transactions) requires.
const (
	collExpectations = "confirmations"
	collUnmatched    = "confirmations_unmatched"
)

type expectationDoc struct {
	ID                string `bson:"_id"`
	store.Expectation `bson:",inline"`
}

type unmatchedDoc struct {
	ID              string `bson:"_id"`
	store.Unmatched `bson:",inline"`
}

func expectationID(inst, dest, outcome string) string { return inst + "/" + dest + "/" + outcome }

type confirmations struct{ s *Store }

var _ store.Confirmations = confirmations{}

// Confirmations implements store.Store.
func (s *Store) Confirmations() store.Confirmations { return confirmations{s} }

func (c confirmations) exp() *mongo.Collection { return c.s.db.Collection(collExpectations) }

func (c confirmations) Expect(ctx context.Context, es []store.Expectation) (err error) {
	ctx, end := c.s.span(ctx, collExpectations, "expect")
	defer func() { end(err) }()
	for _, e := range es {
		if e.Institution == "" || e.Destination == "" || e.OutcomeID == "" {
			return fmt.Errorf("%w: expectation without institution, destination or outcome", ErrInvalid)
		}
		doc := expectationDoc{ID: expectationID(e.Institution, e.Destination, e.OutcomeID), Expectation: e}
		if _, err := c.exp().InsertOne(ctx, doc); err != nil && !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("mongostore: expect %s: %w", doc.ID, err)
		}
	}
	return nil
}

func (c confirmations) Confirm(ctx context.Context, inst, dest, outcome string, at time.Time, confirmationID string) (e store.Expectation, err error) {
	ctx, end := c.s.span(ctx, collExpectations, "confirm")
	defer func() { end(err) }()
	id := expectationID(inst, dest, outcome)
	// Only an unconfirmed expectation takes the confirmation: the first one stays.
	_, err = c.exp().UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "confirmed_at", Value: bson.D{{Key: "$exists", Value: false}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "confirmed_at", Value: at.UTC()}, {Key: "confirmation_id", Value: confirmationID}}}})
	if err != nil {
		return store.Expectation{}, fmt.Errorf("mongostore: confirm %s: %w", id, err)
	}
	return c.Get(ctx, inst, dest, outcome)
}

func (c confirmations) Get(ctx context.Context, inst, dest, outcome string) (store.Expectation, error) {
	var d expectationDoc
	if err := c.exp().FindOne(ctx, bson.D{{Key: "_id", Value: expectationID(inst, dest, outcome)}}).Decode(&d); err != nil {
		return store.Expectation{}, fmt.Errorf("mongostore: get expectation: %w", notFound(err))
	}
	return d.Expectation, nil
}

func (c confirmations) ForContact(ctx context.Context, inst, contact string) (out []store.Expectation, err error) {
	ctx, end := c.s.span(ctx, collExpectations, "for_contact")
	defer func() { end(err) }()
	cur, err := c.exp().Find(ctx, bson.D{{Key: "institution", Value: inst}, {Key: "contact_id", Value: contact}},
		options.Find().SetSort(bson.D{{Key: "outcome_id", Value: 1}, {Key: "destination", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongostore: expectations of %s/%s: %w", inst, contact, err)
	}
	var docs []expectationDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongostore: expectations of %s/%s: %w", inst, contact, err)
	}
	for _, d := range docs {
		out = append(out, d.Expectation)
	}
	return out, nil
}

func (c confirmations) RecordUnmatched(ctx context.Context, u store.Unmatched) (err error) {
	ctx, end := c.s.span(ctx, collUnmatched, "record")
	defer func() { end(err) }()
	if u.Institution == "" || u.Destination == "" || u.EventID == "" {
		return fmt.Errorf("%w: unmatched confirmation without institution, destination or event", ErrInvalid)
	}
	doc := unmatchedDoc{ID: u.Institution + "/" + u.Destination + "/" + u.EventID, Unmatched: u}
	if _, err := c.s.db.Collection(collUnmatched).InsertOne(ctx, doc); err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongostore: record unmatched confirmation: %w", err)
	}
	return nil
}

// Backlog counts per destination with the server's counts, never reading the documents.
func (c confirmations) Backlog(ctx context.Context, inst string) (out []store.Backlog, err error) {
	ctx, end := c.s.span(ctx, collExpectations, "backlog")
	defer func() { end(err) }()
	scope := bson.D{}
	if inst != "" {
		scope = bson.D{{Key: "institution", Value: inst}}
	}
	with := func(kv ...bson.E) bson.D { return append(slices.Clone(scope), kv...) }
	var dests []string
	for _, coll := range []string{collExpectations, collUnmatched} {
		res := c.s.db.Collection(coll).Distinct(ctx, "destination", scope)
		var ds []string
		if err := res.Decode(&ds); err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return nil, fmt.Errorf("mongostore: destinations of %s: %w", coll, err)
		}
		dests = append(dests, ds...)
	}
	slices.Sort(dests)
	unconfirmed := bson.E{Key: "confirmed_at", Value: bson.D{{Key: "$exists", Value: false}}}
	for _, d := range slices.Compact(dests) {
		b := store.Backlog{Destination: d}
		dest := bson.E{Key: "destination", Value: d}
		all, err := c.exp().CountDocuments(ctx, with(dest))
		if err != nil {
			return nil, fmt.Errorf("mongostore: count expectations: %w", err)
		}
		if b.Unconfirmed, err = c.exp().CountDocuments(ctx, with(dest, unconfirmed)); err != nil {
			return nil, fmt.Errorf("mongostore: count unconfirmed: %w", err)
		}
		b.Confirmed = all - b.Unconfirmed
		if b.Unconfirmed > 0 {
			var oldest expectationDoc
			err := c.exp().FindOne(ctx, with(dest, unconfirmed), options.FindOne().SetSort(bson.D{{Key: "published_at", Value: 1}})).Decode(&oldest)
			if err != nil {
				return nil, fmt.Errorf("mongostore: oldest unconfirmed: %w", err)
			}
			b.OldestUnconfirmed = oldest.PublishedAt.UTC()
		}
		if b.Unmatched, err = c.s.db.Collection(collUnmatched).CountDocuments(ctx, with(dest)); err != nil {
			return nil, fmt.Errorf("mongostore: count unmatched: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}
