package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Names of the consumer lag gauges (Prometheus: lethe_bus_consumer_pending and
// lethe_bus_consumer_ack_pending), attributes "stream" and "consumer".
const (
	MetricConsumerPending    = "lethe.bus.consumer.pending"
	MetricConsumerAckPending = "lethe.bus.consumer.ack_pending"
)

// lagTimeout bounds the JetStream API calls of one collection, so that a bus that does not
// answer makes a scrape miss the lag, not hang.
const lagTimeout = 2 * time.Second

// lagStreams are the streams whose consumers are observed: the services' own and the
// downstream CRMs' durables on LETHE_RESULTS.
var lagStreams = []string{StreamInbox, StreamActivity, StreamCommands, StreamResults, StreamDLQ}

// ObserveConsumerLag registers the consumer lag gauges on mp: for every durable consumer of
// the contract's streams, the messages not yet delivered to it (num_pending) and those
// delivered but not acknowledged yet (ack_pending), read from JetStream's consumer info when
// the metrics are collected (a scrape of /metrics), so the figures are never older than the
// scrape. Consumer names are service and bus user names, never personal values. The returned
// function unregisters the gauges.
func ObserveConsumerLag(mp metric.MeterProvider, js jetstream.JetStream) (func() error, error) {
	meter := mp.Meter(instrumentationName)
	pending, err := meter.Int64ObservableGauge(MetricConsumerPending,
		metric.WithDescription("messages of the stream not yet delivered to the durable consumer (JetStream num_pending)"),
		metric.WithUnit("{message}"))
	if err != nil {
		return nil, fmt.Errorf("bus: lag metrics: %w", err)
	}
	ackPending, err := meter.Int64ObservableGauge(MetricConsumerAckPending,
		metric.WithDescription("messages delivered to the durable consumer and not acknowledged yet (JetStream num_ack_pending)"),
		metric.WithUnit("{message}"))
	if err != nil {
		return nil, fmt.Errorf("bus: lag metrics: %w", err)
	}
	o := &lagObserver{js: js, streams: map[string]jetstream.Stream{}}
	reg, err := meter.RegisterCallback(func(ctx context.Context, obs metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, lagTimeout)
		defer cancel()
		infos, err := o.consumers(ctx)
		for _, ci := range infos {
			set := metric.WithAttributes(attribute.String("stream", ci.Stream), attribute.String("consumer", ci.Name))
			obs.ObserveInt64(pending, int64(ci.NumPending), set)
			obs.ObserveInt64(ackPending, int64(ci.NumAckPending), set)
		}
		return err
	}, pending, ackPending)
	if err != nil {
		return nil, fmt.Errorf("bus: lag metrics: %w", err)
	}
	return reg.Unregister, nil
}

// lagObserver keeps the stream handles between collections: listing a stream's consumers is
// then one API call per stream.
type lagObserver struct {
	js      jetstream.JetStream
	mu      sync.Mutex
	streams map[string]jetstream.Stream
}

func (o *lagObserver) consumers(ctx context.Context) ([]*jetstream.ConsumerInfo, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*jetstream.ConsumerInfo
	var errs []error
	for _, name := range lagStreams {
		s, ok := o.streams[name]
		if !ok {
			var err error
			if s, err = o.js.Stream(ctx, name); err != nil {
				if !errors.Is(err, jetstream.ErrStreamNotFound) {
					errs = append(errs, fmt.Errorf("bus: lag of %s: %w", name, err))
				}
				continue
			}
			o.streams[name] = s
		}
		l := s.ListConsumers(ctx)
		for ci := range l.Info() {
			if ci.Config.Durable != "" {
				out = append(out, ci)
			}
		}
		if err := l.Err(); err != nil {
			errs = append(errs, fmt.Errorf("bus: lag of %s: %w", name, err))
		}
	}
	return out, errors.Join(errs...)
}
