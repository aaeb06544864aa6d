package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/lethe-gdpr/lethe/pkg/cliflags"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/lethe-gdpr/lethe/pkg/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "lethe:", err)
		}
		os.Exit(1)
	}
}

var errUsage = cliflags.ErrUsage

const usage = `lethe — event-driven GDPR retention engine

Usage:
  lethe serve [--http 127.0.0.1:8080] [--data ./lethe-data] [--config lethe.yaml]
              [--target all|ingest|recency|scheduler|anonymiser|console] [--nats-url URL] [--mongo-uri URI]
              [--console-api URL]   the operator console at /ui/ (part of all)
              [--check-restore]   report what the erasure ledger would re-apply, then exit
  lethe send [--server URL] [--token T] FILE|-   NDJSON or JSON CloudEvents, batched, resumable
  lethe runs start [--mode simulation|execute] [--inactivity-months N] [--as-of DATE] [--wait] INST
  lethe runs list|show [--json] INST [RUN]      runs, and one run's state and counts
  lethe runs items [--format table|csv|ndjson|json] [--output FILE] INST RUN
  lethe runs apply [--wait] INST RUN            execute exactly a simulation's set
  lethe contacts show|export INST CONTACT       export: right of access
  lethe contacts erase [--wait] INST CONTACT    on-demand erasure
  lethe requests list [--state S] [--due-within P7D] [--overdue] INST   requests on the legal clock
  lethe requests show|extend|refuse|retry ID    one request; a DPO's actions (erase scope)
  lethe requests access INST CONTACT            a right-of-access request (the export answers it)
  lethe contacts receipt [--output FILE] INST CONTACT   an erased contact's signed receipt
  lethe receipt verify [--public-key FILE] [--server URL --token T] FILE   check a receipt
  lethe destinations [--json] INST              downstream destinations: confirmed, unconfirmed, late
  lethe audit verify [--server URL] [--token T]   check the audit log's hash chain
  lethe register [--format json|markdown|csv] INST   the register of processing
  lethe targets [--channel CH] [--kind K] [--crossing-within P3M] [--format F] INST   campaign targets
  lethe token --institutions INST,… [--scopes read,erase] [--name N]   a new token and its lethe.yaml lines
  lethe probe [--url http://127.0.0.1:8080/readyz]   exit 0 when the URL answers 200 (container healthchecks)
  lethe version

Client commands (send, runs, contacts, requests, audit, register, targets, receipt, destinations) take --server URL and
--token T, before or after the command. Every flag has an environment twin: --nats-url is LETHE_NATS_URL, --server LETHE_SERVER, and
so on. lethe COMMAND -h describes a command's flags.
`

// run is main without the process: arguments, environment and streams are injected so tests
// drive the real command.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	args, err := cliflags.HoistGlobal(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		cfg, err := server.Parse(args[1:], getenv, stderr)
		if err != nil {
			return err
		}
		cfg.Version = version
		return server.Run(ctx, cfg, stdout, stderr)
	case "send":
		return sendCommand(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "runs":
		return runsCommand(ctx, args[1:], getenv, stdout, stderr)
	case "contacts":
		return contactsCommand(ctx, args[1:], getenv, stdout, stderr)
	case "requests":
		return requestsCommand(ctx, args[1:], getenv, stdout, stderr)
	case "register":
		return registerCommand(ctx, args[1:], getenv, stdout, stderr)
	case "targets":
		return targetsCommand(ctx, args[1:], getenv, stdout, stderr)
	case "audit":
		return auditCommand(ctx, args[1:], getenv, stdout, stderr)
	case "receipt":
		return receiptCommand(ctx, args[1:], getenv, stdout, stderr)
	case "destinations":
		return destinationsCommand(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		return tokenCommand(args[1:], getenv, stdout, stderr)
	case "probe":
		return probeCommand(ctx, args[1:], getenv, stderr)
	case "version":
		fmt.Fprintln(stdout, "lethe", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "lethe: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"
