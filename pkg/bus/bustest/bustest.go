package bustest

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// RunServer starts an embedded JetStream server (Port -1, StoreDir t.TempDir()) and a
// connection to it; both are closed when the test ends. The connection reconnects for ever,
// so it survives Restart.
func RunServer(t testing.TB) (*server.Server, *nats.Conn) {
	t.Helper()
	return RunServerOn(t, t.TempDir(), -1)
}

// RunServerOn is RunServer on a given store directory and port (-1: random).
func RunServerOn(t testing.TB, storeDir string, port int) (*server.Server, *nats.Conn) {
	t.Helper()
	// Generous timeouts: a loaded CI machine can take seconds to start a server or answer
	// a connect, and a test should fail on behaviour, not on load.
	s, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: storeDir, Port: port, ReadyTimeout: time.Minute})
	if err != nil {
		t.Fatalf("bustest: start server: %v", err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s, Connect(t, s)
}

// Connect opens another connection to s, closed when the test ends.
func Connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.Timeout(30*time.Second),
	)
	if err != nil {
		t.Fatalf("bustest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Restart shuts s down and starts a server on the same store directory and port, so that
// streams, consumers and their ack state are recovered and existing connections reconnect.
// It returns the new server and a fresh connection to it.
func Restart(t testing.TB, s *server.Server) (*server.Server, *nats.Conn) {
	t.Helper()
	storeDir := StoreDir(s)
	port := s.Addr().(*net.TCPAddr).Port
	s.Shutdown()
	s.WaitForShutdown()
	return RunServerOn(t, storeDir, port)
}

// StoreDir is the directory s was started on (the parent of its jetstream directory).
// Call it before s shuts down: a stopped server no longer knows its store.
func StoreDir(s *server.Server) string {
	dir := s.StoreDir()
	if dir == "" {
		panic("bustest: StoreDir of a server without JetStream (call it before Shutdown)")
	}
	return filepath.Dir(dir)
}

// JetStream is jetstream.New(nc) with a generous API timeout: on a loaded CI machine a stream
// creation (a file store, an fsync) can take longer than the client's default 5s.
func JetStream(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(30*time.Second))
	if err != nil {
		t.Fatalf("bustest: jetstream: %v", err)
	}
	return js
}
