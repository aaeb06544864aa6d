package scheduler_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/services/scheduler"
)

// itemsFailAfter is a store whose RunItems.Put fails from its (after+1)-th call on.
type itemsFailAfter struct {
	store.Store
	after int64
	calls atomic.Int64
}

func (s *itemsFailAfter) RunItems() store.RunItems { return failingItems{s.Store.RunItems(), s} }

type failingItems struct {
	store.RunItems
	s *itemsFailAfter
}

func (f failingItems) Put(ctx context.Context, items []store.RunItem) error {
	if f.s.calls.Add(1) > f.s.after {
		return errors.New("disk full")
	}
	return f.RunItems.Put(ctx, items)
}

// The report is written while the scan goes on; a write that fails fails the run (its error
// says so) instead of leaving a report with a hole in it.
func TestSimulationFailsWhenItsItemsCannotBeWritten(t *testing.T) {
	t.Parallel()
	st := &itemsFailAfter{Store: openPebble(t), after: 2}
	ctx := t.Context()
	var batch []store.Contact
	for i := range 40 {
		batch = append(batch, benchContact(i, true))
	}
	if _, err := st.Contacts().PutMany(ctx, batch); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(*testing.T) store.Store { return st })
	svc, _ := h.serve(t) // batches of 4 items: the third write fails
	run, err := svc.StartRun(ctx, scheduler.RunRequest{Institution: inst})
	if err != nil {
		t.Fatal(err)
	}
	if run, err = svc.Wait(ctx, inst, run.ID); err != nil {
		t.Fatal(err)
	}
	if run.State != store.RunFailed || !strings.Contains(run.Error, "disk full") {
		t.Fatalf("run ended %s (%q), want failed with the write error", run.State, run.Error)
	}
}
