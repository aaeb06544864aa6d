package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"io"
	"net/http"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/atomicfile"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/report"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// `lethe contacts show|export|erase|receipt` works on one contact of a running server: show
// prints the projection (no personal value), export the right-of-access document (personal
// values decrypted, and the export audited by the server under the token's name), erase asks
// for an on-demand erasure and, with --wait, reports what the anonymiser did, receipt fetches
// the signed receipt of an erased contact.

const contactsUsage = `Usage: lethe contacts show|export|erase|receipt [flags] INSTITUTION CONTACT

  show     the contact as the engine sees it: role, customer or prospect, recency and the
           event that set it, blockers, status. No personal value.
  export   right of access (needs the export scope: read alone does not open personal data):
           everything Lethe holds about the contact, personal values decrypted, as one JSON
           document. The server records the export in its audit log.
           The document holds personal data: --output writes it to a file only you can read.
  erase    on-demand erasure (needs the erase scope): a prospect is deleted, a customer
           anonymised, and a contact who owes money, holds credit, has a live subscription
           or is under legal hold is skipped with that reason. Prints the request id; with
           --wait, waits for the outcome and prints it (a failed request exits non-zero).
  receipt  the signed erasure receipt of an erased contact (JSON, no personal value): what
           was erased, when, by which run or request, the key destruction, its audit entry
           and chain head, each destination's confirmation. Check it with lethe receipt verify.

Flags (each has an environment twin: --server is LETHE_SERVER, --token LETHE_TOKEN, …):
`

// contactsConfig is every setting of `lethe contacts`.
type contactsConfig struct {
	clientFlags
	Output      string
	Wait        bool
	Reason      string
	Institution string
	Contact     string
}

func parseContacts(sub string, args []string, getenv func(string) string, stderr io.Writer) (contactsConfig, error) {
	var c contactsConfig
	fs := cliflags.CommandFlags("contacts "+sub, contactsUsage, stderr)
	scope := "read"
	switch sub {
	case "erase":
		scope = "erase"
	case "export":
		scope = "export"
	}
	c.define(fs, scope+" scope on the institution", time.Minute, "bound on each request")
	switch sub {
	case "export":
		fs.StringVar(&c.Output, "output", "", "write the document to this file (mode 0600) instead of standard output")
	case "receipt":
		fs.StringVar(&c.Output, "output", "", "write the receipt to this file instead of standard output")
	case "erase":
		fs.BoolVar(&c.Wait, "wait", false, "wait for the outcome and print it")
		fs.StringVar(&c.Reason, "reason", "", "why the erasure is asked for: checked by the server, never stored (it may name the person)")
	}
	positional, err := cliflags.Positional(fs, args, getenv, 2, "name the INSTITUTION and the CONTACT")
	if err != nil {
		return c, err
	}
	c.Institution, c.Contact = positional[0], positional[1]
	if err := cliflags.CheckSegment("institution", c.Institution); err != nil {
		return c, err
	}
	return c, cliflags.CheckSegment("contact", c.Contact)
}

// contactsCommand is `lethe contacts show|export|erase`.
func contactsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, err := cliflags.Subcommand("contacts", args, []string{"show", "export", "erase", "receipt"}, contactsUsage, stderr)
	if err != nil {
		return err
	}
	cfg, err := parseContacts(sub, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	c, err := cfg.client()
	if err != nil {
		return err
	}
	if sub == "erase" {
		return client.Detailed(eraseContact(ctx, cfg, c, stdout))
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	path := client.ContactPath(cfg.Institution, cfg.Contact)
	switch sub {
	case "export":
		path += "/export"
	case "receipt":
		path = client.ReceiptPath(cfg.Institution, cfg.Contact)
	}
	out, err := c.Get(ctx, path, api.ContentTypeJSON)
	if sub == "export" && client.IsStatus(err, http.StatusForbidden) {
		// The usual cause is a token made for reports: say what is missing, not just "403".
		return fmt.Errorf("the token may not export contact %s of %s: the right-of-access export needs a token with the export scope on the institution: %w",
			cfg.Contact, cfg.Institution, err)
	}
	if err == nil {
		out, err = report.Indented(path, out)
	}
	if err != nil {
		return err
	}
	if cfg.Output == "" {
		_, err := stdout.Write(out)
		return err
	}
	if err := atomicfile.Replace(cfg.Output, func(w io.Writer) error { _, err := w.Write(out); return err }); err != nil {
		return err
	}
	if sub == "receipt" {
		fmt.Fprintf(stdout, "receipt of contact %s of %s written to %s (check it with lethe receipt verify %s)\n",
			cfg.Contact, cfg.Institution, cfg.Output, cfg.Output)
		return nil
	}
	fmt.Fprintf(stdout, "exported contact %s of %s to %s (it holds personal data: keep it safe, delete it once delivered)\n",
		cfg.Contact, cfg.Institution, cfg.Output)
	return nil
}

// eraseContact is `lethe contacts erase`: the request id on the first line, so that a script
// can keep it, then with --wait the outcome.
func eraseContact(ctx context.Context, cfg contactsConfig, c *client.Client, stdout io.Writer) error {
	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	req, err := c.RequestErasure(rctx, cfg.Institution, cfg.Contact, cfg.Reason)
	cancel()
	var apiErr *client.APIError
	switch {
	case client.IsStatus(err, http.StatusNotFound):
		return fmt.Errorf("no contact %s of %s is held by Lethe: nothing to erase (%w)", cfg.Contact, cfg.Institution, err)
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict:
		state := apiErr.State
		if state == "" {
			state = "erased"
		}
		return fmt.Errorf("contact %s of %s is already %s: nothing to erase (%w)", cfg.Contact, cfg.Institution, state, err)
	case err != nil:
		return err
	}
	if cliflags.CheckSegment("request", req.ID) != nil {
		return fmt.Errorf("the answer to POST %s/erasure names no usable request id (%q)", client.ContactPath(cfg.Institution, cfg.Contact), req.ID)
	}
	id := req.ID
	fmt.Fprintln(stdout, id)
	if !cfg.Wait {
		return nil
	}
	if req, err = c.WaitRequest(ctx, id, cfg.Timeout); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped waiting for erasure request %s, which goes on: %w", id, err)
		}
		return err
	}
	if err := report.Request(stdout, req); err != nil {
		return err
	}
	if req.State == store.RequestFailed {
		return fmt.Errorf("erasure request %s failed: %s; retry it with: lethe requests retry %s", id, req.Error, id)
	}
	return nil
}
