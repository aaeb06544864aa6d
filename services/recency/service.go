package recency

import (
	"fmt"
	"log/slog"
	"time"

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

// Service is recency wired to its dependencies: the projection consumer (consume.go, Run)
// and the reads of the projection (http.go, Register). Its use cases, one file each:
//
//	RecordActivity   record_activity.go, fold.go   LETHE_ACTIVITY folded into the projection: recency as a max-register
//	getContact       get_contact.go                GET …/contacts/{id}: the projection, without personal values
//	ExportContact    export.go, export_held.go     GET …/contacts/{id}/export: right of access, decrypted and audited
//	Summarise        summarise.go                  GET …/summary: statuses, recency histogram, overdue by blocker, crossing soon
//	ListTargets      targets.go                    GET …/targets: reachable contacts about to cross the threshold
//	technicalOf      technical.go                  the request's sealed technical data, kept with its collection time
//	Rebuild          rebuild.go                    the projection rebuilt from the start of LETHE_ACTIVITY, before serving
type Service struct {
	js      jetstream.JetStream
	log     *slog.Logger
	tp      trace.TracerProvider
	auth    *httpapi.Authenticator
	cfg     config.File
	store   store.Store
	record  *RecordActivity
	export  *ExportContact
	targets *ListTargets
	summary *Summarise
	folded  metric.Int64Counter
	latency metric.Float64Histogram
	ready   *platform.Readiness
}

// Option configures a Service.
type Option func(*Service) error

// New builds the service from d: d.JetStream, d.Store, d.Sealer (the export decrypts) and
// d.Auth are required.
func New(d platform.Deps, opts ...Option) (*Service, error) {
	d, err := d.Resolve("recency", platform.NeedJetStream, platform.NeedStore, platform.NeedSealer, platform.NeedAuth)
	if err != nil {
		return nil, err
	}
	s := &Service{
		js: d.JetStream, log: d.Logger, tp: d.TracerProvider, auth: d.Auth, cfg: d.Config, store: d.Store,
		record:  NewRecordActivity(d.Store.Contacts()),
		export:  NewExportContact(d.Store, d.Sealer, audit.New(d.Store.Audit()), d.Config, time.Now, d.Logger),
		targets: NewListTargets(d.Store.Contacts()),
		summary: NewSummarise(d.Store.Contacts()),
		ready:   platform.NewReadiness(bus.DurableRecency),
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	meter := d.MeterProvider.Meter("lethe/recency")
	if s.folded, err = meter.Int64Counter("lethe.recency.events_folded",
		metric.WithDescription("activity events folded into the projection, by type")); err != nil {
		return nil, fmt.Errorf("recency: metrics: %w", err)
	}
	if s.latency, err = meter.Float64Histogram("lethe.recency.ingest_to_projection",
		metric.WithUnit("s"), metric.WithDescription("time from an event stored on LETHE_ACTIVITY to its fold into the projection"),
		// From a few milliseconds (caught up) to an hour (a backfill behind): the SDK's default
		// boundaries start at 5 s and would put every caught-up fold in one bucket.
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)); err != nil {
		return nil, fmt.Errorf("recency: metrics: %w", err)
	}
	return s, nil
}

// NotRunning lists the consumers of the service that do not run yet (or any more).
func (s *Service) NotRunning() []string { return s.ready.NotRunning() }
