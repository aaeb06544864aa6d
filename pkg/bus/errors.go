package bus

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidSubject is returned for a subject NATS would refuse or misroute.
	ErrInvalidSubject = errors.New("bus: invalid subject")
	// ErrInvalidEvent is returned when an event to publish lacks a required attribute.
	ErrInvalidEvent = errors.New("bus: invalid event")
	// ErrUndecodable marks a message that is not a CloudEvent in either NATS content mode.
	// Such a message is a permanent failure: it is dead-lettered, never retried.
	ErrUndecodable = errors.New("bus: undecodable message")
	// ErrPermanent is matched (errors.Is) by every error wrapped with Permanent.
	ErrPermanent = errors.New("bus: permanent failure")
	// ErrInvalidConfig is returned for a consumer or server configuration that cannot work.
	ErrInvalidConfig = errors.New("bus: invalid configuration")
	// ErrServerNotReady is returned when an embedded server does not accept connections in
	// time.
	ErrServerNotReady = errors.New("bus: embedded server not ready")
)

// permanentError marks a failure that redelivery cannot fix (invalid content, a rule the
// event breaks), so the consumer dead-letters the message at once.
type permanentError struct{ err error }

func (p *permanentError) Error() string        { return p.err.Error() }
func (p *permanentError) Unwrap() error        { return p.err }
func (p *permanentError) Is(target error) bool { return target == ErrPermanent }

// Permanent wraps err so that a consumer dead-letters and terminates the message instead of
// retrying it. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	if IsPermanent(err) {
		return err
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with Permanent.
func IsPermanent(err error) bool {
	return errors.Is(err, ErrPermanent)
}

// PublishError says which event of a batch failed, and why.
type PublishError struct {
	Index   int    // position in the batch
	Subject string // subject it was published to
	EventID string // the CloudEvent id
	Err     error
}

func (e *PublishError) Error() string {
	return fmt.Sprintf("bus: publish event %d (id %q) to %s: %v", e.Index, e.EventID, e.Subject, e.Err)
}

func (e *PublishError) Unwrap() error { return e.Err }
