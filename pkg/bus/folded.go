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
	target := info.State.LastSeq
	if info.State.Msgs == 0 || target == 0 {
		return nil
	}
	deadline := time.Now().Add(wait)
	var floor uint64
	for {
		if c, err := s.Consumer(ctx, durable); err == nil {
			if ci, err := c.Info(ctx); err == nil {
				floor = ci.AckFloor.Stream
				if floor >= target {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s has acknowledged %s up to %d of %d after %v", ErrBehind, durable, stream, floor, target, wait)
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
