package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers added to a dead letter, beside the original message's own headers.
const (
	HeaderDLQReason     = "Lethe-Dlq-Reason"
	HeaderDLQStream     = "Lethe-Dlq-Stream"
	HeaderDLQSubject    = "Lethe-Dlq-Subject"
	HeaderDLQSequence   = "Lethe-Dlq-Sequence"
	HeaderDLQDeliveries = "Lethe-Dlq-Deliveries"
	HeaderDLQConsumer   = "Lethe-Dlq-Consumer"
	// HeaderDLQMsgID keeps the original Nats-Msg-Id, which the dead letter cannot reuse: it
	// is deduplicated on its own id, <stream>:<sequence>.
	HeaderDLQMsgID = "Lethe-Dlq-Original-Msg-Id"
	// HeaderDLQDropped says what a redaction dropped from the original (sizes and why, never
	// a value), when it could not keep the message in a form erasure reaches.
	HeaderDLQDropped = "Lethe-Dlq-Dropped"
)

// termMarker starts the reason of a Term sent after the message was dead-lettered, so the
// terminated advisory that follows is not dead-lettered a second time.
const termMarker = "lethe-dlq: "

// maxReasonLen keeps a reason header readable and bounded.
const maxReasonLen = 512

// Letter is a message to dead-letter: where it came from and what it held.
type Letter struct {
	Stream     string // stream the message was stored on; names the DLQ subject
	Subject    string // its original subject
	Sequence   uint64 // its stream sequence (0 if unknown: then it is not deduplicated)
	Deliveries uint64 // how many times it was delivered
	Consumer   string // the durable that gave up on it
	Header     nats.Header
	Data       []byte
}

// Redaction rewrites a message about to be dead-lettered, and its reason, so that the dead
// letter keeps no personal value in clear: sealed under the contact's key, or dropped
// (Letter.Dropped). It returns new Header and Data rather than changing l's, which belong to
// the delivery. An error means "not now" (a key store down): the consumer keeps the message
// for redelivery; the advisory watcher, which cannot retry, stores it Dropped instead.
// Stream, Subject, Sequence, Deliveries and Consumer are kept whatever it returns.
type Redaction func(ctx context.Context, l Letter, reason string) (Letter, string, error)

// Dropped is l without its body and its headers (but Nats-Msg-Id, an id), with
// HeaderDLQDropped saying how many bytes and headers went and why. why must be plain text
// without personal data.
func (l Letter) Dropped(why string) Letter {
	n := 0
	for k := range l.Header {
		if !strings.EqualFold(k, HeaderMsgID) {
			n++
		}
	}
	h := nats.Header{}
	if id := l.Header.Get(HeaderMsgID); id != "" {
		h.Set(HeaderMsgID, id)
	}
	h.Set(HeaderDLQDropped, cleanReason(fmt.Sprintf("body (%d bytes) and %d headers dropped: %s", len(l.Data), n, why)))
	l.Header, l.Data = h, nil
	return l
}

// redacted applies redact to l, keeping what says where the message came from.
func redacted(ctx context.Context, redact Redaction, l Letter, reason string) (Letter, string, error) {
	if redact == nil {
		return l, reason, nil
	}
	out, r, err := redact(ctx, l, reason)
	if err != nil {
		return Letter{}, "", err
	}
	out.Stream, out.Subject, out.Sequence, out.Deliveries, out.Consumer = l.Stream, l.Subject, l.Sequence, l.Deliveries, l.Consumer
	return out, r, nil
}

// LetterFromMsg describes a message received from a JetStream consumer.
func LetterFromMsg(msg jetstream.Msg) Letter {
	l := Letter{Subject: msg.Subject(), Header: msg.Headers(), Data: msg.Data()}
	if md, err := msg.Metadata(); err == nil {
		l.Stream, l.Sequence, l.Deliveries, l.Consumer = md.Stream, md.Sequence.Stream, md.NumDelivered, md.Consumer
	}
	return l
}

// DeadLetter stores l on LETHE_DLQ, subject lethe.dlq.<stream>, with its original body and
// headers and the Lethe-Dlq-* headers; reason must be plain text without personal data. The
// dead letter's Nats-Msg-Id is <stream>:<sequence>, so dead-lettering the same message twice
// (at the point of failure, then from an advisory) stores it once. JetStream's reserved
// Nats-* headers of the original are not copied, as they would steer the new publish; its
// Nats-Msg-Id is kept as Lethe-Dlq-Original-Msg-Id.
func DeadLetter(ctx context.Context, js jetstream.JetStream, reason string, l Letter) error {
	if l.Stream == "" {
		return fmt.Errorf("%w: dead letter without a stream", ErrInvalidConfig)
	}
	h := make(nats.Header, len(l.Header)+8)
	for k, vs := range l.Header {
		if strings.HasPrefix(strings.ToLower(k), "nats-") {
			continue
		}
		h[k] = vs
	}
	if id := l.Header.Get(HeaderMsgID); id != "" {
		h.Set(HeaderDLQMsgID, id)
	}
	h.Set(HeaderDLQReason, cleanReason(reason))
	h.Set(HeaderDLQStream, l.Stream)
	h.Set(HeaderDLQSubject, l.Subject)
	h.Set(HeaderDLQSequence, strconv.FormatUint(l.Sequence, 10))
	h.Set(HeaderDLQDeliveries, strconv.FormatUint(l.Deliveries, 10))
	h.Set(HeaderDLQConsumer, l.Consumer)
	if l.Sequence > 0 {
		h.Set(HeaderMsgID, l.Stream+":"+strconv.FormatUint(l.Sequence, 10))
	}
	msg := &nats.Msg{Subject: DLQSubject(l.Stream), Header: h, Data: l.Data}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("bus: dead-letter %s:%d: %w", l.Stream, l.Sequence, err)
	}
	return nil
}

// cleanReason makes a reason fit a header: one line, bounded.
func cleanReason(reason string) string {
	reason = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(reason))
	if reason == "" {
		reason = "unspecified"
	}
	return truncate(reason, maxReasonLen)
}

// advisory holds the fields shared by JetStream's max-deliveries and terminated advisories.
type advisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
	Reason     string `json:"reason"`
}

const (
	advisoryMaxDeliveries = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"
	advisoryTerminated    = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED"
	// advisoryQueue makes replicas of a service share advisories instead of each handling
	// every one (dedupe would absorb the repeats, at the cost of a GetMsg each).
	advisoryQueue = "lethe-dlq"
)

// watcher dead-letters the messages that advisories report as given up on.
type watcher struct {
	js     jetstream.JetStream
	log    *slog.Logger
	ctx    context.Context
	redact Redaction
}

// startAdvisoryWatch subscribes to the advisories of stream's consumer durable ("*" for
// all). The returned stop unsubscribes.
func startAdvisoryWatch(ctx context.Context, js jetstream.JetStream, stream, durable string, log *slog.Logger, redact Redaction) (func(), error) {
	w := &watcher{js: js, log: log, ctx: context.WithoutCancel(ctx), redact: redact}
	nc := js.Conn()
	var subs []*nats.Subscription
	stop := func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}
	for _, pre := range []string{advisoryMaxDeliveries, advisoryTerminated} {
		s, err := nc.QueueSubscribe(pre+"."+stream+"."+durable, advisoryQueue, w.handle)
		if err != nil {
			stop()
			return nil, fmt.Errorf("bus: watch advisories of %s.%s: %w", stream, durable, err)
		}
		subs = append(subs, s)
	}
	// The subscriptions must be registered before the first delivery can fail.
	if err := nc.Flush(); err != nil {
		stop()
		return nil, fmt.Errorf("bus: watch advisories of %s.%s: %w", stream, durable, err)
	}
	return stop, nil
}

// WatchDeadLetters dead-letters, until ctx ends, every message that the consumer durable of
// stream ("*": any consumer of stream) gave up on without dead-lettering it: deliveries
// exhausted (a consumer that crashed or never acked) or terminated by other code. Consume
// and ConsumeBatch run it for their own consumer; run it beside consumers of your own.
// Advisories are not stored, so a message given up on while no watcher runs stays in its
// stream un-dead-lettered.
func WatchDeadLetters(ctx context.Context, js jetstream.JetStream, stream, durable string, opts ...Option) error {
	o, err := buildOptions(opts)
	if err != nil {
		return err
	}
	stop, err := startAdvisoryWatch(ctx, js, stream, durable, o.logger, o.redact)
	if err != nil {
		return err
	}
	<-ctx.Done()
	stop()
	return nil
}

func (w *watcher) handle(msg *nats.Msg) {
	var a advisory
	if err := json.Unmarshal(msg.Data, &a); err != nil || a.Stream == "" || a.StreamSeq == 0 {
		w.log.Warn("bus: unreadable consumer advisory", "subject", msg.Subject)
		return
	}
	// own is what the bus itself says, free of anything the message or its terminator wrote.
	var reason, own string
	if strings.HasPrefix(msg.Subject, advisoryTerminated) {
		if strings.HasPrefix(a.Reason, termMarker) {
			return // dead-lettered before it was terminated
		}
		reason, own = "terminated", "terminated"
		if a.Reason != "" {
			reason += ": " + a.Reason
		}
	} else {
		reason = fmt.Sprintf("max deliveries reached (%d) without an ack", a.Deliveries)
		own = reason
	}
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	reason, err := w.deadLetterSeq(ctx, a, reason, own)
	if err != nil {
		w.log.Error("bus: dead-letter from advisory failed", "stream", a.Stream, "seq", a.StreamSeq,
			"consumer", a.Consumer, "error", err)
		return
	}
	w.log.Warn("bus: message dead-lettered", "stream", a.Stream, "seq", a.StreamSeq,
		"consumer", a.Consumer, "deliveries", a.Deliveries, "reason", reason)
}

// deadLetterSeq fetches the original by stream sequence, redacts it and dead-letters it,
// returning the reason stored. An advisory is not redelivered, so a redaction that fails
// leaves a Dropped letter with only the bus's own reason rather than nothing.
func (w *watcher) deadLetterSeq(ctx context.Context, a advisory, reason, own string) (string, error) {
	s, err := w.js.Stream(ctx, a.Stream)
	if err != nil {
		return reason, err
	}
	raw, err := s.GetMsg(ctx, a.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		// Gone already (a work queue removes what is terminated, or max age passed): the
		// consumer dead-lettered it at the point of failure, or there is nothing to keep.
		return reason, nil
	}
	if err != nil {
		return reason, err
	}
	l := Letter{
		Stream: a.Stream, Subject: raw.Subject, Sequence: a.StreamSeq, Deliveries: a.Deliveries,
		Consumer: a.Consumer, Header: raw.Header, Data: raw.Data,
	}
	rl, rr, err := redacted(ctx, w.redact, l, reason)
	if err != nil {
		w.log.Error("bus: dead-letter redaction failed; the body is dropped", "stream", a.Stream, "seq", a.StreamSeq, "error", err)
		rl, rr = l.Dropped("the redaction failed"), own
	}
	return rr, DeadLetter(ctx, w.js, rr, rl)
}
