package anonymiser

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// Run says it runs only once its three consumers (and the requests sweep) pull from durables that exist on the server, and
// says it no longer does once it returned: /readyz rests on it.
func TestRunReportsItsConsumersRunning(t *testing.T) {
	t.Parallel()
	r := newRig(t, backendtest.Pebble(t))
	both := []string{bus.DurableCommands, bus.DurableErasureRequests, sweepPart, bus.DurableConfirmations}
	if got := r.svc.NotRunning(); !slices.Equal(got, both) {
		t.Fatalf("before Run, NotRunning = %v, want %v", got, both)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.svc.Run(ctx) }()
	testkit.Eventually(t, "the anonymiser's consumers running", func() error {
		if got := r.svc.NotRunning(); len(got) != 0 {
			return fmt.Errorf("not running: %v", got)
		}
		return nil
	})
	for _, c := range []struct{ stream, durable string }{
		{bus.StreamCommands, bus.DurableCommands}, {bus.StreamActivity, bus.DurableErasureRequests},
		{bus.StreamActivity, bus.DurableConfirmations},
	} {
		if _, err := r.js.Consumer(t.Context(), c.stream, c.durable); err != nil {
			t.Errorf("running, but consumer %s on %s: %v", c.durable, c.stream, err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
	if got := r.svc.NotRunning(); !slices.Equal(got, both) {
		t.Fatalf("after Run, NotRunning = %v, want %v", got, both)
	}
}
