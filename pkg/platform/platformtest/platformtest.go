package platformtest

import (
	"bytes"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// MasterKey is the master key of every sealer Deps builds, for a test that needs another
// sealer over the same keys (one whose key store it wraps, say).
var MasterKey = bytes.Repeat([]byte{9}, seal.MasterKeySize)

// Bus starts an embedded JetStream server for the test (bustest.RunServer) and creates the
// contract's streams on it; the server is returned for tests that stop or restart it.
func Bus(t testing.TB) (*server.Server, jetstream.JetStream) {
	t.Helper()
	ns, nc := bustest.RunServer(t)
	js := bustest.JetStream(t, nc)
	if err := bus.EnsureStreams(t.Context(), js, bus.StreamsConfig{}); err != nil {
		t.Fatalf("platformtest: EnsureStreams: %v", err)
	}
	return ns, js
}

// Deps is the platform of a service under test: js, st, a sealer over st's keys under
// MasterKey, cfg, and an authenticator of cfg's tokens. Telemetry is left to the services'
// defaults (discarded, no-op): set Logger, TracerProvider or MeterProvider to watch it, or
// any other field to replace it.
func Deps(t testing.TB, js jetstream.JetStream, st store.Store, cfg config.File) platform.Deps {
	t.Helper()
	sealer, err := seal.New(st.Keys(), MasterKey)
	if err != nil {
		t.Fatalf("platformtest: sealer: %v", err)
	}
	return platform.Deps{JetStream: js, Store: st, Sealer: sealer, Config: cfg, Auth: httpapi.NewAuthenticator(cfg.Tokens)}
}
