package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
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

// auditCommand is `lethe audit verify`.
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, err := cliflags.Subcommand("audit", args, []string{"verify"}, auditUsage, stderr)
	if err != nil {
		return err
	}
	var cfg clientFlags
	fs := cliflags.CommandFlags("audit "+sub, auditUsage, stderr)
	cfg.define(fs, "admin scope", 10*time.Minute, "bound on the request (the server reads the whole log)")
	if err := cliflags.Parse(fs, args[1:], getenv); err != nil {
		return cliflags.Error(err)
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "lethe audit %s: unexpected argument %q\n", sub, fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	c, err := cfg.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	rep, err := c.VerifyAudit(ctx)
	var apiErr *client.APIError
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
