package anonymiser

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform"
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

// Service executes erasure commands and on-demand erasure requests: the consumers and the
// audit purge (consume.go, run.go: Run) and the erasure routes (http.go, Register). Its use
// cases, one file each:
//
//	Execute          erase_contact.go       one command: re-checked, deleted or anonymised, key destroyed, audited, published
//	authorise        authorise_command.go   a command runs only if it matches a stored apply or execute item, or a request
//	RequestErasure   request_erasure.go     an on-demand erasure recorded and its command queued (HTTP, or an event)
//	purgeAuditLoop   run.go                 audit entries past their retention removed, the chain kept verifiable
//	expect/Confirm   record_confirmation.go each outcome expected from every destination following its institution; their confirmations recorded
//	Destinations     destinations.go        per destination: confirmed, unconfirmed, the oldest unconfirmed's age (a route and a metric)
//	IssueReceipt     issue_receipt.go       an erased contact's receipt, signed with the instance's key
type Service struct {
	contacts store.Contacts
	runItems store.RunItems
	runStore store.Runs
	requests store.Requests
	trail    store.Audit
	// confirmations holds what destinations are to confirm and did; config names them.
	confirmations store.Confirmations
	keyStore      store.Keys
	config        config.File
	// signKey signs erasure receipts.
	signKey  ed25519.PrivateKey
	keys     KeyDestroyer
	audit    Auditor
	pub      Publisher
	log      *slog.Logger
	now      func() time.Time
	outcomes metric.Int64Counter
	// What Run and Register need beyond the use cases.
	js        jetstream.JetStream
	tp        trace.TracerProvider
	auth      *httpapi.Authenticator
	auditLog  *audit.Log
	retention config.Period
	ready     *platform.Readiness
	// runs caches the runs commands are checked against (authorise).
	runsMu sync.Mutex
	runs   map[string]store.Run
	// failAfter, when set (tests), is called after each step of an erasure; an error stops
	// the command there as a crash would.
	failAfter func(step string, cmdID string) error
}

// Option configures a Service.
type Option func(*Service) error

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

// New builds the service from d: d.JetStream (commands in, outcomes out), d.Store (the
// audit trail is d.Store's), d.Sealer (it destroys the contacts' keys) and d.Auth are
// required.
func New(d platform.Deps, opts ...Option) (*Service, error) {
	d, err := d.Resolve("anonymiser", platform.NeedJetStream, platform.NeedStore, platform.NeedSealer, platform.NeedAuth)
	if err != nil {
		return nil, err
	}
	pub, err := bus.NewPublisher(d.JetStream, bus.WithLogger(d.Logger), bus.WithTracerProvider(d.TracerProvider))
	if err != nil {
		return nil, fmt.Errorf("anonymiser: %w", err)
	}
	st := d.Store
	trail := audit.New(st.Audit())
	s := &Service{
		contacts: st.Contacts(), runItems: st.RunItems(), runStore: st.Runs(), requests: st.Requests(), trail: st.Audit(),
		confirmations: st.Confirmations(), keyStore: st.Keys(), config: d.Config, signKey: d.ReceiptKey,
		runs: map[string]store.Run{},
		keys: d.Sealer, audit: trail, pub: pub,
		log: d.Logger, now: time.Now,
		js: d.JetStream, tp: d.TracerProvider, auth: d.Auth, auditLog: trail, retention: d.Config.AuditRetention(),
		ready: platform.NewReadiness(bus.DurableCommands, bus.DurableErasureRequests, bus.DurableConfirmations),
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if s.signKey == nil {
		if _, s.signKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return nil, fmt.Errorf("anonymiser: receipt key: %w", err)
		}
	}
	if err := s.registerDestinationMetrics(d.MeterProvider); err != nil {
		return nil, err
	}
	s.outcomes, err = d.MeterProvider.Meter("lethe/anonymiser").Int64Counter("lethe.anonymiser.outcomes",
		metric.WithDescription("erasure commands executed, by outcome and skip reason"))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NotRunning lists the consumers of the service that do not run yet (or any more).
func (s *Service) NotRunning() []string { return s.ready.NotRunning() }

func (s *Service) step(name, cmdID string) error {
	if s.failAfter == nil {
		return nil
	}
	return s.failAfter(name, cmdID)
}
