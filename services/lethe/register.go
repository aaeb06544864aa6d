package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// `lethe register` prints an institution's register of processing activities, as the
// running server serves it from lethe.yaml: JSON, a Markdown table, or CSV.

const registerUsage = `Usage: lethe register [flags]

  The institution's register of processing activities (category, purpose, legal basis,
  recipients, retention and how the engine enforces it), from the running server's
  lethe.yaml, or the default register when it declares none. It holds no personal data.

Flags (each has an environment twin: --server is LETHE_SERVER, --institution
LETHE_INSTITUTION, …):
`

// registerFormats maps --format to the media type asked for.
var registerFormats = map[string]string{
	"json":     "application/json",
	"markdown": "text/markdown",
	"md":       "text/markdown",
	"csv":      "text/csv",
}

// registerConfig is every setting of `lethe register`.
type registerConfig struct {
	Server      string
	Token       string
	Institution string
	Format      string
	Timeout     time.Duration
}

func parseRegister(args []string, getenv func(string) string, stderr io.Writer) (registerConfig, error) {
	var c registerConfig
	fs := newFlagSet("register", stderr)
	fs.StringVar(&c.Server, "server", "http://127.0.0.1:8080", "URL of the running lethe serve")
	fs.StringVar(&c.Token, "token", "", "bearer token with the read scope on the institution")
	fs.StringVar(&c.Institution, "institution", "", "the institution whose register to print (required)")
	fs.StringVar(&c.Format, "format", "json", "json, markdown or csv")
	fs.DurationVar(&c.Timeout, "timeout", time.Minute, "bound on the request")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), registerUsage)
		fs.PrintDefaults()
	}
	if err := parseWithEnv(fs, args, getenv); err != nil {
		return c, flagError(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lethe register: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return c, errUsage
	}
	if c.Institution == "" {
		fmt.Fprintln(stderr, "lethe register: name the institution with --institution (or LETHE_INSTITUTION)")
		fs.Usage()
		return c, errUsage
	}
	if c.Institution == "." || c.Institution == ".." || strings.ContainsAny(c.Institution, "/?#") {
		return c, fmt.Errorf("institution id %q cannot be sent in a URL path (no /, ? or #)", c.Institution)
	}
	c.Format = strings.ToLower(c.Format)
	if _, ok := registerFormats[c.Format]; !ok {
		return c, fmt.Errorf("--format: want json, markdown or csv, not %q", c.Format)
	}
	if c.Timeout <= 0 {
		return c, errors.New("--timeout must be positive")
	}
	return c, nil
}

// registerCommand is `lethe register`.
func registerCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseRegister(args, getenv, stderr)
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
	path := "/v1/institutions/" + cfg.Institution + "/register"
	accept := registerFormats[cfg.Format]
	resp, err := client.Do(ctx, Request{Method: http.MethodGet, Path: path, Accept: accept})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the answer to GET %s: %w", path, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, accept) {
		return fmt.Errorf("the server answered %q to a request for %s", ct, accept)
	}
	if cfg.Format == "json" {
		// Indented for a person; a script reads it just as well.
		var out bytes.Buffer
		if err := json.Indent(&out, bytes.TrimSpace(body), "", "  "); err != nil {
			return fmt.Errorf("the answer to GET %s is not JSON: %w", path, err)
		}
		out.WriteByte('\n')
		body = out.Bytes()
	}
	_, err = stdout.Write(body)
	return err
}
