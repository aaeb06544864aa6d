package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/atomicfile"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/services/recency"
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

// targetFormats maps --format to what is asked of the server: csv and ndjson stream every
// target in one answer, json and the table follow the pages.
var targetFormats = map[string]string{
	"table":  api.ContentTypeJSON,
	"json":   api.ContentTypeJSON,
	"csv":    api.ContentTypeCSV,
	"ndjson": api.ContentTypeNDJSON,
}

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
	fs := newCommandFlags("targets", targetsUsage, stderr)
	c.define(fs, "read scope on the institution", 10*time.Minute, "bound on each request")
	fs.StringVar(&c.Query.Channel, "channel", "", "the campaign's channel: email, sms, post or phone (default: the general marketing consent alone)")
	fs.StringVar(&c.Query.Kind, "kind", recency.KindMarketing, "marketing or transactional")
	fs.BoolVar(&c.Query.ExplicitConsentOnly, "explicit-consent-only", false, "marketing only: list only the contacts who said yes")
	fs.StringVar(&c.Query.CrossingWithin, "crossing-within", "", "renewal horizon, an ISO 8601 duration such as P3M or P90D")
	fs.StringVar(&c.Format, "format", "table", "table, csv, ndjson or json")
	fs.StringVar(&c.Output, "output", "", "write to this file (mode 0600, complete or not at all) instead of standard output")
	fs.IntVar(&c.PageSize, "page-size", recency.MaxTargetsPage, "targets per request for table and json")
	positional, err := parsePositional(fs, args, getenv, 1, "name the INSTITUTION")
	if err != nil {
		return c, err
	}
	c.Institution = positional[0]
	if err := checkSegment("institution", c.Institution); err != nil {
		return c, err
	}
	// Refused here, naming the flag, rather than sent for the server to name its parameter.
	q := &c.Query
	q.Channel, q.Kind, c.Format = strings.ToLower(q.Channel), strings.ToLower(q.Kind), strings.ToLower(c.Format)
	switch q.Channel {
	case "", recency.ChannelEmail, recency.ChannelSMS, recency.ChannelPost, recency.ChannelPhone:
	default:
		return c, fmt.Errorf("--channel: want email, sms, post or phone, not %q", q.Channel)
	}
	switch q.Kind {
	case recency.KindMarketing, recency.KindTransactional:
	default:
		return c, fmt.Errorf("--kind: want marketing or transactional, not %q", q.Kind)
	}
	if q.ExplicitConsentOnly && q.Kind == recency.KindTransactional {
		return c, errors.New("--explicit-consent-only applies to marketing campaigns only: a transactional campaign is not filtered by marketing consent")
	}
	if q.CrossingWithin != "" {
		p, err := config.ParsePeriod(q.CrossingWithin)
		if err != nil {
			return c, fmt.Errorf("--crossing-within %q: want a positive ISO 8601 duration such as P3M or P90D: %w", q.CrossingWithin, err)
		}
		q.CrossingWithin = p.String()
	}
	if _, ok := targetFormats[c.Format]; !ok {
		return c, fmt.Errorf("--format: want table, csv, ndjson or json, not %q", c.Format)
	}
	if c.PageSize < 1 || c.PageSize > recency.MaxTargetsPage {
		return c, fmt.Errorf("--page-size must be between 1 and %d", recency.MaxTargetsPage)
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
	targets := func(w io.Writer) (int, error) {
		if cfg.Format == "csv" || cfg.Format == "ndjson" {
			ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			defer cancel()
			n, err := c.ExportTargets(ctx, cfg.Institution, cfg.Query, targetFormats[cfg.Format], w)
			if cfg.Format == "csv" && n > 0 {
				n-- // the header
			}
			return n, err
		}
		return pageTargets(ctx, cfg, c, w)
	}
	if cfg.Output == "" {
		_, err := targets(stdout)
		return client.Detailed(err)
	}
	var n int
	if err := atomicfile.Replace(cfg.Output, func(w io.Writer) (err error) {
		n, err = targets(w)
		return err
	}); err != nil {
		return client.Detailed(err)
	}
	fmt.Fprintf(stdout, "wrote %d targets of %s to %s\n", n, cfg.Institution, cfg.Output)
	return nil
}

// pageTargets follows the JSON pages of the targets and writes them as one JSON array of
// targets or as a table, a page at a time, so that a large institution is not held in
// memory; the columns of each page of the table are aligned on their own.
func pageTargets(ctx context.Context, cfg targetsConfig, c *client.Client, w io.Writer) (int, error) {
	var tw *tabwriter.Writer
	if cfg.Format == "table" {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CONTACT\tROLE\tCONSENT\tRECENCY\tSOURCE\tCROSSES")
	}
	n := 0
	err := c.EachTargetsPage(ctx, cfg.Institution, cfg.Query, cfg.PageSize, cfg.Timeout, func(page []json.RawMessage) error {
		for _, raw := range page {
			if tw != nil {
				var t recency.Target
				if err := json.Unmarshal(raw, &t); err != nil {
					return fmt.Errorf("a target of %s: %w", cfg.Institution, err)
				}
				source := ""
				if t.RecencySource != nil {
					source = t.RecencySource.Type
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ContactID, orDash(t.Role), orDash(t.Consent),
					orDash(targetDate(t.Recency)), orDash(source), orDash(targetDate(t.CrossesAt)))
				n++
				continue
			}
			b := bytes.NewBufferString(",\n")
			if n == 0 {
				b = bytes.NewBufferString("[\n")
			}
			if err := json.Compact(b, raw); err != nil {
				return fmt.Errorf("a target of %s: %w", cfg.Institution, err)
			}
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			n++
		}
		if tw == nil {
			return nil
		}
		return tw.Flush()
	})
	if err != nil || tw != nil {
		return n, err
	}
	end := "\n]\n"
	if n == 0 {
		end = "[]\n"
	}
	_, err = io.WriteString(w, end)
	return n, err
}

// targetDate is a date of the table, in UTC to the second; nothing when absent.
func targetDate(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
