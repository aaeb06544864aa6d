package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"github.com/lethe-gdpr/lethe/pkg/receipt"
)

// `lethe receipt verify FILE` checks an erasure receipt: its signature offline, with a public
// key given or fetched from a server, and, given a server, that the audit chain still holds
// the erasure's entry and the head the receipt was issued at, and verifies.

const receiptUsage = `Usage: lethe receipt verify [flags] FILE

  verify   check the receipt in FILE (as lethe contacts receipt wrote it):
           - its Ed25519 signature over the receipt without "signature", in JSON
             canonical form (RFC 8785), with --public-key (a file holding the key as
             GET /v1/receipts/key serves it, or its base64): offline, nothing is asked of
             anyone; without --public-key the key is fetched from --server;
           - with --server (and --token, admin scope), that the server's audit chain still
             holds the erasure's entry and the head the receipt names, at their seqs with
             their hashes, and that the whole chain verifies.
           Exits non-zero, saying what failed, when any check fails.

Flags (each has an environment twin: --server is LETHE_SERVER, --token LETHE_TOKEN, …):
`

type receiptConfig struct {
	Server    string
	Token     string
	Timeout   time.Duration
	PublicKey string
	File      string
}

func receiptCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if _, err := cliflags.Subcommand("receipt", args, []string{"verify"}, receiptUsage, stderr); err != nil {
		return err
	}
	var cfg receiptConfig
	fs := cliflags.CommandFlags("receipt verify", receiptUsage, stderr)
	fs.StringVar(&cfg.PublicKey, "public-key", "", "file holding the public key (JSON of GET /v1/receipts/key, or its base64); checks offline")
	fs.StringVar(&cfg.Server, "server", "", "URL of a lethe serve: fetch the key when --public-key is not given, and check the audit chain")
	fs.StringVar(&cfg.Token, "token", "", "bearer token with the admin scope, for the audit chain checks")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "bound on the server's checks (it walks the whole audit chain)")
	positional, err := cliflags.Positional(fs, args[1:], getenv, 1, "name the receipt FILE")
	if err != nil {
		return err
	}
	cfg.File = positional[0]
	if cfg.PublicKey == "" && cfg.Server == "" {
		return errors.New("no key: pass --public-key FILE to check offline, or --server URL to fetch the server's")
	}
	data, err := os.ReadFile(cfg.File)
	if err != nil {
		return err
	}
	var c *client.Client
	if cfg.Server != "" {
		if c, err = client.New(cfg.Server, cfg.Token, client.WithUserAgent("lethe/"+version)); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var pub ed25519.PublicKey
	from := "--public-key " + cfg.PublicKey
	if cfg.PublicKey != "" {
		b, err := os.ReadFile(cfg.PublicKey)
		if err != nil {
			return err
		}
		if pub, err = receipt.ParsePublicKey(b); err != nil {
			return fmt.Errorf("--public-key %s: %w", cfg.PublicKey, err)
		}
	} else {
		if pub, err = c.ReceiptKey(ctx); err != nil {
			return fmt.Errorf("fetching the server's receipt key: %w", err)
		}
		from = "the key of " + cfg.Server
	}
	r, err := receipt.Verify(data, pub)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.File, err)
	}
	fmt.Fprintf(stdout, "signature valid: key %s (%s)\n", receipt.KeyID(pub), from)
	fmt.Fprintf(stdout, "contact %s of %s %s at %s by %s; %d fields erased, key destroyed: %v\n",
		r.ContactID, r.Institution, r.Outcome, r.ErasedAt.Format(time.RFC3339), r.ErasedBy, len(r.Erased.Fields), r.KeyDestruction.Destroyed)
	for _, d := range r.Destinations {
		if d.Confirmed && d.ConfirmedAt != nil {
			fmt.Fprintf(stdout, "destination %s confirmed at %s\n", d.Name, d.ConfirmedAt.Format(time.RFC3339))
		} else {
			fmt.Fprintf(stdout, "destination %s had not confirmed when the receipt was issued\n", d.Name)
		}
	}
	if c == nil {
		return nil
	}
	if cfg.Token == "" {
		return errNoToken
	}
	rep, err := c.CheckAnchor(ctx, r)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit chain holds entry %d (%s) and head %d; %s\n", r.Audit.Seq, r.Audit.Hash, r.Audit.HeadSeq, rep)
	return nil
}
