package anonymiser

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Source is the CloudEvents source of every event the anonymiser publishes. It takes part in
// the Nats-Msg-Id (bus.MsgID), so it must never change: a redelivered command republishes
// its outcome under it and JetStream drops the copy.
const Source = "/lethe/anonymiser"

// Outcomes as published on LETHE_RESULTS (lethe.result.<institution>.<outcome>) and recorded in
// the audit trail.
const (
	OutcomeAnonymised = "anonymised"
	OutcomeDeleted    = "deleted"
	OutcomeSkipped    = "skipped"
	// ActionRefused is the audit action of a command that matched nothing decided.
	ActionRefused = "refused"
)

// Errors of the use cases, checked with errors.Is.
var (
	// ErrInvalidCommand: a command that can never be executed (dead-lettered, not retried).
	ErrInvalidCommand = errors.New("anonymiser: invalid command")
	// ErrRequestNotFound: no erasure request under that id.
	ErrRequestNotFound = errors.New("anonymiser: request not found")
)

// Publisher is what the anonymiser needs of the bus; *bus.Publisher implements it.
type Publisher interface {
	Publish(ctx context.Context, subject string, e event.Event) error
}

var _ Publisher = (*bus.Publisher)(nil)

// KeyDestroyer crypto-shreds a contact: *seal.Sealer implements it.
type KeyDestroyer interface {
	Destroy(ctx context.Context, institution, contact string) error
}

// Auditor appends to the hash-chained audit trail; *audit.Log implements it. Record of an
// entry whose Key was recorded before returns the stored entry.
type Auditor interface {
	Record(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error)
}

// Service executes erasure commands and on-demand erasure requests.
type Service struct {
	contacts store.Contacts
	runItems store.RunItems
	runStore store.Runs
	requests store.Requests
	trail    store.Audit
	keys     KeyDestroyer
	audit    Auditor
	pub      Publisher
	log      *slog.Logger
	now      func() time.Time
	meter    metric.MeterProvider
	outcomes metric.Int64Counter
	// runs caches the runs commands are checked against (authorise).
	runsMu sync.Mutex
	runs   map[string]store.Run
	// failAfter, when set (tests), is called after each step of an erasure; an error stops
	// the command there as a crash would.
	failAfter func(step string, cmdID string) error
}

// Option configures a Service.
type Option func(*Service) error

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) error {
		if l == nil {
			return fmt.Errorf("anonymiser: nil logger")
		}
		s.log = l
		return nil
	}
}

// WithClock sets the clock that dates outcomes (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *Service) error {
		if now == nil {
			return fmt.Errorf("anonymiser: nil clock")
		}
		s.now = now
		return nil
	}
}

// WithMeterProvider sets where the outcome counter goes (default: nowhere).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(s *Service) error {
		if mp == nil {
			return fmt.Errorf("anonymiser: nil meter provider")
		}
		s.meter = mp
		return nil
	}
}

// New builds the service over the store, the key destroyer, the audit trail and the bus.
func New(st store.Store, keys KeyDestroyer, audit Auditor, pub Publisher, opts ...Option) (*Service, error) {
	if st == nil || keys == nil || audit == nil || pub == nil {
		return nil, fmt.Errorf("anonymiser: store, keys, audit and publisher are required")
	}
	s := &Service{
		contacts: st.Contacts(), runItems: st.RunItems(), runStore: st.Runs(), requests: st.Requests(), trail: st.Audit(),
		runs: map[string]store.Run{},
		keys: keys, audit: audit, pub: pub,
		log: slog.New(slog.DiscardHandler), now: time.Now, meter: metricnoop.NewMeterProvider(),
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	var err error
	s.outcomes, err = s.meter.Meter("lethe/anonymiser").Int64Counter("lethe.anonymiser.outcomes",
		metric.WithDescription("erasure commands executed, by outcome and skip reason"))
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) step(name, cmdID string) error {
	if s.failAfter == nil {
		return nil
	}
	return s.failAfter(name, cmdID)
}
