package platform

import (
	"log/slog"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Deps is the one thing a service's Run receives.
type Deps struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	JetStream      jetstream.JetStream
	Store          store.Store
	Sealer         *seal.Sealer
	Config         config.File
	// Mux is the shared HTTP listener's router; a service registers its routes on it before
	// it starts consuming. Auth wraps routes that need a bearer token.
	Mux  *http.ServeMux
	Auth *httpapi.Authenticator
}

// WithLogger returns a copy of d whose logger is l (each service gets its own attributes).
func (d Deps) WithLogger(l *slog.Logger) Deps {
	d.Logger = l
	return d
}
