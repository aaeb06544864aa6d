package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// envTwin maps a flag name to its environment variable: --nats-url → LETHE_NATS_URL.
func envTwin(name string) string {
	return "LETHE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// parseWithEnv parses args after seeding each flag from its environment twin, so the command
// line wins over the environment, which wins over the default.
func parseWithEnv(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envTwin(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envTwin(f.Name), err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return fs.Parse(args)
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lethe "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
