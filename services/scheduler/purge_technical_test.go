package scheduler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
	"github.com/lethe-gdpr/lethe/services/scheduler"
)

// purgeNow is the scheduler's clock; inst-a keeps technical data 12 months, so the cut-off
// is purgeCutoff: records collected strictly before it go.
var (
	purgeNow    = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	purgeCutoff = time.Date(2025, 11, 23, 12, 0, 0, 0, time.UTC)
)

// purgeConfig declares technical data (P12M after collection) for inst-a only.
func purgeConfig(t *testing.T) config.File {
	t.Helper()
	reg := append(config.DefaultRegister(36), config.RegisterEntry{Category: config.CategoryTechnical,
		Purpose: "security", LegalBasis: config.LegalBasisLegitimateInterest, Recipients: []string{"lethe"},
		Retention: config.Retention{AfterCollection: "P12M"}})
	cfg := config.File{Institutions: []config.Institution{
		{ID: "inst-a", InactivityMonths: 36, Mode: store.ModeSimulation, Register: reg},
		{ID: "inst-b", InactivityMonths: 36, Mode: store.ModeSimulation},
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

type purgeRig struct {
	st     store.Store
	js     jetstream.JetStream
	sealer *seal.Sealer
	svc    *scheduler.Service
	cfg    config.File
}

func newPurgeRig(t *testing.T, st store.Store) *purgeRig {
	t.Helper()
	_, js := platformtest.Bus(t)
	cfg := purgeConfig(t)
	d := platformtest.Deps(t, js, st, cfg)
	svc, err := scheduler.New(d, scheduler.WithClock(func() time.Time { return purgeNow }), scheduler.WithBatchSize(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return &purgeRig{st: st, js: js, sealer: d.Sealer, svc: svc, cfg: cfg}
}

// clearIP is the address a record of contact id holds, in clear; it never reaches the store.
func clearIP(id string, at time.Time) string {
	return fmt.Sprintf("198.51.100.%d/%s/%s", len(id), id, at.Format(time.RFC3339))
}

// record is a technical record as recency stores it: sealed by ingest with the contact's key.
func (r *purgeRig) record(t *testing.T, inst, id string, at time.Time) store.Technical {
	t.Helper()
	ck, err := r.sealer.For(t.Context(), inst, id)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := ck.Seal(events.TechnicalIP, clearIP(id, at))
	if err != nil {
		t.Fatal(err)
	}
	ua, err := ck.Seal(events.TechnicalUserAgent, "Browser/"+at.Format(time.RFC3339))
	if err != nil {
		t.Fatal(err)
	}
	return store.Technical{EventID: "ev-" + id + "-" + at.Format("20060102T150405"), CollectedAt: at, IP: ip, UserAgent: ua}
}

func (r *purgeRig) put(t *testing.T, c store.Contact) store.Contact {
	t.Helper()
	got, err := r.st.Contacts().Put(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPurgeTechnicalRemovesWhatIsPastItsWindowAndKeepsTheRest(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		r := newPurgeRig(t, st)
		ctx := t.Context()
		expired := []time.Time{purgeCutoff.Add(-time.Second), purgeCutoff.AddDate(0, -2, 0), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
		kept := []time.Time{purgeCutoff, purgeCutoff.Add(time.Second), purgeNow.Add(-time.Hour)}

		// 30 contacts of inst-a so that the purge pages (batch size 4); every third has only
		// fresh records, every fifth only expired ones; one is anonymised.
		want := map[string][]time.Time{}
		versions := map[string]int64{}
		var ids []string
		for i := range 30 {
			id := fmt.Sprintf("c-%02d", i)
			ids = append(ids, id)
			var at []time.Time
			switch {
			case i%3 == 0:
				at = kept
			case i%5 == 0:
				at = expired
			default:
				at = append(slices.Clone(expired), kept...)
			}
			c := store.Contact{Institution: "inst-a", ID: id, Status: store.StatusActive, Role: "individual",
				Recency: purgeNow.AddDate(0, 0, -i)} // active: recency is recent
			if i == 7 {
				c.Status = store.StatusAnonymised
			}
			for _, a := range at {
				c.Technical = append(c.Technical, r.record(t, "inst-a", id, a))
			}
			slices.SortFunc(c.Technical, func(a, b store.Technical) int { return a.CollectedAt.Compare(b.CollectedAt) })
			versions[id] = r.put(t, c).Version
			for _, a := range at {
				if !a.Before(purgeCutoff) {
					want[id] = append(want[id], a)
				}
			}
		}
		// inst-b declares no technical data: the purge leaves its contacts alone.
		b := r.put(t, store.Contact{Institution: "inst-b", ID: "c-b", Status: store.StatusActive,
			Technical: []store.Technical{r.record(t, "inst-b", "c-b", expired[2])}})

		res, err := r.svc.PurgeTechnical(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantContacts, wantRecords := 0, 0
		for i := range 30 {
			if i%3 != 0 {
				wantContacts++
				wantRecords += len(expired)
			}
		}
		if res.Scanned != 30 || res.Contacts != wantContacts || res.Records != wantRecords {
			t.Errorf("result %+v, want 30 scanned, %d contacts, %d records", res, wantContacts, wantRecords)
		}

		for i, id := range ids {
			c, err := st.Contacts().Get(ctx, "inst-a", id)
			if err != nil {
				t.Fatal(err)
			}
			var got []time.Time
			for _, tr := range c.Technical {
				got = append(got, tr.CollectedAt)
			}
			if !slices.EqualFunc(got, want[id], time.Time.Equal) {
				t.Errorf("%s keeps %v, want %v", id, got, want[id])
			}
			if i%3 == 0 && c.Version != versions[id] {
				t.Errorf("%s had nothing to purge but was rewritten (version %d → %d)", id, versions[id], c.Version)
			}
			if c.Status != map[bool]store.Status{true: store.StatusAnonymised, false: store.StatusActive}[i == 7] || c.Role != "individual" {
				t.Errorf("%s: the purge changed more than technical data: %+v", id, c)
			}
			// What is left is sealed, opens with the contact's key for its field only, and the
			// stored document holds no clear address.
			ck, err := r.sealer.ForRead(ctx, "inst-a", id)
			if err != nil {
				t.Fatal(err)
			}
			doc, _ := json.Marshal(c)
			for _, tr := range c.Technical {
				if !events.IsSealed(tr.IP) || !events.IsSealed(tr.UserAgent) {
					t.Fatalf("%s: a technical value is not sealed", id)
				}
				if ip, err := ck.Open(events.TechnicalIP, tr.IP); err != nil || ip != clearIP(id, tr.CollectedAt) {
					t.Errorf("%s: the IP opens to %q, %v", id, ip, err)
				}
				if _, err := ck.Open(events.TechnicalUserAgent, tr.IP); err == nil {
					t.Errorf("%s: the IP opens as another field", id)
				}
				if bytes.Contains(doc, []byte(clearIP(id, tr.CollectedAt))) {
					t.Errorf("%s: a clear IP address is in the store", id)
				}
			}
		}
		if got, err := st.Contacts().Get(ctx, "inst-b", "c-b"); err != nil || got.Version != b.Version || len(got.Technical) != 1 {
			t.Errorf("inst-b's contact was touched: %+v, %v", got, err)
		}

		// A second purge finds nothing to do.
		if res, err := r.svc.PurgeTechnical(ctx); err != nil || res.Records != 0 || res.Contacts != 0 {
			t.Errorf("second purge: %+v, %v", res, err)
		}
	})
}

// The purge and the projection write the same contacts: compare-and-swap on both sides
// means no fresh record is lost and no expired record survives.
func TestPurgeTechnicalRacesWithFoldsWithoutLosingData(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		r := newPurgeRig(t, st)
		ctx := t.Context()
		c := store.Contact{Institution: "inst-a", ID: "c-race", Status: store.StatusActive}
		for i := range 20 {
			c.Technical = append(c.Technical, r.record(t, "inst-a", "c-race", purgeCutoff.AddDate(0, 0, -1-i)))
		}
		r.put(t, c)
		const fresh = 40
		adds := make([]store.Technical, fresh)
		for i := range adds {
			adds[i] = r.record(t, "inst-a", "c-race", purgeNow.Add(-time.Duration(i+1)*time.Minute))
		}

		var wg sync.WaitGroup
		errs := make(chan error, 8)
		wg.Go(func() { // a recency replica folding events as they come: read, add, CAS
			for _, tr := range adds {
				for {
					cur, err := st.Contacts().Get(ctx, "inst-a", "c-race")
					if err != nil {
						errs <- err
						return
					}
					cur.Technical = append(cur.Technical, tr)
					if _, err = st.Contacts().Put(ctx, cur); err == nil {
						break
					} else if !errors.Is(err, store.ErrConflict) {
						errs <- err
						return
					}
				}
			}
		})
		for range 3 { // and three schedulers purging
			wg.Go(func() {
				for range 5 {
					if _, err := r.svc.PurgeTechnicalOf(ctx, "inst-a"); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if _, err := r.svc.PurgeTechnicalOf(ctx, "inst-a"); err != nil {
			t.Fatal(err)
		}
		got, err := st.Contacts().Get(ctx, "inst-a", "c-race")
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, tr := range got.Technical {
			if tr.CollectedAt.Before(purgeCutoff) {
				t.Errorf("an expired record survived: %s", tr.CollectedAt)
			}
			have[tr.EventID] = true
		}
		for _, tr := range adds {
			if !have[tr.EventID] {
				t.Errorf("a fresh record was lost: %s", tr.EventID)
			}
		}
	})
}

// Run purges on its own cadence, starting at once.
func TestRunPurgesTechnicalData(t *testing.T) {
	t.Parallel()
	st := backendtest.Pebble(t)
	r := newPurgeRig(t, st)
	c := store.Contact{Institution: "inst-a", ID: "c-run", Status: store.StatusActive,
		Technical: []store.Technical{r.record(t, "inst-a", "c-run", time.Now().AddDate(-2, 0, 0)), r.record(t, "inst-a", "c-run", time.Now())}}
	r.put(t, c)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	svc, err := scheduler.New(platformtest.Deps(t, r.js, st, r.cfg))
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- svc.Run(ctx) }()
	testkit.Eventually(t, "Run to purge", func() error {
		got, err := st.Contacts().Get(t.Context(), "inst-a", "c-run")
		if err != nil {
			t.Fatal(err)
		}
		return testkit.Equal("technical records left", len(got.Technical), 1)
	})
	cancel()
	select {
	case err := <-done:
		if err != nil && !strings.Contains(err.Error(), "context canceled") {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop")
	}
}
