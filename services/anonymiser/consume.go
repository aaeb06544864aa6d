package anonymiser

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// commandHandler is the port from LETHE_COMMANDS to Execute: a malformed command is dead-
// lettered with its reason, a refused one audited and dead-lettered, a store or bus failure
// naked for a later retry.
func commandHandler(s *Service) bus.Handler {
	return func(ctx context.Context, m *bus.Message) error {
		cmd, err := retention.CommandOf(m.Event)
		if err != nil {
			return bus.Permanent(err)
		}
		_, err = s.Execute(ctx, cmd)
		switch {
		case errors.Is(err, ErrRefused):
			// Audited before it is dead-lettered; if the audit cannot be written now the
			// command is retried, and refused again.
			if aerr := s.refuse(ctx, cmd, err); aerr != nil {
				return aerr
			}
			return bus.Permanent(err)
		case errors.Is(err, ErrInvalidCommand):
			return bus.Permanent(err)
		case err != nil && cmd.RequestID != "" && lastDelivery(m.Deliveries, s.commandMaxDeliver):
			// The last delivery: the request is marked failed, loudly, before the command is
			// dead-lettered; if even that cannot be written, the command is retried once more.
			if ferr := s.failRequest(ctx, cmd, err); ferr != nil {
				return ferr
			}
			return bus.Permanent(err)
		}
		return err
	}
}

// errProjectionBehind: the projection has not folded the events before an erasure request
// yet; the request is retried later rather than decided on stale facts.
var errProjectionBehind = errors.New("anonymiser: projection behind the erasure request")

// requestHandler turns lethe.erasure.requested.v1 into a request and its command, once the
// projection has caught up with the stream position of the request.
func requestHandler(s *Service, js jetstream.JetStream, wait time.Duration) bus.Handler {
	return func(ctx context.Context, m *bus.Message) error {
		if m.Event.Type() != events.TypeErasureRequested {
			return nil // not ours: the filter should not deliver it
		}
		if _, err := events.Decode(m.Event); err != nil {
			return bus.Permanent(fmt.Errorf("invalid erasure request: %w", err))
		}
		if err := projectionCaughtUp(ctx, js, m.Sequence, wait); err != nil {
			return err
		}
		inst := events.Institution(m.Event)
		_, err := s.RequestErasure(ctx, store.Request{
			ID:          requestIDOfEvent(inst, m.Event.Source(), m.Event.ID()),
			Institution: inst, ContactID: m.Event.Subject(),
			Origin: store.OriginEvent, RequestedBy: "source:" + m.Event.Source(),
		})
		if errors.Is(err, ErrInvalidCommand) {
			return bus.Permanent(err)
		}
		return err
	}
}

// projectionCaughtUp waits up to wait for the recency consumer's (bus.DurableRecency) ack
// floor to reach seq: every activity event up to the request is then folded into the
// projection, so an erasure requested by event is decided on the facts before it.
func projectionCaughtUp(ctx context.Context, js jetstream.JetStream, seq uint64, wait time.Duration) error {
	err := bus.WaitAcknowledgedTo(ctx, js, bus.StreamActivity, bus.DurableRecency, seq, wait)
	if errors.Is(err, bus.ErrBehind) {
		return fmt.Errorf("%w: %w", errProjectionBehind, err)
	}
	return err
}

// confirmationHandler is the port from lethe.erasure.confirmed.v1 on LETHE_ACTIVITY to
// Confirm: ingest let only a destination's own confirmations through, so what cannot be
// decoded or names a destination that does not follow the institution is dead-lettered.
func confirmationHandler(s *Service) bus.Handler {
	return func(ctx context.Context, m *bus.Message) error {
		if m.Event.Type() != events.TypeErasureConfirmed {
			return nil // not ours: the filter should not deliver it
		}
		d, err := events.Decode(m.Event)
		if err != nil {
			return bus.Permanent(fmt.Errorf("invalid erasure confirmation: %w", err))
		}
		c, _ := d.(*events.ErasureConfirmed)
		if c == nil {
			return bus.Permanent(fmt.Errorf("invalid erasure confirmation: data of %T", d))
		}
		_, err = s.Confirm(ctx, Confirmation{EventID: m.Event.ID(), Institution: events.Institution(m.Event),
			ContactID: m.Event.Subject(), Data: *c})
		if errors.Is(err, ErrForeignConfirmation) {
			return bus.Permanent(err)
		}
		return err
	}
}

// lastDelivery reports whether delivery n is the last one of maxDeliver (at least 1, as
// WithCommandRetries checks).
func lastDelivery(n uint64, maxDeliver int) bool {
	return maxDeliver > 0 && n >= uint64(maxDeliver) //nolint:gosec // maxDeliver > 0 checked
}
