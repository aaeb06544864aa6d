package bustest

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// Stored returns every message stored on the stream, in sequence order, without consuming
// any: what a test inspects of LETHE_RESULTS, LETHE_DLQ or LETHE_ACTIVITY. Messages removed
// between the stream's info and their read (a work queue, max age) are skipped.
func Stored(t testing.TB, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("%s #%d: %v", stream, seq, err)
		}
		out = append(out, m)
	}
	return out
}

// WaitCaughtUp waits until the durable consumer of stream has acknowledged every message it
// was given: nothing pending, nothing awaiting its ack.
func WaitCaughtUp(t testing.TB, js jetstream.JetStream, stream, durable string) {
	t.Helper()
	ctx := context.Background()
	testkit.Eventually(t, durable+" to catch up with "+stream, func() error {
		c, err := js.Consumer(ctx, stream, durable)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		return testkit.Equal("pending and unacknowledged", [2]uint64{info.NumPending, uint64(info.NumAckPending)}, [2]uint64{0, 0})
	})
}
