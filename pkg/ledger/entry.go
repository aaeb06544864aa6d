package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// Kinds of erasure, as the outcomes name them.
const (
	KindAnonymised = "anonymised"
	KindDeleted    = "deleted"
)

// ErrInvalid: an entry missing an id, or of an unknown kind.
var ErrInvalid = errors.New("ledger: invalid entry")

// Entry is one erasure. Every field is an id, a date or a name: the ledger is kept forever,
// so it must never hold a personal value.
type Entry struct {
	// ID is the erasure's outcome id: the Nats-Msg-Id, so a republished entry is stored once.
	ID          string    `json:"id"`
	Institution string    `json:"institution"`
	ContactID   string    `json:"contact_id"`
	Kind        string    `json:"kind"`
	At          time.Time `json:"at"`
	// Actor is who erased (run:<id> or request:<id>), as the contact's erased_by says.
	Actor     string `json:"actor"`
	RunID     string `json:"run_id,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// RequestReceivedAt is when the request was received: a request lost with a restore is
	// recreated, answered, with its own legal clock.
	RequestReceivedAt time.Time `json:"request_received_at,omitzero"`
	// Fields names the erased fields (names, never values).
	Fields []string `json:"fields,omitempty"`
}

func (e Entry) valid() error {
	switch {
	case e.ID == "" || e.Institution == "" || e.ContactID == "" || e.At.IsZero():
		return fmt.Errorf("%w: id, institution, contact and date are required", ErrInvalid)
	case e.Kind != KindAnonymised && e.Kind != KindDeleted:
		return fmt.Errorf("%w: kind %q", ErrInvalid, e.Kind)
	case !bus.ValidToken(e.Institution):
		return fmt.Errorf("%w: institution %q is not a subject token", ErrInvalid, e.Institution)
	}
	return nil
}

// Publisher writes entries to LETHE_ERASURES.
type Publisher struct{ js jetstream.JetStream }

// NewPublisher returns a publisher on js.
func NewPublisher(js jetstream.JetStream) *Publisher { return &Publisher{js: js} }

// Record publishes every entry asynchronously and returns once JetStream has acknowledged
// them all (one wait per batch, not per entry): only then may the erasures' outcomes be
// published or their commands acked. An entry published before (same ID) is deduplicated.
func (p *Publisher) Record(ctx context.Context, entries ...Entry) error {
	futures := make([]jetstream.PubAckFuture, 0, len(entries))
	for _, e := range entries {
		if err := e.valid(); err != nil {
			return err
		}
		e.At = e.At.UTC()
		data, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("ledger: encode %s: %w", e.ID, err)
		}
		m := nats.NewMsg(bus.ErasureSubject(e.Institution))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, e.ID)
		f, err := p.js.PublishMsgAsync(m, jetstream.WithExpectStream(bus.StreamErasures))
		if err != nil {
			return fmt.Errorf("ledger: publish %s: %w", e.ID, err)
		}
		futures = append(futures, f)
	}
	// Every future is waited for, even after a failure: none may land after Record returned.
	var first error
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if first == nil {
				first = fmt.Errorf("ledger: publish: %w", err)
			}
		case <-ctx.Done():
			if first == nil {
				first = ctx.Err()
			}
		}
	}
	return first
}
