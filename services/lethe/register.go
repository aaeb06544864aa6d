package main

import (
	"context"
	"fmt"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"io"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/report"
)

// `lethe register` prints an institution's register of processing activities, as the
// running server serves it from lethe.yaml: JSON, a Markdown table, or CSV.

const registerUsage = `Usage: lethe register [flags] INST

  The institution's register of processing activities (category, purpose, legal basis,
  recipients, retention and how the engine enforces it), from the running server's
  lethe.yaml, or the default register when it declares none. It holds no personal data.

The institution is the argument, as in every command about one.

Flags (each has an environment twin: --server is LETHE_SERVER, …):
`

// registerFormats maps --format to the media type asked for.
var registerFormats = map[string]string{
	"json":     api.ContentTypeJSON,
	"markdown": api.ContentTypeMarkdown,
	"md":       api.ContentTypeMarkdown,
	"csv":      api.ContentTypeCSV,
}

// registerCommand is `lethe register`.
func registerCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg clientFlags
	var format string
	fs := cliflags.CommandFlags("register", registerUsage, stderr)
	cfg.define(fs, "read scope on the institution", time.Minute, "bound on the request")
	fs.StringVar(&format, "format", "json", "json, markdown or csv")
	pos, err := cliflags.Positional(fs, args, getenv, 1, "name the institution: lethe register INST")
	if err != nil {
		return err
	}
	inst := pos[0]
	if err := cliflags.CheckSegment("institution", inst); err != nil {
		return err
	}
	format = strings.ToLower(format)
	accept, ok := registerFormats[format]
	if !ok {
		return fmt.Errorf("--format: want json, markdown or csv, not %q", format)
	}
	c, err := cfg.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	path := client.RegisterPath(inst)
	body, err := c.Get(ctx, path, accept)
	if err == nil && format == "json" {
		body, err = report.Indented(path, body)
	}
	if err != nil {
		return err
	}
	_, err = stdout.Write(body)
	return err
}
