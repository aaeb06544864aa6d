package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/ledger"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// replayLedger replays LETHE_ERASURES onto the store at start, before any service is built
// and before the listener opens (so /readyz cannot answer 200 before it is done), and logs
// how many erasures it re-applied: counts only. With --check-restore it reports what it would
// re-apply and says the start is over (done).
func replayLedger(ctx context.Context, c Config, js jetstream.JetStream, st store.Store, log *slog.Logger, stdout io.Writer) (done bool, err error) {
	var opts []ledger.ReplayOption
	if c.CheckRestore {
		opts = append(opts, ledger.DryRun())
	}
	start := time.Now()
	stats, err := ledger.Replay(ctx, js, st, opts...)
	if err != nil {
		return true, fmt.Errorf("erasure ledger: %w", err)
	}
	if c.CheckRestore {
		fmt.Fprintf(stdout, "erasure ledger: %d erasures recorded; %d would be re-applied (%d data keys to destroy again, %d contacts to erase again, %d requests to complete again)\n",
			stats.Entries, stats.Reapplied, stats.Keys, stats.Contacts, stats.Requests)
		return true, nil
	}
	attrs := []any{"entries", stats.Entries, "reapplied", stats.Reapplied, "keys", stats.Keys, "contacts", stats.Contacts,
		"requests", stats.Requests, "duration", time.Since(start).Round(time.Millisecond)}
	if stats.Reapplied > 0 {
		// The store was behind the ledger: restored from a backup, most likely.
		log.Warn("erasure ledger replayed: erasures missing from the store were applied again", attrs...)
		fmt.Fprintf(stdout, "erasure ledger: %d erasures were missing from the store and are applied again\n", stats.Reapplied)
	} else {
		log.Info("erasure ledger replayed: the store holds every erasure", attrs...)
	}
	return false, nil
}
