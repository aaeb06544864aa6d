package mongostore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/mongostore"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

var day0 = time.Date(2024, time.March, 14, 9, 26, 53, 589_000_000, time.UTC)

func active(inst, id string, recency time.Time) store.Contact {
	return store.Contact{Institution: inst, ID: id, Status: store.StatusActive, Recency: recency,
		RecencySource: store.Source{EventID: "evt-" + id, Type: "lethe.test.v1", At: recency}}
}

func TestOpenRejectsInvalidArguments(t *testing.T) {
	t.Parallel()
	// Refused before any connection is made, so these run without a server.
	for _, tc := range []struct {
		name string
		db   string
		opts []mongostore.Option
	}{
		{"EmptyDatabase", "", nil},
		{"ZeroBatchSize", "db", []mongostore.Option{mongostore.WithBatchSize(0)}},
		{"NegativeBatchSize", "db", []mongostore.Option{mongostore.WithBatchSize(-1)}},
		{"NilLogger", "db", []mongostore.Option{mongostore.WithLogger(nil)}},
		{"NilTracerProvider", "db", []mongostore.Option{mongostore.WithTracerProvider(nil)}},
		{"NilClientOptions", "db", []mongostore.Option{mongostore.WithClientOptions(nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := mongostore.Open(t.Context(), "mongodb://127.0.0.1:1", tc.db, tc.opts...)
			if !errors.Is(err, mongostore.ErrInvalid) || s != nil {
				t.Fatalf("Open = %v, %v; want nil, ErrInvalid", s, err)
			}
		})
	}
}

func TestOpenCreatesUniqueIndexesIdempotently(t *testing.T) {
	t.Parallel()
	db := freshName(t)
	s := openDB(t, db)
	openDB(t, db) // a second replica opening the same database
	want := map[string][]string{
		"contacts":  {"institution_contact"},
		"keys":      {"institution_contact"},
		"runs":      {"institution_run"},
		"run_items": {"institution_run_contact"},
		"audit":     {"seq"},
	}
	for coll, names := range want {
		cur, err := s.Database().Collection(coll).Indexes().List(t.Context())
		if err != nil {
			t.Fatalf("list indexes of %s: %v", coll, err)
		}
		var specs []struct {
			Name   string `bson:"name"`
			Unique bool   `bson:"unique"`
		}
		if err := cur.All(t.Context(), &specs); err != nil {
			t.Fatalf("decode indexes of %s: %v", coll, err)
		}
		for _, name := range names {
			i := slices.IndexFunc(specs, func(s struct {
				Name   string `bson:"name"`
				Unique bool   `bson:"unique"`
			}) bool {
				return s.Name == name
			})
			if i < 0 || !specs[i].Unique {
				t.Errorf("%s: no unique index %q among %+v", coll, name, specs)
			}
		}
	}
}

func TestInactiveStreamsInCursorBatches(t *testing.T) {
	t.Parallel()
	var getMores atomic.Int64
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "getMore" {
			getMores.Add(1)
		}
	}}
	s := openTest(t, mongostore.WithBatchSize(2), mongostore.WithClientOptions(func(co *options.ClientOptions) {
		co.SetMonitor(monitor)
	}))
	var want []string
	for i := range 9 {
		id := fmt.Sprintf("c%d", i)
		if _, err := s.Contacts().Put(t.Context(), active("inst-1", id, day0.AddDate(0, 0, -10+i))); err != nil {
			t.Fatalf("Put: %v", err)
		}
		want = append(want, id)
	}
	getMores.Store(0)
	var got []string
	err := s.Contacts().Inactive(t.Context(), "inst-1", store.StatusActive, day0, func(c store.Contact) error {
		got = append(got, c.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("Inactive: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Inactive = %q, want %q", got, want)
	}
	// 9 documents in batches of 2: the first batch comes with find, the rest with getMore.
	if n := getMores.Load(); n < 4 {
		t.Fatalf("Inactive issued %d getMore commands, want at least 4: the scan is not batched", n)
	}
}

func TestPutReturnsWhatGetReads(t *testing.T) {
	t.Parallel()
	// BSON dates keep milliseconds and no zone: the copy Put returns must already be that.
	s := openTest(t)
	paris := time.FixedZone("CET", 3600)
	c := active("inst-1", "c1", time.Date(2024, 5, 6, 7, 8, 9, 123_456_789, paris))
	c.Subscriptions = map[string]store.Subscription{} // empty: dropped like on a read
	got, err := s.Contacts().Put(t.Context(), c)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	wantRecency := time.Date(2024, 5, 6, 6, 8, 9, 123_000_000, time.UTC)
	if got.Recency != wantRecency || got.RecencySource.At != wantRecency {
		t.Fatalf("Put returned recency %v / source %v, want %v", got.Recency, got.RecencySource.At, wantRecency)
	}
	read, err := s.Contacts().Get(t.Context(), "inst-1", "c1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Subscriptions != nil {
		t.Fatalf("Put returned an empty map that a read cannot return: %#v", got.Subscriptions)
	}
	if !reflect.DeepEqual(read, got) {
		t.Fatalf("Get = %+v\nPut returned %+v", read, got)
	}
	// And the stored copy CAS-updates from there.
	if _, err := s.Contacts().Put(t.Context(), got); err != nil {
		t.Fatalf("Put from the returned copy: %v", err)
	}
}

func TestStoredDocumentShape(t *testing.T) {
	t.Parallel()
	// Operators and other tools query these collections: the field names and types are the
	// port's BSON tags, and the recency is a BSON date the range scan can use.
	s := openTest(t)
	if _, err := s.Contacts().Put(t.Context(), active("inst-1", "c1", day0)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	var raw bson.Raw
	if err := s.Database().Collection("contacts").FindOne(t.Context(), bson.D{}).Decode(&raw); err != nil {
		t.Fatalf("read raw contact: %v", err)
	}
	for field, typ := range map[string]bson.Type{
		"institution": bson.TypeString, "contact_id": bson.TypeString, "status": bson.TypeString,
		"version": bson.TypeInt64, "recency": bson.TypeDateTime,
	} {
		v, err := raw.LookupErr(field)
		if err != nil || v.Type != typ {
			t.Errorf("field %s: %v (type %v), want type %v", field, err, v.Type, typ)
		}
	}
}

func TestDestroyErasesTheWrappedKeyBytes(t *testing.T) {
	t.Parallel()
	// Crypto-shredding holds only if the key's bytes are gone from the document, not hidden
	// behind a flag.
	s := openTest(t)
	secret := []byte("wrapped-data-key-bytes")
	if _, err := s.Keys().Create(t.Context(), "inst-1", "c1", secret); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Keys().Destroy(t.Context(), "inst-1", "c1", day0); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	var raw bson.Raw
	if err := s.Database().Collection("keys").FindOne(t.Context(), bson.D{}).Decode(&raw); err != nil {
		t.Fatalf("read raw key: %v", err)
	}
	if bytes.Contains(raw, secret) {
		t.Fatalf("tombstone still holds the key bytes: %v", raw)
	}
	if at, err := raw.LookupErr("destroyed_at"); err != nil || !at.Time().Equal(day0) {
		t.Fatalf("destroyed_at = %v, %v; want %v", at, err, day0)
	}
	// A repeated Destroy keeps the first date.
	if err := s.Keys().Destroy(t.Context(), "inst-1", "c1", day0.AddDate(0, 0, 1)); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
	if err := s.Database().Collection("keys").FindOne(t.Context(), bson.D{}).Decode(&raw); err != nil {
		t.Fatalf("read raw key: %v", err)
	}
	if at := raw.Lookup("destroyed_at").Time(); !at.Equal(day0) {
		t.Fatalf("destroyed_at after a second Destroy = %v, want the first %v", at, day0)
	}
}

func TestDestroyRacingCreatesEndsDestroyed(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	const racers = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*racers)
	for i := range racers {
		wg.Go(func() {
			k, err := s.Keys().Create(t.Context(), "inst-1", "c1", fmt.Appendf(nil, "key-%d", i))
			if err != nil && !errors.Is(err, store.ErrKeyDestroyed) {
				errs <- fmt.Errorf("Create %d: %w", i, err)
			}
			if err == nil && len(k) == 0 {
				errs <- fmt.Errorf("Create %d returned an empty key", i)
			}
		})
		wg.Go(func() {
			if err := s.Keys().Destroy(t.Context(), "inst-1", "c1", day0); err != nil {
				errs <- fmt.Errorf("Destroy %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := s.Keys().Get(t.Context(), "inst-1", "c1"); !errors.Is(err, store.ErrKeyDestroyed) {
		t.Fatalf("Get after the race: %v, want ErrKeyDestroyed", err)
	}
	if n, err := s.Database().Collection("keys").CountDocuments(t.Context(), bson.D{}); err != nil || n != 1 {
		t.Fatalf("keys documents = %d, %v; want exactly 1", n, err)
	}
}

func TestRunItemsRacingUpsertsOfNewItems(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	var items []store.RunItem
	for i := range 50 {
		items = append(items, store.RunItem{Institution: "inst-1", RunID: "r1", ContactID: fmt.Sprintf("c%02d", i),
			Outcome: store.OutcomeDelete, Recency: day0})
	}
	const writers = 6
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() { errs[w] = s.RunItems().Put(t.Context(), items) })
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
	}
	got, err := s.RunItems().Page(t.Context(), "inst-1", "r1", "", 0)
	if err != nil || len(got) != len(items) {
		t.Fatalf("Page = %d items, %v; want %d", len(got), err, len(items))
	}
}

func TestPutRefusesContactsWithoutKey(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	for _, c := range []store.Contact{{ID: "c1"}, {Institution: "inst-1"}, {Institution: "inst-1", ID: "c1", Version: -1}} {
		if _, err := s.Contacts().Put(t.Context(), c); !errors.Is(err, mongostore.ErrInvalid) {
			t.Fatalf("Put %q/%q v%d: err = %v, want ErrInvalid", c.Institution, c.ID, c.Version, err)
		}
	}
}

func TestCloseIsIdempotentAndPingThenFails(t *testing.T) {
	t.Parallel()
	uri := testkit.MongoURI(t)
	s, err := mongostore.Open(t.Context(), uri, freshName(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	for i := range 2 {
		if err := s.Close(t.Context()); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

func TestSpansMarkFailuresNotAnswers(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := openTest(t, mongostore.WithTracerProvider(tp))

	if _, err := s.Contacts().Get(t.Context(), "inst-1", "absent"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get absent: %v", err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Contacts().Get(cancelled, "inst-1", "c1"); err == nil {
		t.Fatal("Get with a cancelled context succeeded")
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("recorded %d spans, want 2", len(spans))
	}
	for i, want := range []codes.Code{codes.Unset, codes.Error} {
		if spans[i].Name() != "mongostore.contacts.get" || spans[i].Status().Code != want {
			t.Errorf("span %d: %s status %v, want mongostore.contacts.get status %v", i, spans[i].Name(), spans[i].Status().Code, want)
		}
	}
}
