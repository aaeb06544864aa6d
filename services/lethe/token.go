package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"github.com/lethe-gdpr/lethe/pkg/token"
)

// `lethe token` makes a new API token offline: the secret for its holder, and the entry for
// lethe.yaml, which keeps only its SHA-256 (docs/contract.md, "Configuration").

const tokenUsage = `Usage: lethe token --institutions INST[,INST…] [--scopes read[,erase…]] [--name NAME]

  Prints a new random token (256 bits) once, as LETHE_TOKEN=…, and the lines to paste under
  tokens: in lethe.yaml, which hold its SHA-256, never the token. Give the token to its
  holder; lethe serve reads the new entry at its next start. Scopes: ingest, read, admin,
  erase, export; --institutions '*' covers every institution.

Flags (each has an environment twin: --scopes is LETHE_SCOPES, …):
`

// tokenCommand is `lethe token`.
func tokenCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var name, institutions, scopes string
	fs := cliflags.CommandFlags("token", tokenUsage, stderr)
	fs.StringVar(&name, "name", "", "the token's name in lethe.yaml (default: token- and the start of its hash)")
	fs.StringVar(&institutions, "institutions", "", "comma-separated institutions it acts on, or * for every one (required)")
	fs.StringVar(&scopes, "scopes", "read", "comma-separated scopes: ingest, read, admin, erase, export")
	if _, err := cliflags.Positional(fs, args, getenv, 0, "lethe token takes flags only"); err != nil {
		return err
	}
	if institutions == "" {
		return errors.New("--institutions: name the institutions the token acts on (or '*' for every one)")
	}
	iss, err := token.New(name, list(institutions), list(scopes))
	if err != nil {
		return err
	}
	entry, err := iss.YAML()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "LETHE_TOKEN=%s\n# Shown once. Paste under tokens: in lethe.yaml:\n%s", iss.Plain, entry)
	return nil
}

// list splits a comma-separated flag value, dropping blanks.
func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
