package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/mongostore"
	"github.com/lethe-gdpr/lethe/pkg/store/pebblestore"
	"github.com/lethe-gdpr/lethe/pkg/telemetry"
	"github.com/lethe-gdpr/lethe/services/anonymiser"
	"github.com/lethe-gdpr/lethe/services/ingest"
	"github.com/lethe-gdpr/lethe/services/recency"
	"github.com/lethe-gdpr/lethe/services/scheduler"
)

// serveConfig is every setting of `lethe serve`, from flags and their environment twins.
type serveConfig struct {
	HTTP       string
	Data       string
	ConfigPath string
	Target     string
	NATSURL    string
	NATSListen string
	// NATSUser, NATSPassword or NATSCreds are the services' credentials on the server of
	// --nats-url; the embedded server's are generated under --data (servicePassword).
	NATSUser     string
	NATSPassword string
	NATSCreds    string
	// NATSSync is when the embedded server fsyncs what it acknowledged: the loss window of a
	// power cut (README, "Durability").
	NATSSync  bus.SyncPolicy
	MongoURI  string
	MongoDB   string
	MasterKey string
	LogLevel  string
	LogFormat string
	// OTLPEndpoint is OTEL_EXPORTER_OTLP_ENDPOINT: the standard variable, not a LETHE_ one.
	OTLPEndpoint string
	// ShutdownTimeout bounds each step of a graceful stop.
	ShutdownTimeout time.Duration
	// ReadTimeout bounds how long a request, headers and body, may take to arrive: a body
	// trickled in (slow loris) is cut off with 408 instead of holding a connection and its
	// buffer for ever.
	ReadTimeout time.Duration
	// RebuildProjection rebuilds the projection from the stream before any service starts,
	// so that no service ever reads a half-rebuilt projection.
	RebuildProjection bool

	// spans, when set (tests), receives every span besides the OTLP export.
	spans telemetry.SpanExporter
	// holdRuns, when set (tests), holds every service's Run until it is closed: the listener
	// then serves every route while no consumer runs yet.
	holdRuns <-chan struct{}
}

// service is the shape of every target: built by New, its routes registered, then run;
// NotRunning names its consumers and loops that do not run (yet), for /readyz.
type service interface {
	Register(mux *http.ServeMux)
	Run(ctx context.Context) error
	NotRunning() []string
}

// The services `--target` can name, in start-up order.
var targets = []struct {
	name  string
	build func(platform.Deps) (service, error)
}{
	{"ingest", func(d platform.Deps) (service, error) { return ingest.New(d) }},
	{"recency", func(d platform.Deps) (service, error) { return recency.New(d) }},
	{"scheduler", func(d platform.Deps) (service, error) { return scheduler.New(d) }},
	{"anonymiser", func(d platform.Deps) (service, error) { return anonymiser.New(d) }},
}

// selected is one service `lethe serve` runs, under its target's name.
type selected struct {
	name string
	svc  service
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := cliflags.NewFlagSet("serve", stderr)
	fs.StringVar(&c.HTTP, "http", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&c.Data, "data", "./lethe-data", "data directory (embedded NATS, embedded store, master key)")
	fs.StringVar(&c.ConfigPath, "config", "", "lethe.yaml: tokens, institutions, register")
	fs.StringVar(&c.Target, "target", "all", "all, or one of ingest, recency, scheduler, anonymiser (comma-separated for several)")
	fs.StringVar(&c.NATSURL, "nats-url", "", "NATS server URL; empty embeds a NATS server with JetStream under --data")
	fs.StringVar(&c.NATSUser, "nats-user", "", "the services' user on the server of --nats-url")
	fs.StringVar(&c.NATSPassword, "nats-password", "", "its password (prefer the environment twin LETHE_NATS_PASSWORD: a flag shows in ps)")
	fs.StringVar(&c.NATSCreds, "nats-creds", "", "a NATS credentials file (JWT and NKey seed) for the server of --nats-url, instead of --nats-user")
	fs.StringVar(&c.NATSListen, "nats-listen", "127.0.0.1:4222", "where the embedded NATS server listens for upstream publishers (port 0 for any free port)")
	c.NATSSync = bus.DefaultSync
	fs.Var(&c.NATSSync, "nats-sync", "when the embedded NATS server fsyncs: always (each message, no loss on power cut, much slower) or an interval such as 1s (a power cut loses at most that much)")
	fs.StringVar(&c.MongoURI, "mongo-uri", "", "MongoDB URI; empty uses the embedded store under --data")
	fs.StringVar(&c.MongoDB, "mongo-database", "lethe", "MongoDB database name")
	fs.StringVar(&c.MasterKey, "master-key", "", "base64 256-bit master key (overrides lethe.yaml); empty with the embedded store generates one under --data")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "bound on each step of a graceful stop")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", time.Minute, "bound on reading a request, headers and body (a 10 MiB batch needs about 175 KB/s)")
	fs.BoolVar(&c.RebuildProjection, "rebuild-projection", false, "before serving, rebuild the contacts projection from the start of LETHE_ACTIVITY")
	if err := cliflags.Parse(fs, args, getenv); err != nil {
		return c, err
	}
	if c.ReadTimeout <= 0 {
		return c, fmt.Errorf("--read-timeout %v: it must be positive, or a slow client holds its connection for ever", c.ReadTimeout)
	}
	c.OTLPEndpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	if _, err := selectTargets(c.Target); err != nil {
		return c, err
	}
	if err := checkNATSCredentials(c); err != nil {
		return c, err
	}
	return c, nil
}

// checkNATSCredentials refuses credentials that would be ignored or half given: nothing
// connects to the bus without credentials, so --nats-url needs some, and the embedded server
// makes its own.
func checkNATSCredentials(c serveConfig) error {
	user := c.NATSUser != "" || c.NATSPassword != ""
	switch {
	case c.NATSURL == "" && (user || c.NATSCreds != ""):
		return errors.New("--nats-user, --nats-password and --nats-creds are for --nats-url; the embedded server generates the services' password under --data")
	case c.NATSURL == "":
		return nil
	case user && c.NATSCreds != "":
		return errors.New("--nats-creds or --nats-user with --nats-password, not both")
	case c.NATSCreds != "":
		return nil
	case c.NATSUser == "" || c.NATSPassword == "":
		return errors.New("--nats-url needs the services' credentials: --nats-user and --nats-password (LETHE_NATS_USER, LETHE_NATS_PASSWORD) or --nats-creds (LETHE_NATS_CREDS)")
	}
	return nil
}

// servicePasswordPath is where the embedded server's password for the services is kept: a
// directory of its own, 0700, like the master key's.
func servicePasswordPath(data string) (dir, name string) {
	return filepath.Join(data, "bus"), "service.password"
}

func selectTargets(spec string) (map[string]bool, error) {
	sel := map[string]bool{}
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		if name == "all" {
			for _, t := range targets {
				sel[t.name] = true
			}
			continue
		}
		known := false
		for _, t := range targets {
			known = known || t.name == name
		}
		if !known {
			return nil, fmt.Errorf("--target: unknown target %q (all, ingest, recency, scheduler, anonymiser)", name)
		}
		sel[name] = true
	}
	return sel, nil
}

func newLogger(c serveConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve starts in two phases: it builds every selected service and registers every route,
// then starts every service's Run, then listens; /readyz answers 200 once every consumer
// runs. It runs until ctx is cancelled, then stops in order: intake first (HTTP), then the
// consumers drain, then the bus and the store close, and telemetry flushes last.
func serve(ctx context.Context, c serveConfig, stdout, stderr io.Writer) error {
	log := newLogger(c, stderr)
	sel, _ := selectTargets(c.Target)

	file := config.File{}
	if c.ConfigPath != "" {
		var err error
		if file, err = config.Load(c.ConfigPath); err != nil {
			return err
		}
	} else {
		file, _ = config.Parse(nil)
	}
	if len(file.Tokens) == 0 {
		tok, err := devToken()
		if err != nil {
			return err
		}
		file.Tokens = append(file.Tokens, tok.Token)
		// Printed once, on stdout, never logged: the only copy of the development token.
		fmt.Fprintf(stdout, "development token (all scopes, every institution; configure tokens in lethe.yaml for real use):\n  LETHE_TOKEN=%s\n", tok.plain)
	}

	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "lethe", Version: version, OTLPEndpoint: c.OTLPEndpoint, SpanExporter: c.spans})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.ShutdownTimeout)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()

	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	// The bus: an embedded server unless --nats-url names one.
	var ns *server.Server
	var nc *nats.Conn
	if c.NATSURL == "" {
		host, port, err := splitHostPort(c.NATSListen)
		if err != nil {
			return fmt.Errorf("--nats-listen: %w", err)
		}
		// Nothing connects without credentials, the services included: they use a password
		// generated once under --data, and lethe.yaml's bus users get their roles' permissions.
		dir, name := servicePasswordPath(c.Data)
		password, err := seal.EnsureSecret(dir, name)
		if err != nil {
			return fmt.Errorf("the services' bus password: %w", err)
		}
		users, err := bus.ServerUsers(password, file.Bus.Users)
		if err != nil {
			return err
		}
		ns, err = bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: filepath.Join(c.Data, "nats"), Host: host, Port: port, Users: users, Sync: c.NATSSync})
		if err != nil {
			return fmt.Errorf("embedded NATS: %w", err)
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		nc, err = nats.Connect("", nats.InProcessServer(ns), nats.UserInfo(bus.ServiceUser, password), nats.Name("lethe"), nats.MaxReconnects(-1))
		if err != nil {
			return fmt.Errorf("connect embedded NATS: %w", err)
		}
		// The sync policy as the server itself reports it, not as it was asked for.
		jsc := ns.JetStreamConfig()
		log.Info("embedded NATS started", "listen", ns.ClientURL(), "store", filepath.Join(c.Data, "nats"),
			"bus_users", len(file.Bus.Users), "service_password_file", filepath.Join(dir, name),
			"sync_always", jsc.SyncAlways, "sync_interval", jsc.SyncInterval)
		fmt.Fprintf(stdout, "NATS listening on %s (services' user %s, password in %s)\n", ns.ClientURL(), bus.ServiceUser, filepath.Join(dir, name))
	} else {
		if len(file.Bus.Users) > 0 {
			log.Warn("bus.users of lethe.yaml apply to the embedded server only; the server of --nats-url has its own users (deploy/nats/nats.conf)")
		}
		creds := nats.UserInfo(c.NATSUser, c.NATSPassword)
		if c.NATSCreds != "" {
			creds = nats.UserCredentials(c.NATSCreds)
		}
		nc, err = nats.Connect(c.NATSURL, creds, nats.Name("lethe"), nats.MaxReconnects(-1))
		if err != nil {
			return fmt.Errorf("connect NATS: %w", err)
		}
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	// LETHE_ACTIVITY holds sealed technical data, so it keeps events no longer than the
	// register's shortest technical-data window (CONTRACT.md).
	streams := bus.StreamsConfig{ActivityMaxAge: file.ActivityMaxAge(time.Now(), bus.DefaultActivityMaxAge)}
	if err := bus.EnsureStreams(ctx, js, streams); err != nil {
		return fmt.Errorf("streams: %w", err)
	}

	// The store: the embedded one unless --mongo-uri names a MongoDB.
	var st store.Store
	if c.MongoURI == "" {
		st, err = pebblestore.Open(filepath.Join(c.Data, "store"))
	} else {
		st, err = mongostore.Open(ctx, c.MongoURI, c.MongoDB)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.ShutdownTimeout)
		defer cancel()
		if err := st.Close(sctx); err != nil {
			log.Error("closing the store", "err", err)
		}
	}()

	master, err := masterKey(c, file)
	if err != nil {
		return err
	}
	sealer, err := seal.New(st.Keys(), master)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", tel.Metrics)
	mux.Handle("GET /v1/openapi.json", httpapi.OpenAPI())

	deps := platform.Deps{
		Logger:         log,
		TracerProvider: tel.TracerProvider,
		MeterProvider:  tel.MeterProvider,
		JetStream:      js,
		Store:          st,
		Sealer:         sealer,
		Config:         file,
		Auth:           httpapi.NewAuthenticator(file.Tokens),
	}

	if c.RebuildProjection {
		stats, err := recency.Rebuild(ctx, js, st.Contacts(), log)
		if err != nil {
			return fmt.Errorf("--rebuild-projection: %w", err)
		}
		log.Info("projection rebuilt", "institutions", stats.Institutions, "cleared", stats.Reset,
			"events", stats.Events, "skipped", stats.Skipped, "duration", stats.Duration)
		fmt.Fprintf(stdout, "projection rebuilt: %d events of %d institutions folded in %s\n", stats.Events, stats.Institutions, stats.Duration.Round(time.Millisecond))
	}

	// Phase one: every selected service built and every route registered, before anything
	// runs or listens, so that no request ever meets a route that is not there yet.
	var built []selected
	for _, t := range targets {
		if !sel[t.name] {
			continue
		}
		svc, err := t.build(deps.WithLogger(log.With("service", t.name)))
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		svc.Register(mux)
		built = append(built, selected{t.name, svc})
	}
	mux.HandleFunc("GET /readyz", readyz(nc, js, st, built))

	// Phase two: every Run started, under a context of its own so that intake stops before
	// consumers drain.
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServices()
	services, svcCtx := errgroup.WithContext(svcCtx)
	for _, b := range built {
		services.Go(func() error {
			if c.holdRuns != nil {
				select {
				case <-c.holdRuns:
				case <-svcCtx.Done():
					return nil
				}
			}
			if err := b.svc.Run(svcCtx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%s: %w", b.name, err)
			}
			return nil
		})
	}

	ln, err := net.Listen("tcp", c.HTTP)
	if err != nil {
		stopServices()
		_ = services.Wait()
		return fmt.Errorf("--http: %w", err)
	}
	// RouteProblems: the mux's own 404 and 405 are problems too. The header timeout is the
	// shorter of 10s and the whole request's.
	srv := &http.Server{Handler: httpapi.RouteProblems(mux), ReadHeaderTimeout: min(10*time.Second, c.ReadTimeout), ReadTimeout: c.ReadTimeout}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	log.Info("lethe serving", "http", ln.Addr().String(), "target", c.Target, "data", c.Data)
	fmt.Fprintf(stdout, "lethe listening on http://%s\n", ln.Addr().String())

	servicesDone := make(chan error, 1)
	go func() { servicesDone <- services.Wait() }()

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case err := <-httpErr:
		runErr = fmt.Errorf("http: %w", err)
	case err := <-servicesDone:
		runErr = err
		servicesDone <- err
	}

	// 1. stop intake.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.ShutdownTimeout)
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	cancel()
	// 2. drain consumers.
	stopServices()
	if err := <-servicesDone; err != nil && runErr == nil {
		runErr = err
	}
	// 3. the bus (deferred: connection, then the embedded server), the store, telemetry.
	if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		log.Warn("nats drain", "err", err)
	}
	log.Info("stopped")
	return runErr
}

// readiness is the body of /readyz (the Readiness schema of the OpenAPI document).
type readiness struct {
	NATS      string `json:"nats"`
	Store     string `json:"store"`
	Consumers string `json:"consumers"`
	// NotRunning names each consumer or loop that does not run, as service/part.
	NotRunning []string `json:"not_running,omitempty"`
}

// readyz is 200 when NATS and the store answer and every consumer and loop of every selected
// service runs; otherwise 503, saying which check failed and what does not run yet.
func readyz(nc *nats.Conn, js jetstream.JetStream, st store.Store, services []selected) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		body := readiness{NATS: "ok", Store: "ok", Consumers: "running"}
		status := http.StatusOK
		if !nc.IsConnected() {
			body.NATS, status = "disconnected", http.StatusServiceUnavailable
		} else if _, err := js.AccountInfo(ctx); err != nil {
			body.NATS, status = "jetstream unavailable", http.StatusServiceUnavailable
		}
		if err := st.Ping(ctx); err != nil {
			body.Store, status = "unreachable", http.StatusServiceUnavailable
		}
		for _, s := range services {
			for _, part := range s.svc.NotRunning() {
				body.NotRunning = append(body.NotRunning, s.name+"/"+part)
			}
		}
		if len(body.NotRunning) > 0 {
			body.Consumers, status = "not running", http.StatusServiceUnavailable
		}
		httpapi.WriteJSON(w, status, body)
	}
}

type generatedToken struct {
	config.Token
	plain string
}

func devToken() (generatedToken, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return generatedToken{}, err
	}
	plain := "dev_" + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(plain))
	return generatedToken{
		Token: config.Token{
			Name: "development", SHA256: hex.EncodeToString(sum[:]),
			Institutions: []string{config.AnyInstitution},
			Scopes:       []string{config.ScopeIngest, config.ScopeRead, config.ScopeAdmin, config.ScopeErase, config.ScopeExport},
		},
		plain: plain,
	}, nil
}

// masterKey: the flag, then lethe.yaml; with the embedded store one is generated once under
// --data. Several processes sharing MongoDB must share the key, so it is never generated then.
func masterKey(c serveConfig, f config.File) ([]byte, error) {
	b64 := c.MasterKey
	if b64 == "" {
		b64 = f.MasterKey
	}
	if b64 != "" {
		return seal.MasterKeyFromConfig(b64)
	}
	if c.MongoURI != "" {
		return nil, errors.New("a shared master key is required with --mongo-uri: set master_key in lethe.yaml or LETHE_MASTER_KEY")
	}
	return seal.EnsureMasterKey(c.Data)
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
