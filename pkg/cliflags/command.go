package cliflags

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ErrUsage: the command line was wrong and the usage has been printed; the process exits 2.
var ErrUsage = errors.New("usage")

// GlobalFlags are the client flags that may also stand before the command, as in
// `lethe --server URL runs list inst-a`.
var GlobalFlags = []string{"server", "token", "timeout"}

// HoistGlobal moves the client flags written before the command to the end of its
// arguments, where every client command parses flags among its positional arguments. A flag
// before the command that is not one of GlobalFlags is an error naming it.
func HoistGlobal(args []string) ([]string, error) {
	var flags []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" && args[0] != "-h" && args[0] != "--help" {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		if !slices.Contains(GlobalFlags, name) {
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

// Error keeps `-h` quiet (the flag set printed the usage) and marks other flag errors as
// usage errors, which the flag set already explained.
func Error(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return ErrUsage
	}
	if strings.HasPrefix(err.Error(), "LETHE_") {
		return err
	}
	return ErrUsage
}

// Subcommand returns args[0] if it is one of subs. Otherwise it prints usage (after naming an
// unknown subcommand; help, -h and --help just ask for the usage) and returns ErrUsage.
func Subcommand(command string, args, subs []string, usage string, stderr io.Writer) (string, error) {
	if len(args) > 0 && slices.Contains(subs, args[0]) {
		return args[0], nil
	}
	if len(args) > 0 && args[0] != "help" && args[0] != "-h" && args[0] != "--help" {
		fmt.Fprintf(stderr, "lethe %s: unknown subcommand %q\n\n", command, args[0])
	}
	fmt.Fprint(stderr, usage)
	return "", ErrUsage
}

// CommandFlags is the flag set of the client command `lethe name`, which prints usage and
// then the flags on -h.
func CommandFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := NewFlagSet(name, stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// Positional parses args with their environment twins and returns the positional
// arguments, letting flags also follow them: `lethe runs items inst-a run-1 --format csv`.
// It refuses any other count than want, naming what is missing.
func Positional(fs *flag.FlagSet, args []string, getenv func(string) string, want int, what string) ([]string, error) {
	if err := Parse(fs, args, getenv); err != nil {
		return nil, Error(err)
	}
	var positional []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		positional = append(positional, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return nil, Error(err)
		}
	}
	if len(positional) != want {
		fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), what)
		fs.Usage()
		return nil, ErrUsage
	}
	return positional, nil
}

// CheckSegment refuses an id that would not stay one segment of the URL path.
func CheckSegment(what, id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/?#") {
		return fmt.Errorf("%s id %q cannot be sent in a URL path (no /, ? or #)", what, id)
	}
	return nil
}
