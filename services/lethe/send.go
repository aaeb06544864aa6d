package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"io"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/backfill"
)

// `lethe send` is the backfill: an institution's history streamed into POST /v1/events, in
// concurrent batches, resumable (pkg/backfill does the work; this is its command line).

const sendUsage = `Usage: lethe send [flags] FILE|-

Sends CloudEvents to a running lethe serve (POST /v1/events, in concurrent batches): the way
an institution backfills its history. FILE holds NDJSON (one structured CloudEvent per line),
a JSON array of events, or one JSON object; the format is detected. "-" reads standard input.
The input is streamed, never loaded whole.

Progress is kept in FILE.send-progress (or --state; standard input has none without it):
re-running the same command after an interruption skips every batch the server already
acknowledged, so no event is stored twice. Each rejected event is reported by line with the
field and the reason; send stops at the first one, or with --keep-going sends the rest, and
exits non-zero either way.

Flags (each has an environment twin: --server is LETHE_SERVER, --token LETHE_TOKEN, …):
`

// sendConfig is every setting of `lethe send`.
type sendConfig struct {
	backfill.Config
	Server string
	Token  string
	Input  string // a path, or "-" for standard input
	State  string // the checkpoint; "" means FILE.send-progress for a file, none for stdin
}

func parseSend(args []string, getenv func(string) string, stderr io.Writer) (sendConfig, error) {
	c := sendConfig{}
	fs := cliflags.CommandFlags("send", sendUsage, stderr)
	fs.StringVar(&c.Server, "server", "http://127.0.0.1:8080", "URL of the running lethe serve")
	fs.StringVar(&c.Token, "token", "", "bearer token with the ingest scope")
	fs.IntVar(&c.Batch, "batch", 1000, "events per request")
	fs.IntVar(&c.MaxBytes, "max-bytes", backfill.DefaultMaxBytes, "largest request body: keep it at or under the server's body limit")
	fs.IntVar(&c.Concurrency, "concurrency", 4, "requests in flight at once")
	fs.BoolVar(&c.KeepGoing, "keep-going", false, "send every valid event and report the invalid ones, instead of stopping at the first")
	fs.StringVar(&c.State, "state", "", "checkpoint file (default FILE.send-progress; required to resume standard input)")
	fs.BoolVar(&c.Restart, "restart", false, "ignore the checkpoint and send the whole input again")
	fs.StringVar(&c.Progress, "progress", "auto", "auto (a bar on a terminal, plain lines otherwise), bar, plain or none")
	fs.IntVar(&c.Retries, "retries", 10, "retries of a batch on 503 or a network error, with back-off")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Minute, "bound on one request")
	// Flags may also follow FILE: `lethe send history.ndjson --keep-going`.
	positional, err := cliflags.Positional(fs, args, getenv, 1, "name one FILE, or - for standard input")
	if err != nil {
		return c, err
	}
	c.Input = positional[0]
	switch {
	case c.Batch < 1:
		return c, errors.New("--batch must be at least 1")
	case c.Concurrency < 1:
		return c, errors.New("--concurrency must be at least 1")
	case c.MaxBytes < 1024:
		return c, errors.New("--max-bytes must be at least 1024")
	case c.Retries < 0:
		return c, errors.New("--retries must not be negative")
	case c.Timeout <= 0:
		return c, errors.New("--timeout must be positive")
	}
	switch c.Progress {
	case "auto", "bar", "plain", "none":
	default:
		return c, fmt.Errorf("--progress: want auto, bar, plain or none, not %q", c.Progress)
	}
	return c, nil
}

// sendCommand is `lethe send`: the summary on standard output, progress and every rejected
// event on standard error.
func sendCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseSend(args, getenv, stderr)
	if err != nil {
		return err
	}
	c, err := clientFlags{Server: cfg.Server, Token: cfg.Token, Timeout: cfg.Timeout}.client()
	if err != nil {
		return err
	}
	in, err := backfill.Open(cfg.Input, cfg.State, stdin)
	if err != nil {
		return err
	}
	defer in.Close()
	res, err := backfill.New(cfg.Config, c, stderr).Send(ctx, in)
	fmt.Fprintln(stdout, res)
	return err
}
