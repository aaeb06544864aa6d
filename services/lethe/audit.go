package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// `lethe audit verify` asks a running server to walk its audit log and check the hash chain;
// the server does the walk, next to the store, and answers with the report.

const auditUsage = `Usage: lethe audit verify [flags]

  verify   check the audit log's hash chain on the server (GET /v1/audit/verify): every
           entry's hash, every link to the previous entry, no gap, and a purge entry vouching
           for the oldest entry kept. Prints the number of entries, the seq range and the head
           hash (keep it: a log cut back to an earlier head still verifies); exits non-zero,
           naming the first broken seq, when an entry was altered or removed.

Flags (each has an environment twin: --server is LETHE_SERVER, --token LETHE_TOKEN, …):
`

// auditConfig is every setting of `lethe audit verify`.
type auditConfig struct {
	Server  string
	Token   string
	Timeout time.Duration
}

func parseAudit(sub string, args []string, getenv func(string) string, stderr io.Writer) (auditConfig, error) {
	var c auditConfig
	fs := newFlagSet("audit "+sub, stderr)
	fs.StringVar(&c.Server, "server", "http://127.0.0.1:8080", "URL of the running lethe serve")
	fs.StringVar(&c.Token, "token", "", "bearer token with the admin scope")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Minute, "bound on the request (the server reads the whole log)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), auditUsage)
		fs.PrintDefaults()
	}
	if err := parseWithEnv(fs, args, getenv); err != nil {
		return c, flagError(err)
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "lethe audit %s: unexpected argument %q\n", sub, fs.Arg(0))
		fs.Usage()
		return c, errUsage
	}
	if c.Timeout <= 0 {
		return c, errors.New("--timeout must be positive")
	}
	return c, nil
}

// auditCommand is `lethe audit verify`.
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	sub, err := subcommand("audit", args, []string{"verify"}, auditUsage, stderr)
	if err != nil {
		return err
	}
	cfg, err := parseAudit(sub, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.Token == "" {
		return ErrNoToken
	}
	client, err := NewClient(cfg.Server, cfg.Token)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var rep api.AuditReport
	err = client.JSON(ctx, http.MethodGet, "/v1/audit/verify", nil, &rep)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict && apiErr.Detail != "" {
		// The detail is "audit chain broken at seq N: why": seqs and field names only.
		return errors.New(apiErr.Detail)
	}
	if err != nil {
		return err
	}
	if !rep.Intact {
		// A 200 always carries an intact report; anything else is not a Lethe server.
		return fmt.Errorf("the server answered 200 with a report that is not intact: %s", rep)
	}
	fmt.Fprintln(stdout, rep)
	return nil
}
