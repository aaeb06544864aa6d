package scheduler_test

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/lethe-gdpr/lethe/pkg/platform/platformtest"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/services/scheduler"
)

// overdue collects lethe.contacts.overdue as "institution/reason" → value.
func overdue(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != scheduler.MetricOverdue {
				continue
			}
			for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
				i, _ := dp.Attributes.Value("institution")
				r, _ := dp.Attributes.Value("reason")
				out[i.AsString()+"/"+r.AsString()] = dp.Value
			}
		}
	}
	return out
}

// The gauge follows the institution's latest planned or completed run: a newer forecast, a
// failed run or one still executing leave it where it was; a newer completed apply moves it.
func TestOverdueGaugeFollowsTheLatestFinishedRun(t *testing.T) {
	t.Parallel()
	_, js := platformtest.Bus(t)
	st := backendtest.Pebble(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	d := platformtest.Deps(t, js, st, testConfig())
	d.MeterProvider = mp
	svc, err := scheduler.New(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)

	if got := overdue(t, reader); len(got) != 0 {
		t.Errorf("before any run: %v", got)
	}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	create := func(mode, state string, forecast bool, reasons map[string]int) {
		t.Helper()
		n++
		at := base.Add(time.Duration(n) * time.Hour)
		r := store.Run{ID: "run-" + string(rune('a'+n)), Institution: inst, Mode: mode, State: state, Forecast: forecast,
			AsOf: at, InactivityMonths: 36, CreatedAt: at, UpdatedAt: at, Reasons: reasons}
		if err := st.Runs().Create(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	want := func(debt, credit, sub, hold int64) map[string]int64 {
		return map[string]int64{inst + "/debt": debt, inst + "/credit": credit, inst + "/active_subscription": sub, inst + "/legal_hold": hold}
	}
	check := func(when string, w map[string]int64) {
		t.Helper()
		got := overdue(t, reader)
		for k, v := range w {
			if got[k] != v {
				t.Errorf("%s: %s = %d, want %d (all %v)", when, k, got[k], v, got)
			}
		}
		if len(got) != len(w) {
			t.Errorf("%s: series %v, want %v", when, got, w)
		}
	}

	create(store.ModeSimulation, store.RunPlanned, false, map[string]int{"debt": 3, "legal_hold": 1, "became_active": 9})
	check("after a simulation", want(3, 0, 0, 1))
	create(store.ModeSimulation, store.RunPlanned, true, map[string]int{"debt": 50})
	create(store.ModeExecute, store.RunFailed, false, map[string]int{"debt": 60})
	create(store.ModeApply, store.RunExecuting, false, map[string]int{"debt": 70})
	check("after a forecast, a failed and an executing run", want(3, 0, 0, 1))
	create(store.ModeApply, store.RunCompleted, false, map[string]int{"debt": 2, "credit": 4, "active_subscription": 1})
	check("after a completed apply", want(2, 4, 1, 0))
}
