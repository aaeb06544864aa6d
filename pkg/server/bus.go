package server

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/seal"
)

// connectBus is the services' connection to the bus: to an embedded server started under
// --data unless --nats-url names one. The func it returns closes the connection, then the
// embedded server if there is one; on error nothing is left open.
func connectBus(c Config, file config.File, log *slog.Logger, stdout io.Writer) (*nats.Conn, func(), error) {
	if c.NATSURL == "" {
		host, port, err := splitHostPort(c.NATSListen)
		if err != nil {
			return nil, nil, fmt.Errorf("--nats-listen: %w", err)
		}
		if err := checkPortFree("--nats-listen", c.NATSListen); err != nil {
			return nil, nil, err
		}
		// Nothing connects without credentials, the services included: they use a password
		// generated once under --data, and lethe.yaml's bus users get their roles' permissions.
		dir, name := ServicePasswordPath(c.Data)
		password, err := seal.EnsureSecret(dir, name)
		if err != nil {
			return nil, nil, fmt.Errorf("the services' bus password: %w", err)
		}
		users, err := bus.ServerUsers(password, file.Bus.Users)
		if err != nil {
			return nil, nil, err
		}
		ns, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: filepath.Join(c.Data, "nats"), Host: host, Port: port, Users: users, Sync: c.NATSSync})
		if err != nil {
			return nil, nil, fmt.Errorf("embedded NATS: %w", err)
		}
		stop := func() { ns.Shutdown(); ns.WaitForShutdown() }
		nc, err := nats.Connect("", nats.InProcessServer(ns), nats.UserInfo(bus.ServiceUser, password), nats.Name("lethe"), nats.MaxReconnects(-1))
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("connect embedded NATS: %w", err)
		}
		// The sync policy as the server itself reports it, not as it was asked for.
		jsc := ns.JetStreamConfig()
		log.Info("embedded NATS started", "listen", ns.ClientURL(), "store", filepath.Join(c.Data, "nats"),
			"bus_users", len(file.Bus.Users), "service_password_file", filepath.Join(dir, name),
			"sync_always", jsc.SyncAlways, "sync_interval", jsc.SyncInterval)
		fmt.Fprintf(stdout, "NATS listening on %s (services' user %s, password in %s)\n", ns.ClientURL(), bus.ServiceUser, filepath.Join(dir, name))
		// The connection closes before the server it is connected to.
		return nc, func() { nc.Close(); stop() }, nil
	}
	if len(file.Bus.Users) > 0 {
		log.Warn("bus.users of lethe.yaml apply to the embedded server only; the server of --nats-url has its own users (deploy/nats/nats.conf)")
	}
	creds := nats.UserInfo(c.NATSUser, c.NATSPassword)
	if c.NATSCreds != "" {
		creds = nats.UserCredentials(c.NATSCreds)
	}
	nc, err := nats.Connect(c.NATSURL, append(connectionEvents(log), creds, nats.Name("lethe"), nats.MaxReconnects(-1))...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect NATS: %w", err)
	}
	return nc, nc.Close, nil
}

// connectionEvents logs what happens to the connection to a cluster — a node lost, the
// reconnection to another, an asynchronous error such as a slow consumer — which nats.go would
// otherwise print on stderr or keep to itself.
func connectionEvents(log *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			log.Warn("NATS disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Warn("NATS reconnected", "server", nc.ConnectedServerName(), "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Error("NATS", "err", err, "subscription", sub.Subject)
				return
			}
			log.Error("NATS", "err", err)
		}),
	}
}

func splitHostPort(hp string) (string, int, error) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return "", 0, err
	}
	if port == 0 {
		port = -1 // nats-server's "any free port"
	}
	return host, port, nil
}
