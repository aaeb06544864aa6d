package ingest

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform"
)

// Defaults of the options.
const (
	DefaultMaxBodyBytes   = 10 << 20
	DefaultPublishTimeout = 10 * time.Second
	DefaultRetryAfter     = 5 * time.Second
)

// Service is ingest wired to its dependencies: the HTTP route (post_events.go, Register) and
// the inbox consumer (consume_inbox.go, Run). Its use cases, one file each:
//
//	AcceptEvents     accept_events.go      POST /v1/events: a request's events validated, authorised, sealed and published together
//	ForwardInbox     forward_inbox.go      lethe.inbox.<institution>: the same checks, event by event, on to LETHE_ACTIVITY
//	SealDeadLetter   seal_dead_letter.go   an inbox dead letter keeps no personal value in clear
//	sealPersonal     seal_personal.go      personal values sealed with the contact's key, dropped once it is erased
//	technical data   record_technical.go   the request's IP address and user agent, sealed, where the register declares them
type Service struct {
	log     *slog.Logger
	tp      trace.TracerProvider
	tracer  trace.Tracer
	metrics *metrics
	js      jetstream.JetStream
	auth    *httpapi.Authenticator
	accept  *AcceptEvents
	forward *ForwardInbox
	ready   *platform.Readiness
	// config names the destinations and what they follow (confirmations).
	config config.File

	maxBody        int64
	publishTimeout time.Duration
	retryAfter     int // seconds

	// technical says which institutions record the request's technical data; proxies are
	// the reverse proxies whose X-Forwarded-For is believed; now dates the collection.
	technical func(institution string) bool
	proxies   []netip.Prefix
	now       func() time.Time
}

// Option configures a Service.
type Option func(*Service) error

// WithPublishTimeout bounds how long a request waits for JetStream's acks before it is
// answered 503 (default 10s).
func WithPublishTimeout(d time.Duration) Option {
	return func(s *Service) error {
		if d <= 0 {
			return fmt.Errorf("ingest: publish timeout %v <= 0", d)
		}
		s.publishTimeout = d
		return nil
	}
}

// WithRetryAfter sets the Retry-After of a 503 (default 5s; whole seconds, at least 1).
func WithRetryAfter(d time.Duration) Option {
	return func(s *Service) error {
		if d < time.Second {
			return fmt.Errorf("ingest: retry-after %v < 1s", d)
		}
		s.retryAfter = int(d / time.Second)
		return nil
	}
}

// New builds the service from d: d.JetStream, d.Sealer and d.Auth are required; the body
// limit is d.Config.MaxBodyBytes (DefaultMaxBodyBytes when 0).
func New(d platform.Deps, opts ...Option) (*Service, error) {
	d, err := d.Resolve("ingest", platform.NeedJetStream, platform.NeedSealer, platform.NeedAuth)
	if err != nil {
		return nil, err
	}
	s := &Service{
		log:            d.Logger,
		tp:             d.TracerProvider,
		js:             d.JetStream,
		auth:           d.Auth,
		maxBody:        d.Config.MaxBodyBytes,
		publishTimeout: DefaultPublishTimeout,
		retryAfter:     int(DefaultRetryAfter / time.Second),
		technical:      recordsTechnical(d.Config),
		proxies:        d.Config.TrustedProxyPrefixes(),
		now:            time.Now,
		ready:          platform.NewReadiness(bus.DurableInbox),
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if s.metrics, err = newMetrics(d.MeterProvider); err != nil {
		return nil, fmt.Errorf("ingest: metrics: %w", err)
	}
	s.tracer = s.tp.Tracer("github.com/lethe-gdpr/lethe/services/ingest")
	pub, err := bus.NewPublisher(d.JetStream, bus.WithLogger(s.log), bus.WithTracerProvider(s.tp),
		bus.WithAckTimeout(s.publishTimeout))
	if err != nil {
		return nil, err
	}
	p := connectedPublisher{pub: pub, nc: d.JetStream.Conn()}
	s.accept = NewAcceptEvents(d.Sealer, p, WithTechnicalData(s.technical), WithMaxEventBytes(p.maxEventBytes))
	follows := func(dest, inst string) bool {
		dd, ok := d.Config.Destination(dest)
		return ok && dd.Follows(inst)
	}
	s.config = d.Config
	s.forward = NewForwardInbox(d.Sealer, p, follows)
	return s, nil
}

// Handler is POST /v1/events without authentication: it expects the caller's
// httpapi.Principal in the request context, as Authenticate puts it there.
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.postEvents) }

// Register adds POST /v1/events to mux, behind bearer-token authentication.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle(Route, s.auth.Authenticate(s.Handler()))
}

// NotRunning lists the consumers of the service that do not run yet (or any more).
func (s *Service) NotRunning() []string { return s.ready.NotRunning() }
