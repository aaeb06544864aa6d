package bus

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Option configures a Publisher, a consumer or a dead-letter watcher.
type Option func(*options) error

type options struct {
	logger     *slog.Logger
	tp         trace.TracerProvider
	window     int
	ackTimeout time.Duration
	redact     Redaction
	started    func()
}

// WithLogger sets the logger (default: discard). Log lines carry ids, subjects and reasons,
// never event data.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidConfig)
		}
		o.logger = l
		return nil
	}
}

// WithTracerProvider sets where spans go (default: a no-op provider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) error {
		if tp == nil {
			return fmt.Errorf("%w: nil tracer provider", ErrInvalidConfig)
		}
		o.tp = tp
		return nil
	}
}

// WithPublishWindow bounds how many async publishes of one PublishBatch are awaiting their
// ack at once (default 1024). It must stay below the JetStream context's
// WithPublishAsyncMaxPending (default 4000), or publishes stall.
func WithPublishWindow(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: publish window %d", ErrInvalidConfig, n)
		}
		o.window = n
		return nil
	}
}

// WithAckTimeout bounds the wait for JetStream acks when the context has no deadline
// (default 30s), so a lost connection cannot block a publisher for ever.
func WithAckTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: ack timeout %s", ErrInvalidConfig, d)
		}
		o.ackTimeout = d
		return nil
	}
}

// WithDeadLetterRedaction passes every message a consumer dead-letters through redact before
// it is stored: the ones its handler gives up on (Permanent, last delivery, undecodable) and
// the ones its advisory watcher picks up (max deliveries, terminated elsewhere). Consume,
// ConsumeBatch and WatchDeadLetters honour it. A stream whose messages hold personal values
// in clear (LETHE_INBOX) needs it, so that a dead letter is no copy erasure cannot reach.
func WithDeadLetterRedaction(redact Redaction) Option {
	return func(o *options) error {
		if redact == nil {
			return fmt.Errorf("%w: nil dead-letter redaction", ErrInvalidConfig)
		}
		o.redact = redact
		return nil
	}
}

// WithStarted has Consume and ConsumeBatch call started once their durable consumer exists on
// the server and they pull from it (before the first message is handled), so that a service
// reports ready only when its consumers run. Publishers and watchers ignore it.
func WithStarted(started func()) Option {
	return func(o *options) error {
		if started == nil {
			return fmt.Errorf("%w: nil started callback", ErrInvalidConfig)
		}
		o.started = started
		return nil
	}
}

func buildOptions(opts []Option) (options, error) {
	o := options{
		logger:     slog.New(slog.DiscardHandler),
		tp:         noop.NewTracerProvider(),
		window:     1024,
		ackTimeout: 30 * time.Second,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return options{}, err
		}
	}
	return o, nil
}
