// Command demo writes a synthetic institution's history as NDJSON CloudEvents for `make demo`
// (pkg/demo does the work; this is its command line):
//
//	go run ./deploy/demo --seed 1 --contacts 20000 --output lethe-demo/history.ndjson
//
// What the history holds (contacts, events by type, inactive, blocked by reason) goes to
// standard error, and as JSON to --stats when set.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"github.com/lethe-gdpr/lethe/pkg/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cliflags.NewFlagSet("demo", stderr)
	var o demo.Options
	fs.Uint64Var(&o.Seed, "seed", 1, "the random seed: the same seed and --as-of give the same file")
	fs.IntVar(&o.Contacts, "contacts", 20_000, "how many contacts")
	fs.StringVar(&o.Institution, "institution", "demo", "the institution's id")
	asOf := fs.String("as-of", "", "the date the history ends at, YYYY-MM-DD (default: today, UTC)")
	output := fs.String("output", "-", `where to write the NDJSON ("-": standard output)`)
	statsPath := fs.String("stats", "", "also write what the history holds as JSON to this file")
	if err := cliflags.Parse(fs, args, getenv); err != nil {
		return err
	}
	o.Now = time.Now().UTC().Truncate(24 * time.Hour)
	if *asOf != "" {
		t, err := time.Parse(time.DateOnly, *asOf)
		if err != nil {
			return fmt.Errorf("--as-of: %w", err)
		}
		o.Now = t
	}
	st, err := generate(*output, stdout, o)
	if err != nil {
		return err
	}
	if *statsPath != "" {
		b, _ := json.MarshalIndent(st, "", "  ")
		if err := os.WriteFile(*statsPath, append(b, '\n'), 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "%d contacts (%d customers, %d prospects, %d out of scope), %d events, as of %s\n",
		st.Contacts, st.Customers, st.Prospects, st.OutOfScope, st.Events, o.Now.Format(time.DateOnly))
	fmt.Fprintf(stderr, "inactive past the period: %d (delete %d, anonymise %d, blocked %d: %v); %d erasure requests\n",
		st.Inactive, st.Deletes, st.Anonymises, st.Inactive-st.Deletes-st.Anonymises, st.Blocked, st.Erasures)
	types := make([]string, 0, len(st.ByType))
	for t := range st.ByType {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Fprintf(stderr, "  %-36s %7d\n", t, st.ByType[t])
	}
	return nil
}

// generate writes the history to path ("-": stdout) and closes the file it made.
func generate(path string, stdout io.Writer, o demo.Options) (demo.Stats, error) {
	if path == "-" {
		return demo.Generate(stdout, o)
	}
	f, err := os.Create(path)
	if err != nil {
		return demo.Stats{}, err
	}
	st, err := demo.Generate(f, o)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return st, err
}
