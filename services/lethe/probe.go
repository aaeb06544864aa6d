package main

import (
	"context"
	"io"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
)

// `lethe probe` is the containers' healthcheck: the image is distroless (no shell, no curl),
// so the binary itself asks its /healthz or /readyz.

const probeUsage = `Usage: lethe probe [--url http://127.0.0.1:8080/readyz] [--probe-timeout 5s]

  Exits 0 when the URL answers 200, non-zero with the status otherwise (for /readyz, what
  does not run yet). For docker-compose healthchecks; Kubernetes probes /healthz and /readyz
  over HTTP itself.

Flags (each has an environment twin: --url is LETHE_URL, …):
`

// probeCommand is `lethe probe`.
func probeCommand(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var url string
	var timeout time.Duration
	fs := cliflags.CommandFlags("probe", probeUsage, stderr)
	fs.StringVar(&url, "url", "http://127.0.0.1:8080/readyz", "what to ask")
	fs.DurationVar(&timeout, "probe-timeout", 5*time.Second, "bound on the request")
	if _, err := cliflags.Positional(fs, args, getenv, 0, "lethe probe takes flags only"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return client.Probe(ctx, url)
}
