package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"github.com/lethe-gdpr/lethe/pkg/report"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// `lethe runs start|list|show|items|apply` drives the scheduler's retention runs from a
// terminal: start a simulation, read its report and its items, apply it. The run's id is
// always the first line printed, so that a script can keep it: RUN=$(lethe runs start inst-a).

const runsUsage = `Usage: lethe runs start|list|show|items|apply [flags] INSTITUTION [RUN]

  start INST       start a run and print its id. A simulation (the default) plans and changes
                   nothing; --mode execute erases at once (erase scope). --inactivity-months
                   and --as-of default to the institution's policy and now. With --wait, wait
                   until the run is finished and print its counts by outcome and reason.
  list INST        the institution's runs, newest first.
  show INST RUN    one run: its state, and its contacts counted by outcome and skip reason.
  items INST RUN   every contact of the run: outcome, reason, recency and the event that set
                   it, and once executed what the anonymiser did. A table to read, or csv,
                   ndjson or json to keep (--output FILE; ids and dates only, no personal value).
  apply INST RUN   execute exactly a simulation's set (erase scope), each contact checked
                   again; print the new run's id, and with --wait its counts.

  list and show print the server's JSON with --json. An execute or apply run is finished
  once every command is queued: the anonymiser's results then appear in runs items.

Flags (each has an environment twin: --server is LETHE_SERVER, --token LETHE_TOKEN, …):
`

// runsConfig is every setting of `lethe runs`.
type runsConfig struct {
	clientFlags
	Institution string
	Run         string
	// start
	Mode             string
	InactivityMonths int
	AsOf             time.Time
	// start, apply
	Wait bool
	// list, show
	JSON  bool
	Limit int
	// items
	Format   string
	Output   string
	PageSize int
}

func parseRuns(sub string, args []string, getenv func(string) string, stderr io.Writer) (runsConfig, error) {
	var c runsConfig
	fs := cliflags.CommandFlags("runs "+sub, runsUsage, stderr)
	scope, timeout := "read", time.Minute
	switch sub {
	case "start":
		// A simulation answers once it is planned: a large institution takes a while.
		scope, timeout = "admin (erase for --mode execute)", 10*time.Minute
	case "apply":
		scope = "erase"
	case "items":
		timeout = 10 * time.Minute
	}
	c.define(fs, scope+" scope on the institution", timeout, "bound on each request")
	var asOf string
	switch sub {
	case "start":
		fs.StringVar(&c.Mode, "mode", store.ModeSimulation, "simulation (plan only) or execute (erase now)")
		fs.IntVar(&c.InactivityMonths, "inactivity-months", 0, "retention period in months (default: the institution's policy)")
		fs.StringVar(&asOf, "as-of", "", "the run's date, RFC 3339 or YYYY-MM-DD (default: now)")
		fs.BoolVar(&c.Wait, "wait", false, "wait until the run is finished and print its counts")
	case "apply":
		fs.BoolVar(&c.Wait, "wait", false, "wait until the run is finished and print its counts")
	case "list":
		fs.IntVar(&c.Limit, "limit", 50, "at most this many runs, newest first (0: all)")
		fs.BoolVar(&c.JSON, "json", false, "print the server's JSON")
	case "show":
		fs.BoolVar(&c.JSON, "json", false, "print the server's JSON")
	case "items":
		fs.StringVar(&c.Format, "format", "table", "table, csv, ndjson or json")
		fs.StringVar(&c.Output, "output", "", "write to this file (mode 0600, complete or not at all) instead of standard output")
		fs.IntVar(&c.PageSize, "page-size", api.MaxPageSize, "items per request for table and json")
	}
	want, what := 2, "name the INSTITUTION and the RUN"
	if sub == "start" || sub == "list" {
		want, what = 1, "name the INSTITUTION"
	}
	positional, err := cliflags.Positional(fs, args, getenv, want, what)
	if err != nil {
		return c, err
	}
	c.Institution = positional[0]
	if err := cliflags.CheckSegment("institution", c.Institution); err != nil {
		return c, err
	}
	if want == 2 {
		c.Run = positional[1]
		if err := cliflags.CheckSegment("run", c.Run); err != nil {
			return c, err
		}
	}
	switch {
	case c.Mode != "" && c.Mode != store.ModeSimulation && c.Mode != store.ModeExecute:
		return c, fmt.Errorf("--mode: want simulation or execute, not %q", c.Mode)
	case cliflags.Given(fs, "inactivity-months", getenv) && (c.InactivityMonths < 1 || c.InactivityMonths > 1200):
		// 0 is not "the policy": leaving the flag out is.
		return c, errors.New("--inactivity-months: want a whole number of months from 1 to 1200 (leave it out for the institution's policy)")
	case c.Limit < 0 || c.Limit > api.MaxPageSize:
		return c, fmt.Errorf("--limit must be between 0 and %d", api.MaxPageSize)
	case sub == "items" && (c.PageSize < 1 || c.PageSize > api.MaxPageSize):
		return c, fmt.Errorf("--page-size must be between 1 and %d", api.MaxPageSize)
	}
	if asOf != "" {
		if c.AsOf, err = parseAsOf(asOf); err != nil {
			return c, err
		}
	}
	if sub == "items" {
		c.Format = strings.ToLower(c.Format)
		if _, ok := report.ListingFormats[c.Format]; !ok {
			return c, fmt.Errorf("--format: want table, csv, ndjson or json, not %q", c.Format)
		}
	}
	return c, nil
}

func parseAsOf(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--as-of %q: want an RFC 3339 date-time (2026-11-23T00:00:00Z) or a date (2026-11-23)", s)
}

// runsCommand is `lethe runs start|list|show|items|apply`.
func runsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, err := cliflags.Subcommand("runs", args, []string{"start", "list", "show", "items", "apply"}, runsUsage, stderr)
	if err != nil {
		return err
	}
	cfg, err := parseRuns(sub, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	c, err := cfg.client()
	if err != nil {
		return err
	}
	switch sub {
	case "start", "apply":
		err = startRun(ctx, sub, cfg, c, stdout)
	case "list", "show":
		err = showRuns(ctx, sub, cfg, c, stdout)
	default:
		err = runItems(ctx, cfg, c, stdout)
	}
	return client.Detailed(err)
}

// startRun is `runs start` and `runs apply`: the new run's id, and with --wait its counts
// once it is finished.
func startRun(ctx context.Context, sub string, cfg runsConfig, c *client.Client, stdout io.Writer) error {
	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var run api.RunView
	var err error
	if sub == "apply" {
		run, err = c.ApplyRun(rctx, cfg.Institution, cfg.Run)
	} else {
		body := api.RunStart{Mode: &cfg.Mode}
		if cfg.InactivityMonths > 0 {
			months := api.Integer(cfg.InactivityMonths)
			body.InactivityMonths = &months
		}
		if !cfg.AsOf.IsZero() {
			asOf := cfg.AsOf.Format(time.RFC3339Nano)
			body.AsOf = &asOf
		}
		run, err = c.StartRun(rctx, cfg.Institution, body)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("no answer within --timeout %s; a run the server started goes on (lethe runs list %s): %w",
				cfg.Timeout, cfg.Institution, err)
		}
	}
	if err != nil {
		return err
	}
	if cliflags.CheckSegment("run", run.ID) != nil {
		return fmt.Errorf("the server answered with no usable run id (%q)", run.ID)
	}
	fmt.Fprintln(stdout, run.ID)
	if !cfg.Wait {
		return nil
	}
	id := run.ID
	if !store.Finished(run.State) {
		if run, err = c.WaitRun(ctx, cfg.Institution, id, cfg.Timeout); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("stopped waiting for run %s, which goes on (lethe runs show %s %s): %w", id, cfg.Institution, id, err)
			}
			return err
		}
	}
	if err := report.Run(stdout, run); err != nil {
		return err
	}
	if run.State == store.RunFailed {
		return fmt.Errorf("run %s failed: %s", id, run.Error)
	}
	return nil
}

// showRuns is `runs show` (one run, its counts) and `runs list` (a table of runs), or the
// server's JSON of either.
func showRuns(ctx context.Context, sub string, cfg runsConfig, c *client.Client, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if cfg.JSON {
		path := client.RunPath(cfg.Institution, cfg.Run)
		if sub == "list" {
			path = client.RunsQuery(cfg.Institution, cfg.Limit)
		}
		b, err := c.Get(ctx, path, api.ContentTypeJSON)
		if err == nil {
			b, err = report.Indented(path, b)
		}
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	}
	if sub == "show" {
		run, err := c.Run(ctx, cfg.Institution, cfg.Run)
		if err != nil {
			return err
		}
		return report.Run(stdout, run)
	}
	list, err := c.Runs(ctx, cfg.Institution, cfg.Limit)
	if err != nil {
		return err
	}
	if len(list.Runs) == 0 {
		fmt.Fprintf(stdout, "no run in institution %s\n", cfg.Institution)
		return nil
	}
	return report.Runs(stdout, list.Runs)
}

// runItems is `runs items`: every item of the run to standard output, or into --output
// complete or not at all.
func runItems(ctx context.Context, cfg runsConfig, c *client.Client, stdout io.Writer) error {
	return report.Listing[api.ItemView]{Format: cfg.Format, Output: cfg.Output, What: "items of run " + cfg.Run,
		Export: func(w io.Writer, mediaType string) (int, error) {
			ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			defer cancel()
			return c.ExportItems(ctx, cfg.Institution, cfg.Run, mediaType, w)
		},
		EachPage: func(page func([]json.RawMessage) error) error {
			return c.EachItemsPage(ctx, cfg.Institution, cfg.Run, cfg.PageSize, cfg.Timeout, page)
		},
		Table: func(w io.Writer) report.Table[api.ItemView] { return report.NewItemsTable(w) },
	}.Write(stdout)
}
