package anonymiser

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Destinations is each destination's account of institution's outcomes ("" = of every
// institution): every declared destination following it, with zeros when nothing was
// expected yet, and any other destination the store still holds expectations of (one
// removed from lethe.yaml since), by name.
func (s *Service) Destinations(ctx context.Context, institution string) ([]api.DestinationView, error) {
	backlog, err := s.confirmations.Backlog(ctx, institution)
	if err != nil {
		return nil, fmt.Errorf("anonymiser: destinations backlog: %w", err)
	}
	by := map[string]store.Backlog{}
	for _, b := range backlog {
		by[b.Destination] = b
	}
	now := s.now()
	var out []api.DestinationView
	add := func(name string, declared bool) {
		b := by[name]
		v := api.DestinationView{Name: name, Declared: declared, Confirmed: b.Confirmed, Unconfirmed: b.Unconfirmed, Unmatched: b.Unmatched}
		if !b.OldestUnconfirmed.IsZero() {
			oldest := b.OldestUnconfirmed.UTC()
			v.OldestUnconfirmedAt = &oldest
			v.OldestUnconfirmedAgeSeconds = int64(max(now.Sub(oldest), 0) / time.Second)
		}
		out = append(out, v)
		delete(by, name)
	}
	for _, d := range s.config.Destinations {
		if institution == "" || d.Follows(institution) {
			add(d.Name, true)
		}
	}
	for _, b := range backlog {
		if _, left := by[b.Destination]; left {
			add(b.Destination, false)
		}
	}
	return out, nil
}

// registerDestinationMetrics publishes, per destination over every institution, the unconfirmed
// outcomes (lethe_destination_unconfirmed) and the age of the oldest
// (lethe_destination_oldest_unconfirmed_age_seconds), read from the store at each collection.
func (s *Service) registerDestinationMetrics(mp metric.MeterProvider) error {
	m := mp.Meter("lethe/anonymiser")
	unconfirmed, err := m.Int64ObservableGauge("lethe.destination.unconfirmed",
		metric.WithDescription("outcomes published on LETHE_RESULTS that the destination has not confirmed yet"))
	if err != nil {
		return err
	}
	oldest, err := m.Float64ObservableGauge("lethe.destination.oldest_unconfirmed_age", metric.WithUnit("s"),
		metric.WithDescription("age of the oldest outcome the destination has not confirmed (0 when none)"))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		views, err := s.Destinations(ctx, "")
		if err != nil {
			s.log.WarnContext(ctx, "destination metrics not read", "error", err)
			return nil // the other metrics still go out
		}
		for _, v := range views {
			attrs := metric.WithAttributes(attribute.String("destination", v.Name))
			o.ObserveInt64(unconfirmed, v.Unconfirmed, attrs)
			o.ObserveFloat64(oldest, float64(v.OldestUnconfirmedAgeSeconds), attrs)
		}
		return nil
	}, unconfirmed, oldest)
	return err
}
