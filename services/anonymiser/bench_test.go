package anonymiser

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/ledger"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
)

// noLedger records nothing: the reference the ledger's cost is measured against.
type noLedger struct{}

func (noLedger) Record(context.Context, ...ledger.Entry) error { return nil }

// BenchmarkExecute is one erasure command of an execute run carried out (re-check, erase,
// key destroyed, audited, outcome published, item marked) on the embedded store and
// JetStream, with the erasure ledger's entry (one more JetStream publish, acked before the
// outcome goes out) and without it.
//
//	cd services && GOFLAGS=-tags=pebblegozstd go test -run '^$' -bench BenchmarkExecute -benchtime 2000x -count 5 ./anonymiser/
func BenchmarkExecute(b *testing.B) {
	for _, withLedger := range []bool{false, true} {
		name := "without-ledger"
		if withLedger {
			name = "with-ledger"
		}
		b.Run(name, func(b *testing.B) {
			st := backendtest.Pebble(b)
			_, js := platformtest.Bus(b)
			d := platformtest.Deps(b, js, st, config.File{})
			svc, err := New(d, WithClock(func() time.Time { return now }))
			if err != nil {
				b.Fatal(err)
			}
			if !withLedger {
				svc.ledger = noLedger{}
			}
			ctx := context.Background()
			run := store.Run{ID: "run-bench", Institution: inst, Mode: store.ModeExecute, AsOf: asOf, InactivityMonths: 36,
				State: store.RunExecuting, Queued: true, CreatedAt: asOf, UpdatedAt: asOf}
			if err := st.Runs().Create(ctx, run); err != nil {
				b.Fatal(err)
			}
			cmds := make([]retention.Command, b.N)
			for i := range cmds {
				id := fmt.Sprintf("c-%07d", i)
				src := store.Source{EventID: id, Type: events.TypeContactCreated, At: longAgo}
				if _, err := st.Contacts().Put(ctx, store.Contact{Institution: inst, ID: id, Status: store.StatusActive, Created: true,
					Role: "individual", CreatedAt: longAgo, CreatedSource: src, Recency: longAgo, RecencySource: src}); err != nil {
					b.Fatal(err)
				}
				if _, err := d.Sealer.Seal(ctx, inst, id, "profile.email", id+"@mail.example"); err != nil {
					b.Fatal(err)
				}
				cmds[i] = runCommand(run.ID, id, store.OutcomeDelete)
				if err := st.RunItems().Put(ctx, []store.RunItem{{Institution: inst, RunID: run.ID, ContactID: id,
					Outcome: store.OutcomeDelete, Recency: longAgo}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				if res, err := svc.Execute(ctx, cmds[i]); err != nil || res.Outcome != OutcomeDeleted {
					b.Fatalf("Execute %d: %+v, %v", i, res, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "erasures/s")
		})
	}
}
