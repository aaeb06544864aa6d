package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"io"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/report"
)

// `lethe targets` lists the contacts of an institution a campaign may reach, filtered by
// their marketing consent on the campaign's channel, from a running server
// (GET /v1/institutions/{inst}/targets): ids, consent and dates, never a personal value, for
// the campaign tool to address from its own records.

const targetsUsage = `Usage: lethe targets [flags] INSTITUTION

  The institution's contacts a campaign may reach. A marketing campaign (the default) leaves
  out those who refused marketing, in general or on --channel; --explicit-consent-only keeps
  only those who said yes. A transactional campaign is not filtered by marketing consent.
  --crossing-within P3M lists the renewal campaign's contacts: not inactive now, inactive
  within the horizon, with the date each crosses the institution's inactivity period.
  Anonymised and deleted contacts are never listed.

  A table to read, or csv, ndjson or json to keep (--output FILE, mode 0600, complete or not
  at all; ids, consent and dates only, no personal value).

Flags (each has an environment twin: --server is LETHE_SERVER, --channel LETHE_CHANNEL, …):
`

// targetsConfig is every setting of `lethe targets`.
type targetsConfig struct {
	clientFlags
	Institution string
	Query       client.TargetsQuery
	Format      string
	Output      string
	PageSize    int
}

func parseTargets(args []string, getenv func(string) string, stderr io.Writer) (targetsConfig, error) {
	var c targetsConfig
	fs := cliflags.CommandFlags("targets", targetsUsage, stderr)
	c.define(fs, "read scope on the institution", 10*time.Minute, "bound on each request")
	fs.StringVar(&c.Query.Channel, "channel", "", "the campaign's channel: email, sms, post or phone (default: the general marketing consent alone)")
	fs.StringVar(&c.Query.Kind, "kind", api.KindMarketing, "marketing or transactional")
	fs.BoolVar(&c.Query.ExplicitConsentOnly, "explicit-consent-only", false, "marketing only: list only the contacts who said yes")
	fs.StringVar(&c.Query.CrossingWithin, "crossing-within", "", "renewal horizon, an ISO 8601 duration such as P3M or P90D")
	fs.StringVar(&c.Format, "format", "table", "table, csv, ndjson or json")
	fs.StringVar(&c.Output, "output", "", "write to this file (mode 0600, complete or not at all) instead of standard output")
	fs.IntVar(&c.PageSize, "page-size", api.MaxTargetsPage, "targets per request for table and json")
	positional, err := cliflags.Positional(fs, args, getenv, 1, "name the INSTITUTION")
	if err != nil {
		return c, err
	}
	c.Institution = positional[0]
	if err := cliflags.CheckSegment("institution", c.Institution); err != nil {
		return c, err
	}
	// Refused here, naming the flag, rather than sent for the server to name its parameter.
	q := &c.Query
	q.Channel, q.Kind, c.Format = strings.ToLower(q.Channel), strings.ToLower(q.Kind), strings.ToLower(c.Format)
	switch q.Channel {
	case "", api.ChannelEmail, api.ChannelSMS, api.ChannelPost, api.ChannelPhone:
	default:
		return c, fmt.Errorf("--channel: want email, sms, post or phone, not %q", q.Channel)
	}
	switch q.Kind {
	case api.KindMarketing, api.KindTransactional:
	default:
		return c, fmt.Errorf("--kind: want marketing or transactional, not %q", q.Kind)
	}
	if q.ExplicitConsentOnly && q.Kind == api.KindTransactional {
		return c, errors.New("--explicit-consent-only applies to marketing campaigns only: a transactional campaign is not filtered by marketing consent")
	}
	if q.CrossingWithin != "" {
		p, err := config.ParsePeriod(q.CrossingWithin)
		if err != nil {
			return c, fmt.Errorf("--crossing-within %q: want a positive ISO 8601 duration such as P3M or P90D: %w", q.CrossingWithin, err)
		}
		q.CrossingWithin = p.String()
	}
	if _, ok := report.ListingFormats[c.Format]; !ok {
		return c, fmt.Errorf("--format: want table, csv, ndjson or json, not %q", c.Format)
	}
	if c.PageSize < 1 || c.PageSize > api.MaxTargetsPage {
		return c, fmt.Errorf("--page-size must be between 1 and %d", api.MaxTargetsPage)
	}
	return c, nil
}

// targetsCommand is `lethe targets`: every target to standard output, or into --output
// complete or not at all.
func targetsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseTargets(args, getenv, stderr)
	if err != nil {
		return err
	}
	c, err := cfg.client()
	if err != nil {
		return err
	}
	err = report.Listing[api.Target]{Format: cfg.Format, Output: cfg.Output, What: "targets of " + cfg.Institution,
		Export: func(w io.Writer, mediaType string) (int, error) {
			ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			defer cancel()
			return c.ExportTargets(ctx, cfg.Institution, cfg.Query, mediaType, w)
		},
		EachPage: func(page func([]json.RawMessage) error) error {
			return c.EachTargetsPage(ctx, cfg.Institution, cfg.Query, cfg.PageSize, cfg.Timeout, page)
		},
		Table: func(w io.Writer) report.Table[api.Target] { return report.NewTargetsTable(w) },
	}.Write(stdout)
	return client.Detailed(err)
}
