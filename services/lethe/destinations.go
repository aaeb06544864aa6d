package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"github.com/lethe-gdpr/lethe/pkg/report"
)

// `lethe destinations INST` shows what each downstream destination confirmed of the
// institution's erasures, and what is late.

const destinationsUsage = `Usage: lethe destinations [flags] INST

  Each downstream destination following the institution (lethe.yaml destinations): the
  erasures it confirmed with lethe.erasure.confirmed.v1, those it has not yet and since when
  the oldest waits, and its confirmations that named no outcome expected of it (unmatched).

Flags (each has an environment twin: --server is LETHE_SERVER, …):
`

// destinationsCommand is `lethe destinations`.
func destinationsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg clientFlags
	var asJSON bool
	fs := cliflags.CommandFlags("destinations", destinationsUsage, stderr)
	cfg.define(fs, "read scope on the institution", time.Minute, "bound on the request")
	fs.BoolVar(&asJSON, "json", false, "print the answer as JSON")
	pos, err := cliflags.Positional(fs, args, getenv, 1, "name the institution: lethe destinations INST")
	if err != nil {
		return err
	}
	inst := pos[0]
	if err := cliflags.CheckSegment("institution", inst); err != nil {
		return err
	}
	c, err := cfg.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var l api.DestinationList
	if err := c.JSON(ctx, http.MethodGet, client.DestinationsPath(inst), nil, &l); err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(l)
	}
	return report.Destinations(stdout, l)
}
