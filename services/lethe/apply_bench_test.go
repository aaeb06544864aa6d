package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

var (
	applyContacts = flag.Int("apply.contacts", 10_000, "inactive contacts BenchmarkApply10k erases")
	applyProfile  = flag.String("apply.cpuprofile", "", "file for a CPU profile of the applies alone (not the send and the simulation before them)")
)

// BenchmarkApply10k erases -apply.contacts (10,000) contacts through the public surfaces of
// an in-process `lethe serve`: their history sent with `lethe send` (years old, so every
// contact is inactive), a simulation reviewed, then `runs apply --wait` timed — per contact
// the re-check, the erased contact, the destroyed data key, the audit entry, the outcome on
// LETHE_RESULTS and the marked run item. It reports erasures/s.
func BenchmarkApply10k(b *testing.B) {
	n := *applyContacts
	path := filepath.Join(b.TempDir(), "history.ndjson")
	writeHistory(b, path, 2*n) // a created event and an order per contact, in 2019
	ctx := context.Background()
	var elapsed, completed time.Duration
	for range b.N {
		b.StopTimer()
		httpURL, natsURL, token, stop := serveInProcess(b, b.TempDir())
		var stdout, stderr testkit.SyncBuffer
		if err := sendCommand(ctx, []string{"--server", httpURL, "--token", token, "--progress", "none", "--restart", "--state", filepath.Join(b.TempDir(), "state"), path},
			func(string) string { return "" }, nil, &stdout, &stderr); err != nil {
			b.Fatalf("send: %v\n%s", err, stderr.String())
		}
		c, err := client.New(httpURL, token)
		if err != nil {
			b.Fatal(err)
		}
		mode := store.ModeSimulation
		var sim api.RunView
		testkit.Eventually(b, "every contact projected and planned", func() error {
			run, err := c.StartRun(ctx, "inst-a", api.RunStart{Mode: &mode})
			if err != nil {
				return err
			}
			if sim, err = c.WaitRun(ctx, "inst-a", run.ID, time.Minute); err != nil {
				return err
			}
			return testkit.AtLeast("planned", sim.Counts[store.OutcomeAnonymise]+sim.Counts[store.OutcomeDelete], n)
		})
		if *applyProfile != "" {
			f, err := os.Create(*applyProfile)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
		}
		outcomes := watchOutcomes(b, natsURL)
		b.StartTimer()
		began := time.Now()
		run, err := c.ApplyRun(ctx, "inst-a", sim.ID)
		if err != nil {
			b.Fatal(err)
		}
		// Timed to the last outcome on LETHE_RESULTS (what a downstream CRM sees), not to
		// the run's completed state, which the scheduler notices by polling.
		lastOutcome := outcomes(run.ID, n)
		elapsed += lastOutcome.Sub(began)
		b.StopTimer()
		run, err = c.WaitRun(ctx, "inst-a", run.ID, 10*time.Minute)
		completed += time.Since(began)
		if *applyProfile != "" {
			pprof.StopCPUProfile()
		}
		if err != nil {
			b.Fatal(err)
		}
		if erased := run.Counts[store.OutcomeAnonymise] + run.Counts[store.OutcomeDelete]; run.State != store.RunCompleted || erased != n {
			b.Fatalf("apply run %s ended %s with %d erased (%v), want completed with %d", run.ID, run.State, erased, run.Counts, n)
		}
		if err := stop(); err != nil {
			b.Fatalf("serve stop: %v", err)
		}
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "erasures/s")
	b.ReportMetric(completed.Seconds()/float64(b.N), "s-to-completed")
	testkit.ReportPeakRSS(b)
}

// watchOutcomes follows LETHE_RESULTS from its end, as a downstream CRM would; the function
// it returns waits for n outcomes of the run and returns when the last one was seen.
func watchOutcomes(b *testing.B, natsURL string) func(runID string, n int) time.Time {
	b.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js := bustest.JetStream(b, nc)
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, bus.StreamResults, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		b.Fatal(err)
	}
	// Only this benchmark's apply publishes from now on: its outcomes, then its
	// lethe.run.completed.v1.
	ch := make(chan struct{}, 4096)
	cc, err := cons.Consume(func(jetstream.Msg) { ch <- struct{}{} })
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cc.Stop)
	return func(runID string, n int) time.Time {
		deadline := time.After(10 * time.Minute)
		for got := 0; got < n; {
			select {
			case <-ch:
				got++
			case <-deadline:
				b.Fatalf("%d outcomes of run %s on LETHE_RESULTS within 10 minutes, want %d", got, runID, n)
			}
		}
		return time.Now()
	}
}
