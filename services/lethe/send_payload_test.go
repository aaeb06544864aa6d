package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// overPayload answers like ingest for an event over the bus's payload limit: 413 naming by
// index every such event (here, the test double's "bad" ones), the batch rejected whole.
func overPayload(_ int, w http.ResponseWriter, _ *http.Request, ids []string) bool {
	var bad []api.InvalidParam
	for i, id := range ids {
		if strings.HasPrefix(id, "bad:") {
			bad = append(bad, api.InvalidParam{Index: &i, Pointer: "", Detail: fmt.Sprintf("event %q is 1500000 bytes sealed and encoded, over the bus's limit", strings.TrimPrefix(id, "bad:"))})
		}
	}
	if len(bad) > 0 {
		problem(w, http.StatusRequestEntityTooLarge, "", bad...)
		return true
	}
	return false
}

// A 413 that names events is their permanent rejection: each is reported by line with the
// server's reason, the others of its batch are sent again without them, and nothing is
// retried or split further.
func TestSendTreatsEventsOverThePayloadLimitAsRejected(t *testing.T) {
	f := newFakeIngest(t, overPayload)
	bad := map[int]bool{4: true, 25: true}
	path, ids := writeEvents(t, 30, bad)
	res, stderr, err := testSend(context.Background(), t, f.srv.URL, path, sendConfig{KeepGoing: true, Concurrency: 1}, nil)
	if !errors.Is(err, errRejected) {
		t.Fatalf("err = %v, want errRejected", err)
	}
	for i := range bad {
		if want := fmt.Sprintf("line %d: rejected: (the event) event \"e%05d\" is 1500000 bytes", i+1, i); !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "retrying") {
		t.Errorf("a 413 was retried:\n%s", stderr)
	}
	stored := f.stored()
	slices.Sort(stored)
	if !slices.Equal(stored, ids) || res.Sent != int64(len(ids)) || res.Rejected != int64(len(bad)) {
		t.Fatalf("stored %d, sent %d, rejected %d; want %d, %d, %d", len(stored), res.Sent, res.Rejected, len(ids), len(ids), len(bad))
	}
	// Three batches of 10, two of them answered 413 once and sent again without their event.
	if f.reqs != 5 {
		t.Errorf("%d requests, want 5: a 413 naming its events is not split or retried", f.reqs)
	}
}
