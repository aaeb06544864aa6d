package cliflags

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// EnvTwin maps a flag name to its environment variable: --nats-url → LETHE_NATS_URL.
func EnvTwin(name string) string {
	return "LETHE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args after seeding each flag from its environment twin, so the command line
// wins over the environment, which wins over the default. An environment value the flag
// refuses is an error naming the variable, since the user never typed the flag.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(EnvTwin(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvTwin(f.Name), err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return fs.Parse(args)
}

// Given reports whether the flag name was set on the command line or by its environment
// twin, as opposed to left at its default.
func Given(fs *flag.FlagSet, name string, getenv func(string) string) bool {
	given := getenv(EnvTwin(name)) != ""
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// NewFlagSet is the flag set of `lethe name`: errors are returned, not fatal, so that a test
// drives the command in-process, and usage goes to the command's stderr.
func NewFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lethe "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
