package scheduler_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
	"github.com/lethe-gdpr/lethe/services/scheduler"
)

// An execute run decides as of now: an activity accepted before it started (202 from ingest,
// durable on LETHE_ACTIVITY) but not yet folded into the projection must count. Without the
// wait, a contact who was active a moment ago is erased on the projection's stale recency.
// Found trying the README as a stranger: `lethe send` then `lethe runs start` planned a
// fraction of the institution, the rest still in flight.
func testRunWaitsForTheProjection(t *testing.T, open func(t *testing.T) store.Store) {
	h := newHarness(t, open)
	ctx := t.Context()
	stale := contact(inst, "c-active-a-moment-ago", nil)
	if _, err := h.store.Contacts().Put(ctx, stale); err != nil {
		t.Fatal(err)
	}
	// Recency's durable exists and has folded nothing yet; the activity is on the stream.
	cons, err := h.js.CreateOrUpdateConsumer(ctx, bus.StreamActivity, jetstream.ConsumerConfig{
		Durable: bus.DurableRecency, AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(map[string]any{"campaign_id": "cmp", "link_id": "l", "clicked_at": asOf.Add(-time.Hour)})
	if _, err := h.js.Publish(ctx, "lethe.activity."+inst+".lethe.campaign.link.clicked.v1", data); err != nil {
		t.Fatal(err)
	}

	run := h.startRun(t, tokErase, `{"mode": "execute"}`, 202)
	// While the activity is unfolded the run plans nothing.
	testkit.Eventually(t, "the run waiting in planning", func() error {
		r, err := h.store.Runs().Get(ctx, inst, run.ID)
		if err != nil {
			return err
		}
		return testkit.Equal("state", r.State, store.RunPlanning)
	})
	items, err := h.store.RunItems().Page(ctx, inst, run.ID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 0 {
		t.Fatalf("the run planned %d items before the projection folded what was accepted: %+v", len(items), items)
	}

	// Recency folds the click (the stand-in writes what the fold would), then acknowledges.
	msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range msgs.Messages() {
		fresh, err := h.store.Contacts().Get(ctx, inst, stale.ID)
		if err != nil {
			t.Fatal(err)
		}
		fresh.Recency = asOf.Add(-time.Hour)
		fresh.RecencySource = src("click", "lethe.campaign.link.clicked.v1", fresh.Recency)
		if _, err := h.store.Contacts().Put(ctx, fresh); err != nil {
			t.Fatal(err)
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	done := awaitRun(t, h.store, run.ID, store.RunCompleted)
	if n := done.Planned[store.OutcomeDelete] + done.Planned[store.OutcomeAnonymise]; n != 0 {
		t.Fatalf("the run planned %d erasures of a contact active before it started", n)
	}
}

// A projection that does not catch up fails the run with a reason that says so, rather than
// deciding on stale facts or waiting for ever.
func testRunFailsWhenTheProjectionStaysBehind(t *testing.T, open func(t *testing.T) store.Store) {
	h := newHarness(t, open, scheduler.WithProjectionWait(300*time.Millisecond))
	ctx := t.Context()
	if _, err := h.js.CreateOrUpdateConsumer(ctx, bus.StreamActivity, jetstream.ConsumerConfig{
		Durable: bus.DurableRecency, AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.js.Publish(ctx, "lethe.activity."+inst+".lethe.waitlist.joined.v1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	run := h.startRun(t, tokErase, `{"mode": "execute"}`, 202)
	var failed store.Run
	testkit.Eventually(t, "the run failed", func() error {
		var err error
		failed, err = h.store.Runs().Get(context.WithoutCancel(ctx), inst, run.ID)
		if err != nil {
			return err
		}
		return testkit.Equal("state", failed.State, store.RunFailed)
	})
	if want := "projection"; !strings.Contains(failed.Error, want) {
		t.Fatalf("run error %q does not name the %s", failed.Error, want)
	}
}
