package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
)

// What the client commands refuse before asking anything of a server.
var (
	errNoServer = errors.New("no server: pass --server or set LETHE_SERVER")
	errNoToken  = errors.New("no token: pass --token or set LETHE_TOKEN")
)

// globalFlags are the client flags that may also stand before the command, as in
// `lethe --server URL runs list inst-a`.
var globalFlags = []string{"server", "token", "timeout"}

// hoistGlobalFlags moves the client flags written before the command to the end of its
// arguments, where every client command parses flags among its positional arguments. A flag
// before the command that is not one of globalFlags is an error naming it.
func hoistGlobalFlags(args []string) ([]string, error) {
	var flags []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" && args[0] != "-h" && args[0] != "--help" {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		if !slices.Contains(globalFlags, name) {
			return nil, fmt.Errorf("lethe: %s before the command: only --server, --token and --timeout may stand there; put it after the command", args[0])
		}
		if !hasValue {
			if len(args) < 2 {
				return nil, fmt.Errorf("lethe: %s needs a value", args[0])
			}
			value, args = args[1], args[1:]
		}
		flags = append(flags, "--"+name+"="+value)
		args = args[1:]
	}
	if len(flags) == 0 || len(args) == 0 {
		return args, nil
	}
	return append(slices.Clone(args), flags...), nil
}

// flagError keeps `-h` quiet (the flag set printed the usage) and marks other flag errors as
// usage errors, which the flag set already explained.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return errUsage
	}
	if strings.HasPrefix(err.Error(), "LETHE_") {
		return err
	}
	return errUsage
}

// subcommand returns args[0] if it is one of subs. Otherwise it prints usage (after naming an
// unknown subcommand; help, -h and --help just ask for the usage) and returns errUsage.
func subcommand(command string, args, subs []string, usage string, stderr io.Writer) (string, error) {
	if len(args) > 0 && slices.Contains(subs, args[0]) {
		return args[0], nil
	}
	if len(args) > 0 && args[0] != "help" && args[0] != "-h" && args[0] != "--help" {
		fmt.Fprintf(stderr, "lethe %s: unknown subcommand %q\n\n", command, args[0])
	}
	fmt.Fprint(stderr, usage)
	return "", errUsage
}

// newCommandFlags is the flag set of the client command `lethe name`, which prints usage and
// then the flags on -h.
func newCommandFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := cliflags.NewFlagSet(name, stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// clientFlags are the settings every client command shares, each with its environment twin.
type clientFlags struct {
	Server  string
	Token   string
	Timeout time.Duration
}

// define adds --server, --token (its help naming the scope the command needs) and --timeout.
func (c *clientFlags) define(fs *flag.FlagSet, token string, timeout time.Duration, timeoutHelp string) {
	fs.StringVar(&c.Server, "server", "http://127.0.0.1:8080", "URL of the running lethe serve")
	fs.StringVar(&c.Token, "token", "", "bearer token with the "+token)
	fs.DurationVar(&c.Timeout, "timeout", timeout, timeoutHelp)
}

// client checks the settings and returns the client they describe.
func (c clientFlags) client() (*client.Client, error) {
	if c.Timeout <= 0 {
		return nil, errors.New("--timeout must be positive")
	}
	if c.Token == "" {
		return nil, errNoToken
	}
	if c.Server == "" {
		return nil, errNoServer
	}
	return client.New(c.Server, c.Token, client.WithUserAgent("lethe/"+version))
}

// parsePositional parses args with their environment twins and returns the positional
// arguments, letting flags also follow them: `lethe runs items inst-a run-1 --format csv`.
// It refuses any other count than want, naming what is missing.
func parsePositional(fs *flag.FlagSet, args []string, getenv func(string) string, want int, what string) ([]string, error) {
	if err := cliflags.Parse(fs, args, getenv); err != nil {
		return nil, flagError(err)
	}
	var positional []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		positional = append(positional, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return nil, flagError(err)
		}
	}
	if len(positional) != want {
		fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), what)
		fs.Usage()
		return nil, errUsage
	}
	return positional, nil
}

// checkSegment refuses an id that would not stay one segment of the URL path.
func checkSegment(what, id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/?#") {
		return fmt.Errorf("%s id %q cannot be sent in a URL path (no /, ? or #)", what, id)
	}
	return nil
}
