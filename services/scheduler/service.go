package scheduler

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/robfig/cron/v3"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Source is the CloudEvents source of every event the scheduler publishes. It takes part in
// the Nats-Msg-Id (bus.MsgID), so it must never change: a resumed run republishes under it.
const Source = "/lethe/scheduler"

// ResultRunCompleted is the <outcome> token of lethe.run.completed.v1 on LETHE_RESULTS:
// lethe.result.<institution>.run_completed (one subject token, as bus.ValidToken wants).
const ResultRunCompleted = "run_completed"

// DefaultBatchSize is how many run items one store write and one PublishBatch carry.
const DefaultBatchSize = 1000

// Triggers of a run.
const (
	TriggerAPI      = "api"
	TriggerSchedule = "schedule"
)

// Errors of the use cases, checked with errors.Is; the HTTP port maps them to statuses.
var (
	// ErrRunNotFound: no run under that id in the institution.
	ErrRunNotFound = errors.New("scheduler: run not found")
	// ErrNotApplicable: only a simulation whose plan is complete can be applied.
	ErrNotApplicable = errors.New("scheduler: run cannot be applied")
	// ErrAlreadyApplied: the simulation was applied before; a plan is applied once.
	ErrAlreadyApplied = errors.New("scheduler: simulation already applied")
	// ErrClosed: the service is shutting down and starts no more runs.
	ErrClosed = errors.New("scheduler: closed")
	// errLostRun: a compare-and-swap on the run lost, so another scheduler drives it now.
	errLostRun = errors.New("scheduler: run taken over by another scheduler")
)

// InvalidError lists what is wrong with a request, field by field (JSON pointers).
type InvalidError struct {
	Fields []FieldError
}

// FieldError is one invalid field.
type FieldError struct {
	Pointer string
	Detail  string
}

func (e *InvalidError) Error() string {
	if len(e.Fields) == 0 {
		return "scheduler: invalid request"
	}
	return fmt.Sprintf("scheduler: invalid request: %s %s", e.Fields[0].Pointer, e.Fields[0].Detail)
}

// Publisher is what the scheduler needs of the bus; *bus.Publisher implements it.
type Publisher interface {
	Publish(ctx context.Context, subject string, e event.Event) error
	PublishBatch(ctx context.Context, batch []bus.Outgoing) error
}

var _ Publisher = (*bus.Publisher)(nil)

// Service is the scheduler: it plans runs into reports, publishes their commands, fires the
// institutions' schedules (run.go, Run) and serves the runs over HTTP (http.go, Register).
// Runs are driven in the background, under the service's own lifetime, so a client that
// disconnects does not stop one. Its use cases, one file each:
//
//	StartRun          start_run.go        a run on request: validated, recorded, then driven
//	plan              plan_run.go         the report: one item per inactive contact in scope, by an index range scan
//	ApplyRun          apply_run.go        execute exactly the set a simulation planned, once
//	publish           publish_run.go      one command per item to LETHE_COMMANDS, resumable from a cursor
//	complete          complete_run.go     every item's result, then lethe.run.completed.v1
//	drive             drive_run.go        a run through its states, each a compare-and-swap
//	Resume            resume_runs.go      the runs a stopped scheduler left unfinished, driven on
//	FireScheduled     fire_schedule.go    the institutions' cron schedules, one winner per occurrence
//	GetRun, Items     read_runs.go        runs and their items as stored
//	ContactRuns       contact_runs.go     the runs that considered one contact
//	RegisterOf        register.go         the register of processing as JSON, Markdown or CSV
//	PurgeTechnical    purge_technical.go  technical data past the register's after_collection window
type Service struct {
	// folded waits until the projection holds every activity event accepted so far.
	folded         func(ctx context.Context) error
	projectionWait time.Duration
	store          store.Store
	pub            Publisher
	cfg            config.File
	// receiptKey is the public key of erasure receipts, printed in the register (nil: none).
	receiptKey ed25519.PublicKey
	auth       *httpapi.Authenticator
	now        func() time.Time
	sleep      func(ctx context.Context, until time.Time) error
	log        *slog.Logger
	tp         trace.TracerProvider
	batch      int
	ready      *platform.Readiness

	tracer    trace.Tracer
	planned   metric.Int64Counter
	published metric.Int64Counter
	purged    metric.Int64Counter
	schedules []schedule

	// Test hooks: afterBatch runs after each acknowledged publish batch and its cursor write;
	// onFire reports each scheduled occurrence and whether this instance won it.
	afterBatch func(store.Run)
	onFire     func(run store.Run, won bool)

	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
	// driving holds the runs this process drives now, each with a channel closed when it stops.
	driving map[runKey]chan struct{}
	// seen holds the institutions of the runs driven here, for the overdue gauge.
	seen map[string]bool
}

type runKey struct{ institution, id string }

type schedule struct {
	institution string
	spec        string
	cron        cron.Schedule
}

// Option configures New.
type Option func(*Service) error

// WithClock replaces time.Now: what "now" is for default as_of, run timestamps and schedules.
func WithClock(now func() time.Time) Option {
	return func(s *Service) error {
		if now == nil {
			return errors.New("scheduler: nil clock")
		}
		s.now = now
		return nil
	}
}

// WithSleep replaces the wait for the next scheduled occurrence: sleep returns nil at until,
// or ctx's error. Tests inject one that returns at once, so no test waits for cron time.
func WithSleep(sleep func(ctx context.Context, until time.Time) error) Option {
	return func(s *Service) error {
		if sleep == nil {
			return errors.New("scheduler: nil sleep")
		}
		s.sleep = sleep
		return nil
	}
}

// DefaultProjectionWait is how long a run waits for the projection before it fails: longer
// than a backfill's catch-up on a small site, short enough that a stopped recency is noticed.
const DefaultProjectionWait = 5 * time.Minute

// WithProjectionWait bounds how long a run waits, before it plans, for the projection to fold
// every activity event accepted before it started (DefaultProjectionWait); past it the run fails.
func WithProjectionWait(d time.Duration) Option {
	return func(s *Service) error {
		if d <= 0 {
			return fmt.Errorf("scheduler: projection wait %v: want > 0", d)
		}
		s.projectionWait = d
		return nil
	}
}

// WithBatchSize sets how many items a store write and a publish batch carry (default 1000).
// It is also the granularity of the resume cursor.
func WithBatchSize(n int) Option {
	return func(s *Service) error {
		if n < 1 {
			return fmt.Errorf("scheduler: batch size %d must be positive", n)
		}
		s.batch = n
		return nil
	}
}

// partRuns is the scheduler's part in readiness: it runs once the runs a previous process
// left unfinished are resumed and the schedules are armed.
const partRuns = "runs"

// New returns the scheduler over d.Store and d.JetStream (both required, with d.Auth for
// the routes). Every institution's schedule in d.Config is parsed here, so a bad cron
// expression stops start-up instead of never firing.
func New(d platform.Deps, opts ...Option) (*Service, error) {
	d, err := d.Resolve("scheduler", platform.NeedJetStream, platform.NeedStore, platform.NeedAuth)
	if err != nil {
		return nil, err
	}
	pub, err := bus.NewPublisher(d.JetStream, bus.WithLogger(d.Logger), bus.WithTracerProvider(d.TracerProvider))
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	cfg := d.Config
	s := &Service{
		store: d.Store, pub: pub, cfg: cfg, auth: d.Auth,
		now:     time.Now,
		log:     d.Logger,
		tp:      d.TracerProvider,
		batch:   DefaultBatchSize,
		ready:   platform.NewReadiness(partRuns),
		driving: map[runKey]chan struct{}{},
		seen:    map[string]bool{},
	}
	s.sleep = s.sleepUntil
	s.projectionWait = DefaultProjectionWait
	js := d.JetStream
	s.folded = func(ctx context.Context) error {
		return bus.WaitAcknowledged(ctx, js, bus.StreamActivity, bus.DurableRecency, s.projectionWait)
	}
	if d.ReceiptKey != nil {
		s.receiptKey = d.ReceiptKey.Public().(ed25519.PublicKey)
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	s.tracer = s.tp.Tracer("github.com/lethe-gdpr/lethe/services/scheduler")
	meter := d.MeterProvider.Meter("github.com/lethe-gdpr/lethe/services/scheduler")
	if s.planned, err = meter.Int64Counter("lethe.scheduler.items_planned",
		metric.WithDescription("run items planned, by mode, outcome and skip reason")); err != nil {
		return nil, err
	}
	if s.published, err = meter.Int64Counter("lethe.scheduler.commands_published",
		metric.WithDescription("erasure commands published to LETHE_COMMANDS, by planned outcome")); err != nil {
		return nil, err
	}
	if err := s.observeOverdue(meter); err != nil {
		return nil, err
	}
	if s.purged, err = meter.Int64Counter("lethe.scheduler.technical_purged",
		metric.WithDescription("technical-data records purged past the register's after_collection window, by institution")); err != nil {
		return nil, err
	}
	var errs []error
	for _, in := range cfg.Institutions {
		if in.Schedule == "" {
			continue
		}
		sch, err := config.ParseSchedule(in.Schedule)
		if err != nil {
			errs = append(errs, fmt.Errorf("institution %s: schedule %q: %w", in.ID, in.Schedule, err))
			continue
		}
		s.schedules = append(s.schedules, schedule{institution: in.ID, spec: in.Schedule, cron: sch})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.life, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// NotRunning lists what of the scheduler does not run yet (or any more): "runs" until Run has
// resumed the unfinished runs and armed the schedules.
func (s *Service) NotRunning() []string { return s.ready.NotRunning() }

// Close stops the runs in progress where they stand (they resume at the next start, from
// their cursor) and waits for them to let go. It is safe to call more than once.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// launch drives run in the background unless this process drives it already, and returns a
// channel closed when it stops driving it. The run's span is a child of the span in ctx when
// there is one (the request that started it), so the run's trace starts with that request.
func (s *Service) launch(ctx context.Context, run store.Run) (<-chan struct{}, error) {
	k := runKey{run.Institution, run.ID}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if done, ok := s.driving[k]; ok {
		return done, nil
	}
	done := make(chan struct{})
	s.driving[k] = done
	s.seen[run.Institution] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.driving, k)
			s.mu.Unlock()
			close(done)
		}()
		life := s.life
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			life = trace.ContextWithSpanContext(life, sc)
		}
		s.drive(life, run)
	}()
	return done, nil
}

// Wait blocks until this process stops driving the run (it finished, failed or was
// interrupted) or ctx ends, and returns the run as stored.
func (s *Service) Wait(ctx context.Context, institution, runID string) (store.Run, error) {
	s.mu.Lock()
	done := s.driving[runKey{institution, runID}]
	s.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return store.Run{}, ctx.Err()
		}
	}
	return s.GetRun(ctx, institution, runID)
}

func (s *Service) sleepUntil(ctx context.Context, until time.Time) error {
	t := time.NewTimer(max(until.Sub(s.now()), 0))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newRunID names a run started on request: sortable by creation, unique by its random tail,
// and made of [A-Za-z0-9_-] only, so it is a valid event id and subject token.
func newRunID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "run-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// scheduledRunID is the same for every scheduler instance that fires the occurrence, so
// Runs.Create elects exactly one of them.
func scheduledRunID(at time.Time) string {
	return "scheduled-" + at.UTC().Format("20060102T150405Z")
}

// applyRunID derives the apply run from its simulation, so a plan can be applied only once.
func applyRunID(simulation string) string {
	return "apply-" + simulation
}
