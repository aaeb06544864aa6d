package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
)

// httpConfirmer posts the confirmation to Lethe's POST /v1/events (structured mode) with a
// token whose lethe.yaml entry names this destination. 202 means it is stored durably.
func httpConfirmer(base, token string) confirmer {
	return func(ctx context.Context, e event.Event) error {
		body, err := events.MarshalStructured(e)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/events", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", events.MediaTypeStructured)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return fmt.Errorf("POST /v1/events: %d %s", resp.StatusCode, b)
		}
		return nil
	}
}

// natsConfirmer publishes the confirmation to lethe.inbox.<institution>.<destination>, the
// subject Lethe's bus grants only to a user speaking for the destination, as a JetStream
// publish (the ack says it is stored) in binary mode, deduplicated on its id.
func natsConfirmer(js jetstream.JetStream, institution, destination string) confirmer {
	subject := "lethe.inbox." + institution + "." + destination
	return func(ctx context.Context, e event.Event) error {
		m := nats.NewMsg(subject)
		body, err := events.WriteBinary(e, m.Header.Set)
		if err != nil {
			return err
		}
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, e.ID())
		_, err = js.PublishMsg(ctx, m)
		return err
	}
}
