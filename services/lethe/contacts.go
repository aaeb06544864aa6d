package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// `lethe contacts show|export` reads one contact from a running server: show prints the
// projection (no personal value), export the right-of-access document (personal values
// decrypted, and the export audited by the server under the token's name).

const contactsUsage = `Usage: lethe contacts show|export [flags] INSTITUTION CONTACT

  show     the contact as the engine sees it: role, customer or prospect, recency and the
           event that set it, blockers, status. No personal value.
  export   right of access: everything Lethe holds about the contact, personal values
           decrypted, as one JSON document. The server records the export in its audit log.
           The document holds personal data: --output writes it to a file only you can read.

Flags (each has an environment twin: --server is LETHE_SERVER, --token LETHE_TOKEN, …):
`

// contactsConfig is every setting of `lethe contacts`.
type contactsConfig struct {
	Server      string
	Token       string
	Output      string
	Timeout     time.Duration
	Institution string
	Contact     string
}

func parseContacts(sub string, args []string, getenv func(string) string, stderr io.Writer) (contactsConfig, error) {
	var c contactsConfig
	fs := newFlagSet("contacts "+sub, stderr)
	fs.StringVar(&c.Server, "server", "http://127.0.0.1:8080", "URL of the running lethe serve")
	fs.StringVar(&c.Token, "token", "", "bearer token with the read scope on the institution")
	if sub == "export" {
		fs.StringVar(&c.Output, "output", "", "write the document to this file (mode 0600) instead of standard output")
	}
	fs.DurationVar(&c.Timeout, "timeout", time.Minute, "bound on the request")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), contactsUsage)
		fs.PrintDefaults()
	}
	if err := parseWithEnv(fs, args, getenv); err != nil {
		return c, flagError(err)
	}
	// Flags may also follow the arguments: `lethe contacts export inst-a c-42 --output x.json`.
	var positional []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		positional = append(positional, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return c, flagError(err)
		}
	}
	if len(positional) != 2 {
		fmt.Fprintf(stderr, "lethe contacts %s: name the INSTITUTION and the CONTACT\n", sub)
		fs.Usage()
		return c, errUsage
	}
	c.Institution, c.Contact = positional[0], positional[1]
	for _, v := range []struct{ what, s string }{{"institution", c.Institution}, {"contact", c.Contact}} {
		// The id becomes one path segment of the URL.
		if v.s == "" || v.s == "." || v.s == ".." || strings.ContainsAny(v.s, "/?#") {
			return c, fmt.Errorf("%s id %q cannot be sent in a URL path (no /, ? or #)", v.what, v.s)
		}
	}
	if c.Timeout <= 0 {
		return c, errors.New("--timeout must be positive")
	}
	return c, nil
}

// contactsCommand is `lethe contacts show|export`.
func contactsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "show" && args[0] != "export") {
		if len(args) > 0 && args[0] != "help" && args[0] != "-h" && args[0] != "--help" {
			fmt.Fprintf(stderr, "lethe contacts: unknown subcommand %q\n\n", args[0])
		}
		fmt.Fprint(stderr, contactsUsage)
		return errUsage
	}
	sub := args[0]
	cfg, err := parseContacts(sub, args[1:], getenv, stderr)
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
	path := "/v1/institutions/" + cfg.Institution + "/contacts/" + cfg.Contact
	if sub == "export" {
		path += "/export"
	}
	resp, err := client.Do(ctx, Request{Method: http.MethodGet, Path: path, Accept: "application/json"})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the answer to GET %s: %w", path, err)
	}
	// Indent for a person to read; the export already is, show is not.
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(body), "", "  "); err != nil {
		return fmt.Errorf("the answer to GET %s is not JSON: %w", path, err)
	}
	out.WriteByte('\n')
	if cfg.Output == "" {
		_, err := stdout.Write(out.Bytes())
		return err
	}
	if err := writePrivate(cfg.Output, out.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported contact %s of %s to %s (it holds personal data: keep it safe, delete it once delivered)\n",
		cfg.Contact, cfg.Institution, cfg.Output)
	return nil
}

// writePrivate writes data to path readable by its owner only, even if the file existed with
// wider permissions.
func writePrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
