package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrBehind: a durable consumer had not acknowledged a stream's messages within the wait.
var ErrBehind = errors.New("bus: consumer behind its stream")

// WaitAcknowledged waits up to wait until durable has acknowledged (or terminated) every
// message stream held when it was called: what was accepted before a decision is then folded
// into what the decision reads. A stream with no message needs no consumer; a stream with
// messages and no such consumer yet is behind.
func WaitAcknowledged(ctx context.Context, js jetstream.JetStream, stream, durable string, wait time.Duration) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("bus: %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("bus: %s: %w", stream, err)
	}
	if info.State.Msgs == 0 || info.State.LastSeq == 0 {
		return nil
	}
	return WaitAcknowledgedTo(ctx, js, stream, durable, info.State.LastSeq, wait)
}

// WaitAcknowledgedTo waits up to wait until durable's ack floor on stream reaches seq: every
// message up to that stream position has then been handled. A consumer that does not exist
// yet is behind. The consumer is looked up once it exists; after that only its info is read.
// durable is taken to consume the whole stream (recency's does): a filtered consumer's ack
// floor need not reach a position its filter leaves out.
func WaitAcknowledgedTo(ctx context.Context, js jetstream.JetStream, stream, durable string, seq uint64, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	var c jetstream.Consumer
	var floor uint64
	for {
		var ci *jetstream.ConsumerInfo
		if c == nil {
			if found, err := js.Consumer(ctx, stream, durable); err == nil {
				c, ci = found, found.CachedInfo() // the lookup has just read its info
			}
		} else if i, err := c.Info(ctx); err == nil {
			ci = i
		} else if errors.Is(err, jetstream.ErrConsumerNotFound) {
			c = nil // deleted meanwhile: looked up again, as it may be recreated
		}
		if ci != nil {
			if floor = ci.AckFloor.Stream; floor >= seq {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s has acknowledged %s up to %d of %d after %v", ErrBehind, durable, stream, floor, seq, wait)
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
