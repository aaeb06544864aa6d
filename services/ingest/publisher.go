package ingest

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"

	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// ErrNotConnected is returned, wrapped in ErrUnavailable, while the NATS connection is down.
var ErrNotConnected = errors.New("ingest: not connected to NATS")

// connectedPublisher refuses at once while the connection is down. Publishing then would
// put the events in nats.go's reconnect buffer: the request would wait for the whole ack
// timeout, and after the 503 had gone out the buffer could still deliver some of them,
// half-accepting a request the client was told to resend.
type connectedPublisher struct {
	pub *bus.Publisher
	nc  *nats.Conn
}

var _ Publisher = connectedPublisher{}

func (p connectedPublisher) PublishBatch(ctx context.Context, batch []bus.Outgoing) error {
	if p.nc != nil && !p.nc.IsConnected() {
		return ErrNotConnected
	}
	return p.pub.PublishBatch(ctx, batch)
}
