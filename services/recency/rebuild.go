package recency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// ErrStreamTrimmed: LETHE_ACTIVITY no longer holds its first events (they aged out past the
// stream's max age), so a rebuild would forget the contacts whose only events are gone.
var ErrStreamTrimmed = errors.New("recency: the activity stream no longer starts at its first event")

// rebuildBatch is how many events one fetch and one fold carry during a rebuild.
const rebuildBatch = 1000

// RebuildStats says what a rebuild did.
type RebuildStats struct {
	Institutions int
	Reset        int // active contacts cleared before the replay
	Events       int // events folded
	Skipped      int // events that no longer decode (they are in the dead letters)
	Duration     time.Duration
}

// Rebuild recomputes the projection from the start of LETHE_ACTIVITY: it clears every active
// contact, then folds the whole stream again, in order, up to its last event at the start.
// Erased contacts (anonymised, deleted) keep what the anonymiser left, since no event can
// bring back what their erasure removed. The fold is idempotent, so the live consumer, which
// resumes from its own position afterwards, re-folds its tail harmlessly and the result is
// the projection the live consumer built.
//
// It must run while no service reads the projection (`lethe serve --rebuild-projection` does
// it before the services start). It refuses a stream whose first events aged out
// (ErrStreamTrimmed): clearing would then lose contacts the stream can no longer rebuild.
func Rebuild(ctx context.Context, js jetstream.JetStream, contacts store.Contacts, log *slog.Logger) (RebuildStats, error) {
	start := time.Now()
	var st RebuildStats
	stream, err := js.Stream(ctx, bus.StreamActivity)
	if err != nil {
		return st, fmt.Errorf("recency: rebuild: %w", err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(bus.ActivitySubject("*", ">")))
	if err != nil {
		return st, fmt.Errorf("recency: rebuild: stream info: %w", err)
	}
	last := info.State.LastSeq
	if info.State.Msgs > 0 && info.State.FirstSeq > 1 {
		return st, fmt.Errorf("%w: it starts at sequence %d of %d", ErrStreamTrimmed, info.State.FirstSeq, last)
	}
	institutions := map[string]bool{}
	for subject := range info.State.Subjects {
		if parts := strings.SplitN(subject, ".", 4); len(parts) == 4 {
			institutions[parts[2]] = true
		}
	}
	st.Institutions = len(institutions)

	for inst := range institutions {
		var active []store.Contact
		if err := contacts.Scan(ctx, inst, "", func(c store.Contact) error {
			if c.Status == store.StatusActive || c.Status == "" {
				active = append(active, store.Contact{Institution: c.Institution, ID: c.ID, Version: c.Version})
			}
			return nil
		}); err != nil {
			return st, fmt.Errorf("recency: rebuild: scan %s: %w", inst, err)
		}
		for _, c := range active {
			if err := contacts.Delete(ctx, c.Institution, c.ID, c.Version); err != nil {
				return st, fmt.Errorf("recency: rebuild: clear %s/%s: %w", c.Institution, c.ID, err)
			}
		}
		st.Reset += len(active)
	}
	if last == 0 {
		st.Duration = time.Since(start)
		return st, nil
	}

	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return st, fmt.Errorf("recency: rebuild: consumer: %w", err)
	}
	uc := NewRecordActivity(contacts)
	for done := false; !done; {
		msgs, err := cons.Fetch(rebuildBatch, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return st, fmt.Errorf("recency: rebuild: fetch: %w", err)
		}
		acts := make([]Activity, 0, rebuildBatch)
		n := 0
		for msg := range msgs.Messages() {
			n++
			md, err := msg.Metadata()
			if err != nil {
				return st, fmt.Errorf("recency: rebuild: %w", err)
			}
			if md.Sequence.Stream >= last {
				done = true
			}
			if md.Sequence.Stream > last {
				continue // arrived after the rebuild started: the live consumer folds it
			}
			e, err := bus.DecodeEvent(msg.Headers(), msg.Data())
			if err != nil {
				st.Skipped++
				continue
			}
			a, err := activityFrom(&bus.Message{Event: e})
			if err != nil {
				st.Skipped++
				continue
			}
			acts = append(acts, a)
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return st, fmt.Errorf("recency: rebuild: fetch: %w", err)
		}
		if err := uc.Handle(ctx, acts); err != nil {
			return st, fmt.Errorf("recency: rebuild: fold: %w", err)
		}
		st.Events += len(acts)
		if n == 0 && !done {
			return st, fmt.Errorf("recency: rebuild: the stream stopped before sequence %d", last)
		}
		if log != nil && n > 0 {
			log.DebugContext(ctx, "projection rebuild", "events", st.Events, "of", last)
		}
	}
	st.Duration = time.Since(start)
	return st, nil
}
