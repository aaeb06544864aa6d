package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
)

// handler erases and confirms one outcome of LETHE_RESULTS.
type handler struct {
	store       *store
	confirm     confirmer
	source      string
	destination string
	log         *slog.Logger
}

// handle reads the outcome; for an anonymisation or a deletion it erases the contact from the
// store, then confirms. Skips and run completions erase nothing and are only acknowledged.
func (h handler) handle(ctx context.Context, m jetstream.Msg) error {
	e, err := events.ReadBinary(m.Headers(), m.Data())
	if err != nil {
		if e, err = events.ParseStructured(m.Data()); err != nil {
			h.log.Error("not a CloudEvent: skipped", "subject", m.Subject())
			return nil // never readable: do not block the consumer on it
		}
	}
	switch e.Type() {
	case events.TypeContactAnonymised, events.TypeContactDeleted:
	default:
		return nil
	}
	if _, err := events.Decode(e); err != nil {
		h.log.Error("invalid outcome: skipped", "id", e.ID(), "error", err)
		return nil
	}
	contact := e.Subject()
	if err := h.store.erase(contact); err != nil {
		return fmt.Errorf("erase %s: %w", contact, err)
	}
	conf, err := events.New(h.source, events.Institution(e), contact, events.ErasureConfirmed{
		Destination: h.destination, OutcomeID: e.ID(), ConfirmedAt: time.Now().UTC(),
	}, events.WithID(h.destination+"-"+e.ID())) // one id per outcome: a resent confirmation is deduplicated
	if err != nil {
		return err
	}
	if err := h.confirm(ctx, conf); err != nil {
		return fmt.Errorf("confirm %s: %w", e.ID(), err)
	}
	h.log.Info("erased and confirmed", "contact", contact, "outcome", e.ID())
	return nil
}

// confirmer sends a lethe.erasure.confirmed.v1.
type confirmer func(ctx context.Context, e event.Event) error
