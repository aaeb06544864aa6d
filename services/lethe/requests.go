package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"github.com/lethe-gdpr/lethe/pkg/report"
)

// `lethe requests list|show|extend|refuse|retry|access` keeps data subjects' requests on the
// legal clock from a terminal: what is due, what is late and why, and the DPO's actions.

const requestsUsage = `Usage: lethe requests list|show|extend|refuse|retry|access [flags] ARGS

  list INST            the institution's requests, earliest deadline first: state, blocker,
                       received, due, OVERDUE. --state, --kind, --due-within P7D, --overdue.
  show ID              one request: its clock, what blocks it, who did what and when.
  extend ID            a later deadline (--due DATE, no later than three months after
                       receipt) with the reason told to the person (--reason; stored sealed).
  refuse ID            answer with a refusal and its reason (--reason; stored sealed).
  retry ID             queue a failed (or blocked) erasure again, with its original deadline.
  access INST CONTACT  record a right-of-access request (export scope); the export of the
                       contact (lethe contacts export) answers it.

  extend, refuse and retry need the erase scope; each is audited under the token's name.

Flags (each has an environment twin: --server is LETHE_SERVER, --token LETHE_TOKEN, …):
`

// requestsConfig is every setting of `lethe requests`.
type requestsConfig struct {
	clientFlags
	Institution, Contact, ID string
	// list
	States    string
	Kind      string
	DueWithin string
	Overdue   bool
	JSON      bool
	// extend, refuse
	Due    time.Time
	Reason string
}

func parseRequests(sub string, args []string, getenv func(string) string, stderr io.Writer) (requestsConfig, error) {
	var c requestsConfig
	fs := cliflags.CommandFlags("requests "+sub, requestsUsage, stderr)
	scope := "read"
	switch sub {
	case "extend", "refuse", "retry":
		scope = "erase"
	case "access":
		scope = "export"
	}
	c.define(fs, scope+" scope on the institution", time.Minute, "bound on each request")
	var due string
	switch sub {
	case "list":
		fs.StringVar(&c.States, "state", "", "only these states, comma-separated (received, in_progress, blocked, extended, completed, refused, failed)")
		fs.StringVar(&c.Kind, "kind", "", "erasure or access")
		fs.StringVar(&c.DueWithin, "due-within", "", "open requests due within this ISO 8601 duration (e.g. P7D)")
		fs.BoolVar(&c.Overdue, "overdue", false, "open requests past their deadline only")
		fs.BoolVar(&c.JSON, "json", false, "print the server's JSON")
	case "show":
		fs.BoolVar(&c.JSON, "json", false, "print the server's JSON")
	case "extend":
		fs.StringVar(&due, "due", "", "the new deadline, RFC 3339 or YYYY-MM-DD (end of that day, UTC)")
		fs.StringVar(&c.Reason, "reason", "", "why, as told to the person (stored sealed with the contact's key)")
	case "refuse":
		fs.StringVar(&c.Reason, "reason", "", "why, as told to the person (stored sealed with the contact's key)")
	}
	want, what := 1, "name the request ID"
	switch sub {
	case "list":
		what = "name the INSTITUTION"
	case "access":
		want, what = 2, "name the INSTITUTION and the CONTACT"
	}
	positional, err := cliflags.Positional(fs, args, getenv, want, what)
	if err != nil {
		return c, err
	}
	switch sub {
	case "list":
		c.Institution = positional[0]
		err = cliflags.CheckSegment("institution", c.Institution)
	case "access":
		c.Institution, c.Contact = positional[0], positional[1]
		if err = cliflags.CheckSegment("institution", c.Institution); err == nil {
			err = cliflags.CheckSegment("contact", c.Contact)
		}
	default:
		c.ID = positional[0]
		err = cliflags.CheckSegment("request", c.ID)
	}
	if err != nil {
		return c, err
	}
	switch {
	case sub == "extend" && due == "":
		return c, errors.New("--due: name the new deadline")
	case (sub == "extend" || sub == "refuse") && strings.TrimSpace(c.Reason) == "":
		return c, errors.New("--reason: the person is told why; name it")
	}
	if due != "" {
		if c.Due, err = parseDue(due); err != nil {
			return c, err
		}
	}
	return c, nil
}

// parseDue reads --due: a date-time, or a date meaning the end of that day in UTC.
func parseDue(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Add(24*time.Hour - time.Second), nil
	}
	return time.Time{}, fmt.Errorf("--due %q: want an RFC 3339 date-time (2027-01-31T12:00:00Z) or a date (2027-01-31)", s)
}

// requestsCommand is `lethe requests list|show|extend|refuse|retry|access`.
func requestsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, err := cliflags.Subcommand("requests", args, []string{"list", "show", "extend", "refuse", "retry", "access"}, requestsUsage, stderr)
	if err != nil {
		return err
	}
	cfg, err := parseRequests(sub, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	c, err := cfg.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if cfg.JSON {
		path := client.RequestPath(cfg.ID)
		if sub == "list" {
			path = client.RequestsPath(cfg.Institution)
			if q := listQuery(cfg); q != "" {
				path += "?" + q
			}
		}
		b, err := c.Get(ctx, path, api.ContentTypeJSON)
		if err == nil {
			b, err = report.Indented(path, b)
		}
		if err == nil {
			_, err = stdout.Write(b)
		}
		return client.Detailed(err)
	}
	var req api.RequestView
	switch sub {
	case "list":
		var l api.RequestList
		if l, err = c.Requests(ctx, cfg.Institution, listFilter(cfg)); err != nil {
			return client.Detailed(err)
		}
		if len(l.Items) == 0 {
			fmt.Fprintf(stdout, "no request in institution %s matches\n", cfg.Institution)
			return nil
		}
		return report.Requests(stdout, l.Items)
	case "show":
		req, err = c.GetRequest(ctx, cfg.ID)
	case "extend":
		req, err = c.ExtendRequest(ctx, cfg.ID, cfg.Due, cfg.Reason)
	case "refuse":
		req, err = c.RefuseRequest(ctx, cfg.ID, cfg.Reason)
	case "retry":
		req, err = c.RetryRequest(ctx, cfg.ID)
	case "access":
		if req, err = c.RequestAccess(ctx, cfg.Institution, cfg.Contact); err == nil {
			fmt.Fprintln(stdout, req.ID)
		}
	}
	if err != nil {
		return client.Detailed(err)
	}
	return report.Request(stdout, req)
}

func listFilter(cfg requestsConfig) client.RequestFilter {
	f := client.RequestFilter{Kind: cfg.Kind, DueWithin: cfg.DueWithin, Overdue: cfg.Overdue}
	if cfg.States != "" {
		f.States = strings.Split(cfg.States, ",")
	}
	return f
}

func listQuery(cfg requestsConfig) string {
	var parts []string
	f := listFilter(cfg)
	if len(f.States) > 0 {
		parts = append(parts, "state="+strings.Join(f.States, ","))
	}
	if f.Kind != "" {
		parts = append(parts, "kind="+f.Kind)
	}
	if f.DueWithin != "" {
		parts = append(parts, "due_within="+f.DueWithin)
	}
	if f.Overdue {
		parts = append(parts, "overdue=true")
	}
	return strings.Join(parts, "&")
}
