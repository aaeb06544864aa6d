package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/mongostore"
	"github.com/lethe-gdpr/lethe/pkg/store/pebblestore"
	"github.com/lethe-gdpr/lethe/pkg/telemetry"
	"github.com/lethe-gdpr/lethe/services/recency"
)

// Run starts in two phases: it builds every selected service and registers every route,
// then starts every service's Run, then listens; /readyz answers 200 once every consumer
// runs. It runs until ctx is cancelled, then stops in order: intake first (HTTP), then the
// consumers drain, then the bus and the store close, and telemetry flushes last.
func Run(ctx context.Context, c Config, stdout, stderr io.Writer) error {
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
		tok, err := devToken(c.Data)
		if err != nil {
			return err
		}
		file.Tokens = append(file.Tokens, tok.Token)
		if c.NATSURL != "" || c.MongoURI != "" {
			// Processes sharing a bus or a store would each make a token of their own, and a
			// client's token would work on one of them only.
			log.Warn("lethe.yaml declares no tokens: this process made a development token of its own; configure tokens (lethe token) where several processes serve one API")
		}
		// Printed on stdout at every start, never logged; kept under --data like the master key.
		fmt.Fprintf(stdout, "development token (all scopes, every institution; configure tokens in lethe.yaml for real use):\n  LETHE_TOKEN=%s\n", tok.plain)
	}

	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "lethe", Version: c.Version, OTLPEndpoint: c.OTLPEndpoint, SpanExporter: c.Spans})
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
	if c.NATSURL == "" || c.MongoURI == "" {
		release, err := lockData(c.Data)
		if err != nil {
			return err
		}
		defer release()
	}
	if err := checkPortFree("--http", c.HTTP); err != nil {
		return err
	}

	nc, closeBus, err := connectBus(c, file, log, stdout)
	if err != nil {
		return err
	}
	defer closeBus()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	// LETHE_ACTIVITY holds sealed technical data, so it keeps events no longer than the
	// register's shortest technical-data window (CONTRACT.md).
	streams := bus.StreamsConfig{ActivityMaxAge: file.ActivityMaxAge(time.Now(), bus.DefaultActivityMaxAge)}
	streams.Replicas, streams.ExactReplicas = streamReplicas(c, nc.ConnectedClusterName())
	log.Info("streams", "replicas", streams.Replicas, "exact", streams.ExactReplicas, "cluster", nc.ConnectedClusterName())
	if err := bus.EnsureStreams(ctx, js, streams); err != nil {
		return fmt.Errorf("streams: %w", err)
	}

	// The store: the embedded one unless --mongo-uri names a MongoDB.
	var st store.Store
	if c.MongoURI == "" {
		st, err = pebblestore.Open(filepath.Join(c.Data, "store"))
	} else {
		st, err = mongostore.Open(ctx, c.MongoURI, c.MongoDB, mongostore.WithTracerProvider(tel.TracerProvider))
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
	signKey, err := receiptKey(c, file, log)
	if err != nil {
		return err
	}

	// The erasure ledger onto the store, before anything is built, served or ready: a store
	// restored from before some erasures is erased again first (ledger.go).
	if done, err := replayLedger(ctx, c, js, st, log, stdout); err != nil || done {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", tel.Metrics)
	mux.Handle("GET /v1/openapi.json", httpapi.OpenAPI())

	// Consumer lag, read from JetStream at every scrape of /metrics.
	unobserve, err := bus.ObserveConsumerLag(tel.MeterProvider, js)
	if err != nil {
		return err
	}
	defer func() { _ = unobserve() }()

	deps := platform.Deps{
		Logger:         log,
		TracerProvider: tel.TracerProvider,
		MeterProvider:  tel.MeterProvider,
		JetStream:      js,
		Store:          st,
		Sealer:         sealer,
		Config:         file,
		Auth:           httpapi.NewAuthenticator(file.Tokens),
		ReceiptKey:     signKey,
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
		svc, err := t.build(deps.WithLogger(log.With("service", t.name)), c)
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
			if c.HoldRuns != nil {
				select {
				case <-c.HoldRuns:
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
		return portTaken("--http", c.HTTP, err)
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

// generatedToken is the development token: its hash for the authenticator, and the plain
// value printed once for the person who started lethe serve.
type generatedToken struct {
	config.Token
	plain string
}

// devToken is a token of every scope on every institution, made when lethe.yaml declares
// none, so that a first lethe serve can be used at once. It is generated once and kept as
// <data>/dev/token (0600, in a 0700 directory, like the master key), so that a restart on the
// same data finds it again, as it finds everything else.
func devToken(data string) (generatedToken, error) {
	secret, err := seal.EnsureSecret(filepath.Join(data, "dev"), "token")
	if err != nil {
		return generatedToken{}, fmt.Errorf("the development token: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		return generatedToken{}, fmt.Errorf("the development token: %w", err)
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
