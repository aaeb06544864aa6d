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
	"github.com/lethe-gdpr/lethe/pkg/ledger"
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
//	RequestAccess    request_access.go      an access request recorded on the legal clock (completed by the export)
//	Extend, Refuse   manage_request.go      a person extends (≤ three months from receipt) or refuses a request, with a sealed reason
//	Retry            manage_request.go      a failed or blocked erasure queued again (a new attempt)
//	failRequest      fail_request.go        an erasure out of retries marked failed with its reason, counted
//	resumeBlocked    resume_blocked.go      blocked erasures whose blocker went resume by themselves; the request gauges
//	completeRequest  complete_request.go    the Completion step a request goes through after its erasure
//	recordErasure    record_erasure.go      the erasure's ledger entry, before its outcome goes out
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
	sealer   ReasonSealer
	ledger   LedgerRecorder
	audit    Auditor
	pub      Publisher
	log      *slog.Logger
	now      func() time.Time
	outcomes metric.Int64Counter
	failures metric.Int64Counter
	// gauges is the last count of requests by state and overdue (resume_blocked.go).
	gauges *requestGauges
	// completion is the step a request goes through once erased (complete_request.go).
	completion Completion
	// Command retries (consume.go) and the sweep of blocked requests (resume_blocked.go).
	commandMaxDeliver int
	commandBackoff    []time.Duration
	sweepEvery        time.Duration
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

// ReasonSealer seals a request's reasons with the contact's key (reasons are personal) and
// opens them for a caller allowed to read personal data; *seal.Sealer implements it.
type ReasonSealer interface {
	Seal(ctx context.Context, institution, contact, field, plaintext string) (string, error)
	Open(ctx context.Context, institution, contact, field, sealed string) (string, error)
}

// LedgerRecorder writes erasures to the erasure ledger; *ledger.Publisher implements it.
type LedgerRecorder interface {
	Record(ctx context.Context, entries ...ledger.Entry) error
}

var _ LedgerRecorder = (*ledger.Publisher)(nil)

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

// WithKeyDestroyer wraps the port that destroys data keys (tests inject a fault through it:
// wrap returns a KeyDestroyer that fails, then calls the real one).
func WithKeyDestroyer(wrap func(KeyDestroyer) KeyDestroyer) Option {
	return func(s *Service) error {
		if wrap == nil {
			return fmt.Errorf("anonymiser: nil key destroyer wrapper")
		}
		if s.keys = wrap(s.keys); s.keys == nil {
			return fmt.Errorf("anonymiser: nil key destroyer")
		}
		return nil
	}
}

// WithCommandRetries sets how many times an erasure command is delivered before it is given
// up (a request's then fails) and the back-off between deliveries (default 5: 1s, 5s, 30s, 2m).
func WithCommandRetries(maxDeliver int, backoff ...time.Duration) Option {
	return func(s *Service) error {
		if maxDeliver < 1 {
			return fmt.Errorf("anonymiser: max deliveries %d < 1", maxDeliver)
		}
		s.commandMaxDeliver, s.commandBackoff = maxDeliver, backoff
		return nil
	}
}

// WithSweepEvery sets how often blocked requests are re-checked and the request gauges
// recounted (default 30s).
func WithSweepEvery(d time.Duration) Option {
	return func(s *Service) error {
		if d <= 0 {
			return fmt.Errorf("anonymiser: sweep interval %s", d)
		}
		s.sweepEvery = d
		return nil
	}
}

// WithCompletion sets the step a request goes through after its erasure (default: done once
// every destination following the institution confirmed, confirmedCompletion).
func WithCompletion(c Completion) Option {
	return func(s *Service) error {
		if c == nil {
			return fmt.Errorf("anonymiser: nil completion")
		}
		s.completion = c
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
		keys: d.Sealer, sealer: d.Sealer, ledger: ledger.NewPublisher(d.JetStream), audit: trail, pub: pub,
		commandMaxDeliver: bus.DefaultMaxDeliver, sweepEvery: defaultSweepEvery,
		log: d.Logger, now: time.Now,
		js: d.JetStream, tp: d.TracerProvider, auth: d.Auth, auditLog: trail, retention: d.Config.AuditRetention(),
		ready: platform.NewReadiness(bus.DurableCommands, bus.DurableErasureRequests, sweepPart, bus.DurableConfirmations),
	}
	s.completion = confirmedCompletion{s}
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
	if s.failures, err = d.MeterProvider.Meter("lethe/anonymiser").Int64Counter("lethe.request.failures",
		metric.WithDescription("erasure requests given up after their retries, marked failed")); err != nil {
		return nil, err
	}
	// Exported from the start at 0, so that a dashboard or an alert on increase() sees the
	// first failure rather than a series appearing from nothing.
	s.failures.Add(context.Background(), 0)
	if s.gauges, err = newRequestGauges(d.MeterProvider.Meter("lethe/anonymiser")); err != nil {
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
