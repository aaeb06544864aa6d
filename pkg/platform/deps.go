package platform

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Deps is what every service's New receives. The telemetry fields are optional (Resolve
// gives them defaults); the others are required by the services that name them in Resolve.
type Deps struct {
	Logger         *slog.Logger         // default: discarded
	TracerProvider trace.TracerProvider // default: no-op
	MeterProvider  metric.MeterProvider // default: no-op
	JetStream      jetstream.JetStream
	Store          store.Store
	Sealer         *seal.Sealer
	Config         config.File
	// Auth wraps the routes a service's Register adds: they need a bearer token.
	Auth *httpapi.Authenticator
	// ReceiptKey signs erasure receipts (the anonymiser) and its public half is printed in
	// the register (the scheduler); lethe serve always sets it (created once under --data,
	// or from configuration). Unset, the anonymiser signs with a key of its own process.
	ReceiptKey ed25519.PrivateKey
}

// WithLogger returns a copy of d whose logger is l (each service gets its own attributes).
func (d Deps) WithLogger(l *slog.Logger) Deps {
	d.Logger = l
	return d
}

// A Dependency names a field of Deps that a service cannot do without.
type Dependency string

// The fields of Deps a service may require.
const (
	NeedJetStream Dependency = "JetStream"
	NeedStore     Dependency = "Store"
	NeedSealer    Dependency = "Sealer"
	NeedAuth      Dependency = "Auth"
)

// ErrMissingDependency is wrapped by Resolve's error when a required field is nil.
var ErrMissingDependency = errors.New("missing dependency")

// Resolve is the one rule every service's New applies to its dependencies: each field named
// in required must be set, or New fails with an error naming the service and every missing
// field; the telemetry fields, when nil, become a discarding logger and no-op providers. It
// returns d with those defaults.
func (d Deps) Resolve(service string, required ...Dependency) (Deps, error) {
	var missing []string
	for _, need := range required {
		var set bool
		switch need {
		case NeedJetStream:
			set = d.JetStream != nil
		case NeedStore:
			set = d.Store != nil
		case NeedSealer:
			set = d.Sealer != nil
		case NeedAuth:
			set = d.Auth != nil
		default:
			return d, fmt.Errorf("%s: platform.Deps has no field %q to require", service, need)
		}
		if !set {
			missing = append(missing, "Deps."+string(need))
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		return d, fmt.Errorf("%s: %w: %s is nil", service, ErrMissingDependency, missing[0])
	default:
		return d, fmt.Errorf("%s: %w: %s are nil", service, ErrMissingDependency, strings.Join(missing, ", "))
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.TracerProvider == nil {
		d.TracerProvider = tracenoop.NewTracerProvider()
	}
	if d.MeterProvider == nil {
		d.MeterProvider = metricnoop.NewMeterProvider()
	}
	return d, nil
}
