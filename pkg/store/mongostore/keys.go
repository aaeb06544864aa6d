package mongostore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// keyDoc is one contact's wrapped data key, or its tombstone once destroyed.
type keyDoc struct {
	Institution string    `bson:"institution"`
	ContactID   string    `bson:"contact_id"`
	Wrapped     []byte    `bson:"wrapped,omitempty"`
	Destroyed   bool      `bson:"destroyed,omitempty"`
	DestroyedAt time.Time `bson:"destroyed_at,omitempty"`
}

type keys struct {
	s *Store
	c *mongo.Collection
}

// destroyAttempts bounds Destroy's retries: each retry means a Create slipped in between the
// update and the upsert's insert, which cannot keep happening once the document exists.
const destroyAttempts = 5

// Create is CreateMany of one key: one insert-if-absent path for both.
func (ks *keys) Create(ctx context.Context, institution, id string, wrapped []byte) ([]byte, error) {
	res, err := ks.CreateMany(ctx, []store.NewKey{{Institution: institution, ID: id, Wrapped: wrapped}})
	if err != nil {
		return nil, err
	}
	return res[0].Wrapped, res[0].Err
}

// CreateMany inserts every key in one unordered InsertMany; the unique (institution,
// contact_id) index is the arbiter: it refuses those that exist, and each refused one reads
// back what is there (the winner's key, or its tombstone).
func (ks *keys) CreateMany(ctx context.Context, nks []store.NewKey) (results []store.KeyResult, err error) {
	ctx, end := ks.s.span(ctx, collKeys, "create_many")
	defer func() { end(err) }()
	results = make([]store.KeyResult, len(nks))
	docs := make([]any, 0, len(nks))
	at := make([]int, 0, len(nks)) // docs[j] is nks[at[j]]
	for i, nk := range nks {
		if nk.Institution == "" || nk.ID == "" || len(nk.Wrapped) == 0 {
			results[i].Err = fmt.Errorf("%w: key without institution, contact or bytes", ErrInvalid)
			continue
		}
		docs = append(docs, keyDoc{Institution: nk.Institution, ContactID: nk.ID, Wrapped: nk.Wrapped})
		at = append(at, i)
	}
	if len(docs) == 0 {
		return results, nil
	}
	refused := map[int]bool{}
	_, err = ks.c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil {
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
			return nil, fmt.Errorf("mongostore: create keys: %w", err)
		}
		for _, we := range bwe.WriteErrors {
			if !isDuplicateKey(we.WriteError) || we.Index < 0 || we.Index >= len(at) {
				return nil, fmt.Errorf("mongostore: create keys: %w", err)
			}
			refused[at[we.Index]] = true
		}
	}
	for _, i := range at {
		if !refused[i] {
			results[i].Wrapped = bytes.Clone(nks[i].Wrapped)
			continue
		}
		w, err := ks.get(ctx, nks[i].Institution, nks[i].ID)
		switch {
		case err == nil, errors.Is(err, store.ErrKeyDestroyed):
			results[i] = store.KeyResult{Wrapped: w, Err: err}
		default:
			return nil, err
		}
	}
	return results, nil
}

func (ks *keys) Get(ctx context.Context, institution, id string) (out []byte, err error) {
	ctx, end := ks.s.span(ctx, collKeys, "get")
	defer func() { end(err) }()
	return ks.get(ctx, institution, id)
}

func (ks *keys) get(ctx context.Context, institution, id string) ([]byte, error) {
	var d keyDoc
	if err := ks.c.FindOne(ctx, contactKey(institution, id)).Decode(&d); err != nil {
		return nil, fmt.Errorf("mongostore: get key %s/%s: %w", institution, id, notFound(err))
	}
	if d.Destroyed {
		return nil, fmt.Errorf("mongostore: key %s/%s: %w", institution, id, store.ErrKeyDestroyed)
	}
	return d.Wrapped, nil
}

// Destroy turns a live key into a tombstone, or plants one where no key exists, keeping the
// first tombstone's date on repeats. The filter excludes tombstones, so on a repeat the upsert
// tries to insert and meets the unique index: that duplicate-key error means "already a
// tombstone" once a re-read confirms it, and "a Create won the race" otherwise (retry).
func (ks *keys) Destroy(ctx context.Context, institution, id string, at time.Time) (err error) {
	ctx, end := ks.s.span(ctx, collKeys, "destroy")
	defer func() { end(err) }()
	if institution == "" || id == "" {
		return fmt.Errorf("%w: key without institution or contact", ErrInvalid)
	}
	filter := append(contactKey(institution, id), bson.E{Key: "destroyed", Value: bson.D{{Key: "$ne", Value: true}}})
	update := bson.D{
		{Key: "$set", Value: bson.D{{Key: "destroyed", Value: true}, {Key: "destroyed_at", Value: at}}},
		{Key: "$unset", Value: bson.D{{Key: "wrapped", Value: ""}}},
	}
	for range destroyAttempts {
		_, err := ks.c.UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true))
		if err == nil {
			return nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("mongostore: destroy key %s/%s: %w", institution, id, err)
		}
		_, err = ks.get(ctx, institution, id)
		switch {
		case errors.Is(err, store.ErrKeyDestroyed):
			return nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	return fmt.Errorf("mongostore: destroy key %s/%s: gave up after %d attempts: %w", institution, id, destroyAttempts, store.ErrConflict)
}

// isDuplicateKey reports whether one write of a bulk write met a unique index.
func isDuplicateKey(we mongo.WriteError) bool {
	return we.Code == 11000 || we.Code == 11001 || we.Code == 12582 || mongo.IsDuplicateKeyError(we)
}
