package scheduler_test

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/pkg/store/pebblestore"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
	"github.com/lethe-gdpr/lethe/services/scheduler"
)

var (
	simContacts = flag.Int("sim.contacts", 1_000_000, "contacts BenchmarkSimulation1M stores")
	simInactive = flag.Int("sim.inactive", 100_000, "of which inactive as of the run")
	simDataset  = flag.String("sim.dataset", "", "directory keeping BenchmarkSimulation1M's store between runs (default: a fresh temporary one)")
	simStore    = flag.String("sim.store", "pebble", "pebble, or mongo: a fresh database on MONGODB_URI (the test harness is an in-memory Java server: a correctness run of the adapter's scan at size, never a MongoDB figure)")
)

// BenchmarkSimulation1M times one simulation run over an institution of -sim.contacts
// contacts, -sim.inactive of them inactive, in the embedded store: the index range scan,
// one Decide per inactive contact, the report written in batches of 1000, the run.completed
// event. It reports seconds per run and the peak memory while runs go on.
//
//	cd services/scheduler && go test -run '^$' -bench BenchmarkSimulation1M -benchtime 3x -timeout 60m .
func BenchmarkSimulation1M(b *testing.B) {
	n, inactive := *simContacts, *simInactive
	dir := *simDataset
	if dir == "" || *simStore == "mongo" {
		dir = b.TempDir()
	}
	var st store.Store
	if *simStore == "mongo" {
		st = backendtest.Mongo(b)
	} else {
		pst, err := pebblestore.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = pst.Close(context.Background()) })
		st = pst
	}
	ctx := context.Background()
	marker := fmt.Sprintf("%s/scheduler-bench-%d-%d.done", dir, n, inactive)
	if _, err := os.Stat(marker); err != nil {
		start := time.Now()
		if err := loadBenchContacts(ctx, st, n, inactive); err != nil {
			b.Fatal(err)
		}
		b.Logf("stored %d contacts (%d inactive) in %s", n, inactive, time.Since(start).Round(time.Millisecond))
		if err := os.WriteFile(marker, nil, 0o600); err != nil {
			b.Fatal(err)
		}
	}

	_, js := platformtest.Bus(b)
	cfg := config.File{Institutions: []config.Institution{{ID: inst, InactivityMonths: 36, Mode: store.ModeSimulation}}}
	svc, err := scheduler.New(platformtest.Deps(b, js, st, cfg), scheduler.WithClock(func() time.Time { return asOf }))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(svc.Close)

	runtime.GC()
	testkit.ResetPeakRSS()
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})

	var items int
	start := time.Now()
	for b.Loop() {
		run, err := svc.StartRun(ctx, scheduler.RunRequest{Institution: inst})
		if err != nil {
			b.Fatal(err)
		}
		if run, err = svc.Wait(ctx, inst, run.ID); err != nil {
			b.Fatal(err)
		}
		if run.State != store.RunPlanned {
			b.Fatalf("run %s ended %s: %s", run.ID, run.State, run.Error)
		}
		items = run.Counts[store.OutcomeDelete] + run.Counts[store.OutcomeAnonymise] + run.Counts[store.OutcomeSkip]
	}
	elapsed := time.Since(start).Seconds() / float64(b.N)
	close(stop)
	sampler.Wait()
	if items != inactive {
		b.Fatalf("the simulation planned %d items, want %d", items, inactive)
	}
	b.ReportMetric(elapsed, "s/run")
	b.ReportMetric(float64(inactive)/elapsed, "items/s")
	b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MB")
	testkit.ReportPeakRSS(b)
}

// loadBenchContacts stores n contacts, every (n/inactive)-th of them inactive, through the
// store port: Contacts.PutMany in batches of 1000, which the embedded store commits with one
// WAL sync each — the way the recency service writes.
func loadBenchContacts(ctx context.Context, st store.Store, n, inactive int) error {
	const batchSize = 1000
	every := n / max(inactive, 1)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			batch := make([]store.Contact, 0, batchSize)
			for {
				first := int(next.Add(batchSize)) - batchSize
				if first >= n {
					return
				}
				batch = batch[:0]
				for i := first; i < min(first+batchSize, n); i++ {
					batch = append(batch, benchContact(i, inactive > 0 && i%every == 0 && i/every < inactive))
				}
				results, err := st.Contacts().PutMany(ctx, batch)
				if err != nil {
					fail(err)
					return
				}
				for _, r := range results {
					if r.Err != nil {
						fail(r.Err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

var sealedValue = base64.StdEncoding.EncodeToString(make([]byte, 40))

// benchContact is a contact of typical size: a sealed profile, consents, an order. Inactive
// ones get a recency years back and a spread of outcomes: mostly customers, a quarter
// prospects, one in seven blocked.
func benchContact(i int, inactive bool) store.Contact {
	id := fmt.Sprintf("contact-%08d", i)
	recency := asOf.AddDate(0, -1, -(i % 700))
	if inactive {
		recency = threshold.AddDate(0, 0, -1-(i%900))
	}
	s := store.Source{EventID: fmt.Sprintf("01J%023d", i), Type: "lethe.order.placed.v1", At: recency}
	c := store.Contact{
		Institution: inst, ID: id, Status: store.StatusActive, Created: true, Role: "individual",
		CreatedAt: recency.AddDate(-2, 0, 0), Recency: recency, RecencySource: s, Activity: s,
		Customer: i%4 != 0, CustomerSource: s,
		Authorisations: map[string]store.Authorisation{"marketing.email": {Value: "yes", Source: s}},
		Profile: map[string]store.Field{
			"email":      {Value: sealedValue, Sealed: true, Source: s},
			"first_name": {Value: sealedValue[:24], Sealed: true, Source: s},
			"last_name":  {Value: sealedValue[:28], Sealed: true, Source: s},
			"country":    {Value: "FR", Source: s},
		},
		Organisations: []string{"org-1"},
		Orders: map[string]store.Order{"order-1": {ID: "order-1", Kind: "order", Role: "buyer", Source: s,
			Items: []store.Item{{ProductID: "perf-1", Dated: true, ValidAt: recency}}}},
	}
	if i%7 == 3 {
		c.Balance = store.Balance{Amount: -1500, Currency: "EUR", Source: s}
	}
	return c
}
