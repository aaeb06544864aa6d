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

// traceHeadroom is what the publisher may add to an event after EncodedSize measured it:
// the traceparent (55 bytes) and a tracestate (at most 512 by W3C), with their header names.
const traceHeadroom = 1 << 10

// maxEventBytes is how much of the connection's max payload one event may take, leaving room
// for the trace headers; 0 while unknown (not connected). It is read per request: the limit
// is the server's, and a reconnect may reach another server.
func (p connectedPublisher) maxEventBytes() int {
	if p.nc == nil {
		return 0
	}
	m := p.nc.MaxPayload()
	if m <= traceHeadroom {
		return 0
	}
	return int(m) - traceHeadroom
}
