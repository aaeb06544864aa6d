package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Collection names; DESIGN.md names them, operators query them.
const (
	collContacts = "contacts"
	collKeys     = "keys"
	collRuns     = "runs"
	collRunItems = "run_items"
	collAudit    = "audit"
)

// DefaultBatchSize is how many documents a scan's cursor fetches per round trip: large enough
// to amortise the round trip, small enough that a scan over millions of contacts stays flat.
const DefaultBatchSize int32 = 500

// ErrInvalid reports a call the adapter refuses before reaching the server (an empty id, a
// non-positive batch size).
var ErrInvalid = errors.New("mongostore: invalid argument")

var _ store.Store = (*Store)(nil)

// Store is the MongoDB adapter of store.Store. It is safe for concurrent use.
type Store struct {
	client *mongo.Client
	db     *mongo.Database

	logger    *slog.Logger
	tracer    trace.Tracer
	batchSize int32
	clientFns []func(*options.ClientOptions)

	contacts *contacts
	keys     *keys
	runs     *runs
	runItems *runItems
	audit    *audit

	closeOnce sync.Once
	closeErr  error
}

// Option configures a Store at Open.
type Option func(*Store) error

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalid)
		}
		s.logger = l
		return nil
	}
}

// WithTracerProvider sets where the adapter's client spans go (default: no-op).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Store) error {
		if tp == nil {
			return fmt.Errorf("%w: nil tracer provider", ErrInvalid)
		}
		s.tracer = tp.Tracer("github.com/lethe-gdpr/lethe/pkg/store/mongostore")
		return nil
	}
}

// WithBatchSize sets the cursor batch size of scans (default DefaultBatchSize).
func WithBatchSize(n int32) Option {
	return func(s *Store) error {
		if n <= 0 {
			return fmt.Errorf("%w: batch size %d", ErrInvalid, n)
		}
		s.batchSize = n
		return nil
	}
}

// WithClientOptions lets the caller adjust the driver's client options (timeouts, pool size,
// app name) after the URI was applied.
func WithClientOptions(fn func(*options.ClientOptions)) Option {
	return func(s *Store) error {
		if fn == nil {
			return fmt.Errorf("%w: nil client options func", ErrInvalid)
		}
		s.clientFns = append(s.clientFns, fn)
		return nil
	}
}

// Open connects to uri, uses database, and creates the indexes the port's queries rely on.
// The indexes are created idempotently, so every replica may Open at the same time.
func Open(ctx context.Context, uri, database string, opts ...Option) (*Store, error) {
	if database == "" {
		return nil, fmt.Errorf("%w: empty database name", ErrInvalid)
	}
	s := &Store{
		logger:    slog.New(slog.DiscardHandler),
		tracer:    noop.NewTracerProvider().Tracer(""),
		batchSize: DefaultBatchSize,
	}
	for _, opt := range opts {
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	co := options.Client().ApplyURI(uri)
	for _, fn := range s.clientFns {
		fn(co)
	}
	client, err := mongo.Connect(co)
	if err != nil {
		// The URI may carry a password: never echo it.
		return nil, fmt.Errorf("mongostore: connect: %w", err)
	}
	s.client = client
	s.db = client.Database(database)
	s.contacts = &contacts{s: s, c: s.db.Collection(collContacts)}
	s.keys = &keys{s: s, c: s.db.Collection(collKeys)}
	s.runs = &runs{s: s, c: s.db.Collection(collRuns)}
	s.runItems = &runItems{s: s, c: s.db.Collection(collRunItems)}
	s.audit = &audit{s: s, c: s.db.Collection(collAudit)}

	if err := s.createIndexes(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	s.logger.DebugContext(ctx, "mongostore opened", slog.String("database", database))
	return s, nil
}

// indexSpec is one index of one collection.
type indexSpec struct {
	coll   string
	name   string
	keys   bson.D
	unique bool
}

// indexes lists every index the adapter needs. The unique ones carry correctness (CAS inserts,
// insert-if-absent, run election, audit sequencing); the others carry performance.
var indexes = []indexSpec{
	{collContacts, "institution_contact", bson.D{{Key: "institution", Value: 1}, {Key: "contact_id", Value: 1}}, true},
	{collContacts, "institution_status_recency_contact", bson.D{{Key: "institution", Value: 1}, {Key: "status", Value: 1}, {Key: "recency", Value: 1}, {Key: "contact_id", Value: 1}}, false},
	{collKeys, "institution_contact", bson.D{{Key: "institution", Value: 1}, {Key: "contact_id", Value: 1}}, true},
	{collRuns, "institution_run", bson.D{{Key: "institution", Value: 1}, {Key: "run_id", Value: 1}}, true},
	{collRunItems, "institution_run_contact", bson.D{{Key: "institution", Value: 1}, {Key: "run_id", Value: 1}, {Key: "contact_id", Value: 1}}, true},
	{collRunItems, "institution_contact", bson.D{{Key: "institution", Value: 1}, {Key: "contact_id", Value: 1}}, false},
	{collAudit, "seq", bson.D{{Key: "seq", Value: 1}}, true},
	// Every entry has a key, so the unique index never meets two missing keys.
	{collAudit, "key", bson.D{{Key: "key", Value: 1}}, true},
	{collExpectations, "institution_contact", bson.D{{Key: "institution", Value: 1}, {Key: "contact_id", Value: 1}}, false},
	{collExpectations, "institution_destination_published", bson.D{{Key: "institution", Value: 1}, {Key: "destination", Value: 1}, {Key: "published_at", Value: 1}}, false},
	{collAudit, "institution_contact_seq", bson.D{{Key: "institution", Value: 1}, {Key: "contact_id", Value: 1}, {Key: "seq", Value: 1}}, false},
}

func (s *Store) createIndexes(ctx context.Context) error {
	byColl := map[string][]mongo.IndexModel{}
	var order []string
	for _, ix := range indexes {
		o := options.Index().SetName(ix.name)
		if ix.unique {
			o.SetUnique(true)
		}
		if _, ok := byColl[ix.coll]; !ok {
			order = append(order, ix.coll)
		}
		byColl[ix.coll] = append(byColl[ix.coll], mongo.IndexModel{Keys: ix.keys, Options: o})
	}
	for _, coll := range order {
		if _, err := s.db.Collection(coll).Indexes().CreateMany(ctx, byColl[coll]); err != nil {
			return fmt.Errorf("mongostore: create indexes on %s: %w", coll, err)
		}
	}
	return nil
}

// Contacts implements store.Store.
func (s *Store) Contacts() store.Contacts { return s.contacts }

// Keys implements store.Store.
func (s *Store) Keys() store.Keys { return s.keys }

// Runs implements store.Store.
func (s *Store) Runs() store.Runs { return s.runs }

// RunItems implements store.Store.
func (s *Store) RunItems() store.RunItems { return s.runItems }

// Audit implements store.Store.
func (s *Store) Audit() store.Audit { return s.audit }

// Ping reports whether the primary answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	ctx, end := s.span(ctx, "", "ping")
	defer func() { end(err) }()
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("mongostore: ping: %w", err)
	}
	return nil
}

// Close disconnects the client. Calling it again returns the first call's result.
func (s *Store) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		if err := s.client.Disconnect(ctx); err != nil {
			s.closeErr = fmt.Errorf("mongostore: disconnect: %w", err)
		}
	})
	return s.closeErr
}

// Database returns the underlying database, for tests and administration tools.
func (s *Store) Database() *mongo.Database { return s.db }

// span starts a client span for one port operation. The returned func ends it, marking it
// failed unless err is nil or one of the port's expected outcomes (not found, conflict...),
// which are answers rather than failures.
func (s *Store) span(ctx context.Context, coll, op string) (context.Context, func(error)) {
	attrs := []attribute.KeyValue{
		attribute.String("db.system.name", "mongodb"),
		attribute.String("db.operation.name", op),
		attribute.String("db.namespace", s.db.Name()),
	}
	if coll != "" {
		attrs = append(attrs, attribute.String("db.collection.name", coll))
	}
	name := "mongostore." + op
	if coll != "" {
		name = "mongostore." + coll + "." + op
	}
	ctx, sp := s.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil && !expected(err) {
			sp.RecordError(err)
			sp.SetStatus(codes.Error, "store operation failed")
		}
		sp.End()
	}
}

func expected(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) ||
		errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrKeyDestroyed)
}

// roundTrip encodes v to BSON and decodes it into out, so that what a write returns is
// exactly what a later read returns: times at millisecond precision in UTC, empty maps and
// slices dropped by omitempty. The encoded document is returned for the write itself.
func roundTrip(v, out any) (bson.Raw, error) {
	raw, err := bson.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("mongostore: encode: %w", err)
	}
	if err := bson.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("mongostore: decode: %w", err)
	}
	return raw, nil
}

// notFound maps the driver's "no document" onto the port's sentinel.
func notFound(err error) error {
	if errors.Is(err, mongo.ErrNoDocuments) {
		return store.ErrNotFound
	}
	return err
}
