package server

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/receipt"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/telemetry"
)

// Config is every setting of `lethe serve`, from flags and their environment twins.
type Config struct {
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
	NATSSync bus.SyncPolicy
	// NATSReplicas is the streams' replica count; 0 chooses (streamReplicas): 1 on the
	// embedded server, 3 on a clustered --nats-url.
	NATSReplicas int
	MongoURI     string
	MongoDB      string
	MasterKey    string
	// ReceiptKey is the base64 Ed25519 key that signs erasure receipts (overrides lethe.yaml's
	// receipts.signing_key); empty, one is created once under --data.
	ReceiptKey string
	LogLevel   string
	LogFormat  string
	// OTLPEndpoint is OTEL_EXPORTER_OTLP_ENDPOINT: the standard variable, not a LETHE_ one.
	OTLPEndpoint string
	// MasterKeyFile and NATSPasswordFile name files holding MasterKey and NATSPassword, as
	// container secrets are mounted (/run/secrets/…): Parse reads them into those, so that a
	// secret is never in the environment or on the command line, where `docker inspect`
	// and ps show it.
	MasterKeyFile    string
	ReceiptKeyFile   string
	NATSPasswordFile string
	// ShutdownTimeout bounds each step of a graceful stop.
	ShutdownTimeout time.Duration
	// ReadTimeout bounds how long a request, headers and body, may take to arrive: a body
	// trickled in (slow loris) is cut off with 408 instead of holding a connection and its
	// buffer for ever.
	ReadTimeout time.Duration
	// RebuildProjection rebuilds the projection from the stream before any service starts,
	// so that no service ever reads a half-rebuilt projection.
	RebuildProjection bool
	// ConsoleAPI is where the console calls the API when it does not run in the same
	// process (--target console behind a gateway); empty: this process's own routes.
	ConsoleAPI string
	// ConsoleSecureCookies marks the console's cookies Secure on a plain-HTTP listener
	// behind a gateway that terminates TLS.
	ConsoleSecureCookies bool
	// CheckRestore reports what the erasure ledger would re-apply to the store, and exits
	// without changing anything or serving.
	CheckRestore bool

	// Version is the binary's, reported in telemetry: main sets it after Parse, which
	// leaves it "dev", the version of a build without -ldflags.
	Version string

	// Test hooks, never set by a flag.

	// Spans, when set, receives every span besides the OTLP export: how a test reads what
	// was traced.
	Spans telemetry.SpanExporter
	// HoldRuns, when set, holds every service's Run until it is closed: the listener then
	// serves every route while no consumer runs yet, which a test of readiness needs.
	HoldRuns <-chan struct{}
}

// Parse reads the flags of `lethe serve` and their environment twins, refusing settings
// that cannot work (a target that does not exist, credentials half given) before anything
// starts; usage and flag errors go to stderr.
func Parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c := Config{Version: "dev"}
	fs := cliflags.NewFlagSet("serve", stderr)
	fs.StringVar(&c.HTTP, "http", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&c.Data, "data", "./lethe-data", "data directory (embedded NATS, embedded store, master key)")
	fs.StringVar(&c.ConfigPath, "config", "", "lethe.yaml: tokens, institutions, register")
	fs.StringVar(&c.Target, "target", "all", "all, or one of "+strings.Join(Targets(), ", ")+" (comma-separated for several)")
	fs.StringVar(&c.NATSURL, "nats-url", "", "NATS server URL; empty embeds a NATS server with JetStream under --data")
	fs.StringVar(&c.NATSUser, "nats-user", "", "the services' user on the server of --nats-url")
	fs.StringVar(&c.NATSPassword, "nats-password", "", "its password (prefer the environment twin LETHE_NATS_PASSWORD: a flag shows in ps)")
	fs.StringVar(&c.NATSPasswordFile, "nats-password-file", "", "a file holding --nats-password (a mounted secret: neither the environment nor ps shows it)")
	fs.StringVar(&c.NATSCreds, "nats-creds", "", "a NATS credentials file (JWT and NKey seed) for the server of --nats-url, instead of --nats-user")
	fs.StringVar(&c.NATSListen, "nats-listen", "127.0.0.1:4222", "where the embedded NATS server listens for upstream publishers (port 0 for any free port)")
	c.NATSSync = bus.DefaultSync
	fs.Var(&c.NATSSync, "nats-sync", "when the embedded NATS server fsyncs: always (each message, no loss on power cut, much slower) or an interval such as 1s (a power cut loses at most that much)")
	fs.IntVar(&c.NATSReplicas, "nats-replicas", 0, "replicas of every stream: 0 chooses (1 with the embedded server, 3 when --nats-url is a cluster, an existing stream keeping more); a count is applied to existing streams too, in place, keeping their messages")
	fs.StringVar(&c.MongoURI, "mongo-uri", "", "MongoDB URI; empty uses the embedded store under --data")
	fs.StringVar(&c.MongoDB, "mongo-database", "lethe", "MongoDB database name")
	fs.StringVar(&c.MasterKey, "master-key", "", "base64 256-bit master key (overrides lethe.yaml); empty with the embedded store generates one under --data")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", "", "a file holding --master-key (a mounted secret)")
	fs.StringVar(&c.ReceiptKeyFile, "receipt-key-file", "", "a file holding --receipt-key (a mounted secret)")
	fs.StringVar(&c.ReceiptKey, "receipt-key", "", "base64 Ed25519 key (32-byte seed) signing erasure receipts (overrides lethe.yaml receipts.signing_key); empty generates one under --data")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "bound on each step of a graceful stop")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", time.Minute, "bound on reading a request, headers and body (a 10 MiB batch needs about 175 KB/s)")
	fs.BoolVar(&c.RebuildProjection, "rebuild-projection", false, "before serving, rebuild the contacts projection from the start of LETHE_ACTIVITY")
	fs.StringVar(&c.ConsoleAPI, "console-api", "", "the API's URL for the console at /ui/ (e.g. the gateway's) when this process does not serve the API itself; empty: its own routes")
	fs.BoolVar(&c.ConsoleSecureCookies, "console-secure-cookies", false, "mark the console's cookies Secure even on plain HTTP (behind a gateway that terminates TLS)")
	fs.BoolVar(&c.CheckRestore, "check-restore", false, "report what the erasure ledger (LETHE_ERASURES) would re-apply to the store, e.g. after a restore, then exit without changing anything")
	if err := cliflags.Parse(fs, args, getenv); err != nil {
		return c, err
	}
	if c.ReadTimeout <= 0 {
		return c, fmt.Errorf("--read-timeout %v: it must be positive, or a slow client holds its connection for ever", c.ReadTimeout)
	}
	if err := readSecretFiles(&c); err != nil {
		return c, err
	}
	c.OTLPEndpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	sel, err := selectTargets(c.Target)
	if err != nil {
		return c, err
	}
	if err := checkConsoleAPI(c, sel); err != nil {
		return c, err
	}
	if err := checkNATSCredentials(c); err != nil {
		return c, err
	}
	if err := checkReplicas(c); err != nil {
		return c, err
	}
	return c, nil
}

// consoleReads are the targets whose routes the console calls: without all of them in the
// process, it must call the API elsewhere.
var consoleReads = []string{"recency", "scheduler", "anonymiser"}

// checkConsoleAPI refuses a console that would call routes its process does not serve: every
// page would be a 404.
func checkConsoleAPI(c Config, sel map[string]bool) error {
	if !sel["console"] || c.ConsoleAPI != "" {
		return nil
	}
	for _, t := range consoleReads {
		if !sel[t] {
			return fmt.Errorf("--target %s: the console calls the API of recency, scheduler and anonymiser, and %s is not in this process: give --console-api (the gateway's URL)", c.Target, t)
		}
	}
	return nil
}

// EnvTwins lists the environment variables `lethe serve` reads: each flag's twin, and
// OTEL_EXPORTER_OTLP_ENDPOINT. It asks Parse itself, so it cannot drift from the flags;
// deploy/validate checks every variable of the compose file and the manifests against it.
func EnvTwins() []string {
	var names []string
	_, _ = Parse(nil, func(k string) string {
		names = append(names, k)
		return ""
	}, io.Discard)
	return names
}

// Targets lists what --target can name besides all, in start-up order.
func Targets() []string {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.name
	}
	return names
}

// readSecretFiles reads --master-key-file, --receipt-key-file and --nats-password-file into the settings they
// stand for; giving a setting both ways is refused rather than one silently winning.
func readSecretFiles(c *Config) error {
	for _, s := range []struct {
		flag, file string
		value      *string
	}{
		{"--master-key", c.MasterKeyFile, &c.MasterKey},
		{"--receipt-key", c.ReceiptKeyFile, &c.ReceiptKey},
		{"--nats-password", c.NATSPasswordFile, &c.NATSPassword},
	} {
		if s.file == "" {
			continue
		}
		if *s.value != "" {
			return fmt.Errorf("%s and %s-file both given: give one", s.flag, s.flag)
		}
		b, err := os.ReadFile(s.file)
		if err != nil {
			return fmt.Errorf("%s-file: %w", s.flag, err)
		}
		if *s.value = strings.TrimSpace(string(b)); *s.value == "" {
			return fmt.Errorf("%s-file %s is empty", s.flag, s.file)
		}
	}
	return nil
}

// checkNATSCredentials refuses credentials that would be ignored or half given: nothing
// connects to the bus without credentials, so --nats-url needs some, and the embedded server
// makes its own.
func checkNATSCredentials(c Config) error {
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

// checkReplicas refuses a replica count the bus cannot have: the embedded server is one node.
func checkReplicas(c Config) error {
	switch {
	case c.NATSReplicas < 0:
		return fmt.Errorf("--nats-replicas %d: a count of 1 or more, or 0 to choose", c.NATSReplicas)
	case c.NATSURL == "" && c.NATSReplicas > 1:
		return fmt.Errorf("--nats-replicas %d: the embedded NATS server is a single node, so its streams have one replica; replicas need a cluster (--nats-url)", c.NATSReplicas)
	}
	return nil
}

// streamReplicas is the streams' replica count and whether it is to be applied exactly:
// --nats-replicas when given; otherwise 3 on a clustered server (R3: an acknowledged write
// is on a quorum of nodes, so one node lost loses nothing) and 1 on a single one, existing
// streams keeping a higher count (bus.StreamsConfig.ExactReplicas).
func streamReplicas(c Config, clusterName string) (int, bool) {
	switch {
	case c.NATSReplicas > 0:
		return c.NATSReplicas, true
	case c.NATSURL != "" && clusterName != "":
		return 3, false
	default:
		return 1, false
	}
}

// ServicePasswordPath is where the embedded server's password for the services is kept: a
// directory of its own, 0700, like the master key's.
func ServicePasswordPath(data string) (dir, name string) {
	return filepath.Join(data, "bus"), "service.password"
}

// masterKey: the flag, then lethe.yaml; with the embedded store one is generated once under
// --data. Several processes sharing MongoDB must share the key, so it is never generated then.
func masterKey(c Config, f config.File) ([]byte, error) {
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

// receiptKey: the flag, then lethe.yaml, else the key created once under --data. Replicas
// sharing MongoDB should share one (receipts.signing_key): each would otherwise sign with its
// own, and a receipt verifies only with the key its signature names.
func receiptKey(c Config, f config.File, log *slog.Logger) (ed25519.PrivateKey, error) {
	b64 := c.ReceiptKey
	if b64 == "" {
		b64 = f.Receipts.SigningKey
	}
	if b64 != "" {
		return receipt.SigningKeyFromConfig(b64)
	}
	if c.MongoURI != "" {
		log.Warn("receipts are signed with a key of this instance's --data: replicas sharing MongoDB should share receipts.signing_key (LETHE_RECEIPT_KEY)")
	}
	return receipt.EnsureSigningKey(c.Data)
}

func newLogger(c Config, w io.Writer) *slog.Logger {
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
