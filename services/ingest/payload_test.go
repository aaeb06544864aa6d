package ingest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
)

// An event bigger, once sealed and encoded, than the bus's max payload can never be stored:
// it is answered 413 naming the event (its index and id), before anything is published, so
// the batch is rejected whole and a client does not retry it. It was a 503 after the events
// before it had been stored.
func TestEventOverTheBusPayloadIsRejectedWholeWith413(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackConfig{})
	max := int(s.nc.MaxPayload())
	big := profileCreated("big@example.org", "Big", "Remark")
	// Sealing grows a value by a third (base64) at least: this one fits the body limit and
	// not the bus.
	big.Profile.Remark = events.String(strings.Repeat("r", max*4/5))
	small := func(contact string) event.Event { return mustEvent(t, instA, contact, click("k-1")) }
	es := []event.Event{small("c-1"), small("c-2"), mustEvent(t, instA, "c-big", big, events.WithID("ev-big")), small("c-3")}

	r := s.postBatch(tokenA, es)
	if r.status != http.StatusRequestEntityTooLarge || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("batch with an oversized event = %d %s %s, want 413 problem+json", r.status, r.header.Get("Content-Type"), r.body)
	}
	if r.header.Get("Retry-After") != "" {
		t.Errorf("a 413 carries Retry-After %q: it is never worth retrying", r.header.Get("Retry-After"))
	}
	if len(r.prob.Errors) != 1 || r.prob.Errors[0].Index == nil || *r.prob.Errors[0].Index != 2 ||
		!strings.Contains(r.prob.Errors[0].Detail, `"ev-big"`) {
		t.Fatalf("problem = %s, want one error at index 2 naming ev-big", fmtParams(r.prob.Errors))
	}
	if strings.Contains(string(r.body), "rrrr") {
		t.Error("the problem carries the event's content")
	}
	if got := s.activity(); len(got) != 0 {
		t.Fatalf("LETHE_ACTIVITY holds %d events of a rejected batch, want none", len(got))
	}
	// Alone, in structured mode: the same answer, without an index.
	r = s.postStructured(tokenA, es[2])
	if r.status != http.StatusRequestEntityTooLarge || len(r.prob.Errors) != 1 || r.prob.Errors[0].Index != nil {
		t.Fatalf("the oversized event alone = %d %s", r.status, r.body)
	}
}
