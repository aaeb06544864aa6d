package recency

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/platform"
)

// Run registers GET …/contacts/{id}, …/contacts/{id}/export and …/targets, and consumes
// LETHE_ACTIVITY until ctx is done.
func Run(ctx context.Context, d platform.Deps) error {
	if d.Mux != nil {
		d.Mux.Handle("GET /v1/institutions/{inst}/contacts/{id}", d.Auth.Authenticate(getContact(d.Store.Contacts(), d.Config)))
		export := NewExportContact(d.Store, d.Sealer, audit.New(d.Store.Audit()), d.Config, time.Now, d.Logger)
		d.Mux.Handle("GET /v1/institutions/{inst}/contacts/{id}/export", d.Auth.Authenticate(getExport(export)))
		d.Mux.Handle("GET /v1/institutions/{inst}/targets", d.Auth.Authenticate(getTargets(NewListTargets(d.Store.Contacts()), d.Config, time.Now, d.Logger)))
	}
	folded, err := d.MeterProvider.Meter("lethe/recency").Int64Counter("lethe.recency.events_folded",
		metric.WithDescription("activity events folded into the projection, by type"))
	if err != nil {
		return err
	}
	latency, err := d.MeterProvider.Meter("lethe/recency").Float64Histogram("lethe.recency.ingest_to_projection",
		metric.WithUnit("s"), metric.WithDescription("time from an event stored on LETHE_ACTIVITY to its fold into the projection"))
	if err != nil {
		return err
	}
	uc := NewRecordActivity(d.Store.Contacts())
	err = bus.ConsumeBatch(ctx, d.JetStream, bus.ConsumerConfig{
		Stream:  bus.StreamActivity,
		Durable: bus.DurableRecency,
	}, batchHandler(uc, folded, latency), bus.WithLogger(d.Logger), bus.WithTracerProvider(d.TracerProvider))
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("recency consumer: %w", err)
	}
	return nil
}
