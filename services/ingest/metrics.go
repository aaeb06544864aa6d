package ingest

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/lethe-gdpr/lethe/events"
)

// Reason classes of a rejection, the "reason" attribute of lethe.ingest.events.rejected.
// They classify; they never carry a value from the request.
const (
	ReasonInvalid     = "invalid"     // the event breaks the contract
	ReasonBatch       = "batch"       // a valid event refused with its invalid batch
	ReasonMalformed   = "malformed"   // the body does not parse into events at all
	ReasonTooLarge    = "too_large"   // the body is over the size limit
	ReasonForbidden   = "forbidden"   // the token lacks the scope or the institution
	ReasonUnavailable = "unavailable" // JetStream or the key store could not take it
	ReasonError       = "error"       // anything else (unusable data keys, bugs)
	ReasonInstitution = "institution" // inbox subject and event name different institutions
	typeOther         = "other"       // the type attribute of an event whose type is not an in type
	transportHTTP     = "http"
	transportNATS     = "nats"
)

var reasons = []string{ReasonInvalid, ReasonBatch, ReasonMalformed, ReasonTooLarge, ReasonForbidden,
	ReasonUnavailable, ReasonError, ReasonInstitution}

// metrics counts events accepted and rejected by type. Attribute sets are built once, so
// counting a batch of a thousand events allocates nothing per event.
type metrics struct {
	accepted, rejected metric.Int64Counter
	acceptedSets       map[[2]string]metric.AddOption // (transport, type)
	rejectedSets       map[[3]string]metric.AddOption // (transport, type, reason)
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	meter := mp.Meter("github.com/lethe-gdpr/lethe/services/ingest")
	acc, err := meter.Int64Counter("lethe.ingest.events.accepted",
		metric.WithDescription("events ingest stored on LETHE_ACTIVITY, by type and transport"),
		metric.WithUnit("{event}"))
	if err != nil {
		return nil, err
	}
	rej, err := meter.Int64Counter("lethe.ingest.events.rejected",
		metric.WithDescription("events ingest refused, by type, transport and reason class"),
		metric.WithUnit("{event}"))
	if err != nil {
		return nil, err
	}
	m := &metrics{accepted: acc, rejected: rej,
		acceptedSets: map[[2]string]metric.AddOption{}, rejectedSets: map[[3]string]metric.AddOption{}}
	for _, tr := range []string{transportHTTP, transportNATS} {
		for _, typ := range append(events.InTypes(), typeOther) {
			m.acceptedSets[[2]string{tr, typ}] = metric.WithAttributeSet(attribute.NewSet(
				attribute.String("transport", tr), attribute.String("type", typ)))
			for _, r := range reasons {
				m.rejectedSets[[3]string{tr, typ, r}] = metric.WithAttributeSet(attribute.NewSet(
					attribute.String("transport", tr), attribute.String("type", typ), attribute.String("reason", r)))
			}
		}
	}
	return m, nil
}

// typeClass keeps the type attribute bounded: an upstream's arbitrary type string never
// becomes a metric series.
func typeClass(typ string) string {
	if events.IsInType(typ) {
		return typ
	}
	return typeOther
}

func (m *metrics) accept(ctx context.Context, transport, typ string, n int) {
	m.accepted.Add(ctx, int64(n), m.acceptedSets[[2]string{transport, typeClass(typ)}])
}

func (m *metrics) reject(ctx context.Context, transport, typ, reason string, n int) {
	m.rejected.Add(ctx, int64(n), m.rejectedSets[[3]string{transport, typeClass(typ), reason}])
}
