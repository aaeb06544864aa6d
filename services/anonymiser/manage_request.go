package anonymiser

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Errors of the request use cases, checked with errors.Is.
var (
	// ErrRequestClosed: the request is answered already (completed or refused).
	ErrRequestClosed = errors.New("anonymiser: request already answered")
	// ErrRequestState: the request is not in a state the action applies to.
	ErrRequestState = errors.New("anonymiser: action not allowed in this state")
	// ErrReasonRequired: an extension or a refusal without its reason.
	ErrReasonRequired = errors.New("anonymiser: a reason is required")
)

// ReasonField is the field name a request's reason is sealed under (seal binds a value to its
// field, so it opens as nothing else).
const ReasonField = "request.reason"

// maxReason bounds a reason's length, in characters: it is told to the person, not an essay.
const maxReason = 1000

// Audit actions of the request use cases.
const (
	ActionRequestExtended = "request_extended"
	ActionRequestRefused  = "request_refused"
	ActionRequestRetried  = "request_retried"
)

// Extend moves an open request's deadline to due (no later than three months after receipt:
// retention.CheckExtension), with the reason given to the person, sealed with the contact's
// key. A received or in-progress request becomes extended; a blocked or failed one keeps
// its state (what it waits on is unchanged) with the new deadline. Audited, by whom.
func (s *Service) Extend(ctx context.Context, id string, due time.Time, reason, by string) (store.Request, error) {
	r, err := s.openRequest(ctx, id)
	if err != nil {
		return store.Request{}, err
	}
	if err := retention.CheckExtension(r.CreatedAt, r.DueAt, due.UTC()); err != nil {
		return store.Request{}, err
	}
	sealed, err := s.sealReason(ctx, r, reason)
	if err != nil {
		return store.Request{}, err
	}
	out, err := s.changeRequest(ctx, r, by, store.RequestExtended, func(q *store.Request) bool {
		if !q.Open() {
			return false
		}
		q.DueAt, q.SealedReason = due.UTC(), sealed
		if q.State == store.RequestReceived || q.State == store.RequestInProgress {
			q.State = store.RequestExtended
		}
		q.Actions[len(q.Actions)-1].DueAt = q.DueAt
		return true
	})
	if err != nil {
		return store.Request{}, err
	}
	if !out.Open() || !out.DueAt.Equal(due) {
		return out, fmt.Errorf("%w: it is %s", ErrRequestClosed, out.State)
	}
	return out, s.auditRequest(ctx, out, by, ActionRequestExtended, "due "+out.DueAt.Format(time.RFC3339))
}

// Refuse answers an open request with a refusal and its reason (sealed). A refused request
// is closed: a command of it still queued is refused by authorise. Audited, by whom.
func (s *Service) Refuse(ctx context.Context, id, reason, by string) (store.Request, error) {
	r, err := s.openRequest(ctx, id)
	if err != nil {
		return store.Request{}, err
	}
	sealed, err := s.sealReason(ctx, r, reason)
	if err != nil {
		return store.Request{}, err
	}
	out, err := s.changeRequest(ctx, r, by, store.RequestRefused, func(q *store.Request) bool {
		if !q.Open() {
			return false
		}
		q.State, q.SealedReason, q.CompletedAt = store.RequestRefused, sealed, s.now().UTC()
		return true
	})
	if err != nil {
		return store.Request{}, err
	}
	if out.State != store.RequestRefused {
		return out, fmt.Errorf("%w: it is %s", ErrRequestClosed, out.State)
	}
	return out, s.auditRequest(ctx, out, by, ActionRequestRefused, "")
}

// Retry queues a failed (or blocked) erasure again as a new attempt, with its original
// deadline. Audited, by whom.
func (s *Service) Retry(ctx context.Context, id, by string) (store.Request, error) {
	r, err := s.openRequest(ctx, id)
	if err != nil {
		return store.Request{}, err
	}
	if r.Kind != store.KindErasure || (r.State != store.RequestFailed && r.State != store.RequestBlocked) {
		return store.Request{}, fmt.Errorf("%w: only a failed or blocked erasure is retried; this %s request is %s", ErrRequestState, r.Kind, r.State)
	}
	out, err := s.resume(ctx, r, by, func(q *store.Request) bool {
		return q.State == store.RequestFailed || q.State == store.RequestBlocked
	})
	if err != nil {
		return store.Request{}, err
	}
	return out, s.auditRequest(ctx, out, by, ActionRequestRetried, "attempt "+strconv.Itoa(out.Attempt))
}

// resume starts the next attempt of an erasure request, if still allowed (when): the request
// in_progress at attempt+1, then its command queued. A command that cannot be queued puts
// the request back as it was found, for the next sweep or retry.
func (s *Service) resume(ctx context.Context, r store.Request, by string, when func(*store.Request) bool) (store.Request, error) {
	var before store.Request
	out, err := s.changeRequest(ctx, r, by, store.RequestInProgress, func(q *store.Request) bool {
		if !q.Open() || !when(q) {
			return false
		}
		before = *q
		q.Attempt++
		q.State, q.Blocker, q.Error, q.Outcome, q.Reason = store.RequestInProgress, "", "", "", ""
		return true
	})
	if err != nil || before.ID == "" {
		return out, err
	}
	if err := s.queueCommand(ctx, out); err != nil {
		_, _ = s.changeRequest(ctx, out, "lethe", before.State, func(q *store.Request) bool {
			if q.Attempt != out.Attempt || q.State != store.RequestInProgress {
				return false
			}
			q.State, q.Blocker, q.Error = before.State, before.Blocker, "the erasure command could not be queued"
			return true
		})
		return out, err
	}
	return out, nil
}

// queueCommand publishes the erasure command of the request's current attempt.
func (s *Service) queueCommand(ctx context.Context, r store.Request) error {
	cmd := retention.Command{Institution: r.Institution, ContactID: r.ContactID, RequestID: r.ID, AsOf: r.CreatedAt,
		RequestedBy: r.RequestedBy, Attempt: r.Attempt}
	e, err := cmd.Event(Source, s.now().UTC())
	if err != nil {
		return err
	}
	if err := s.pub.Publish(ctx, bus.CommandSubject(r.Institution, retention.CommandKind), e); err != nil {
		return fmt.Errorf("anonymiser: publish the command of request %s: %w", r.ID, err)
	}
	return nil
}

func (s *Service) openRequest(ctx context.Context, id string) (store.Request, error) {
	r, err := s.requests.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Request{}, fmt.Errorf("%w: %s", ErrRequestNotFound, id)
	}
	if err != nil {
		return store.Request{}, fmt.Errorf("anonymiser: read request %s: %w", id, err)
	}
	if !r.Open() {
		return r, fmt.Errorf("%w: it is %s", ErrRequestClosed, r.State)
	}
	return withDue(r), nil
}

// withDue fills the deadline of a request stored before the legal clock.
func withDue(r store.Request) store.Request {
	if r.DueAt.IsZero() && !r.CreatedAt.IsZero() {
		r.DueAt = retention.DueAt(r.CreatedAt)
	}
	return r
}

func (s *Service) sealReason(ctx context.Context, r store.Request, reason string) (string, error) {
	// Empty is refused, not blank: what counts as blank differs between JSON Schema tools and
	// Go, and the API must refuse exactly what its schema (minLength 1) does.
	if reason == "" {
		return "", ErrReasonRequired
	}
	if utf8.RuneCountInString(reason) > maxReason {
		return "", fmt.Errorf("%w: at most %d characters", ErrReasonRequired, maxReason)
	}
	sealed, err := s.sealer.Seal(ctx, r.Institution, r.ContactID, ReasonField, reason)
	if err != nil {
		return "", fmt.Errorf("anonymiser: seal the reason of request %s: %w", r.ID, err)
	}
	return sealed, nil
}

func (s *Service) auditRequest(ctx context.Context, r store.Request, by, action, detail string) error {
	_, err := s.audit.Record(ctx, store.AuditEntry{
		Key: action + ":" + r.ID + ":" + strconv.FormatInt(r.Version, 10), Institution: r.Institution, ContactID: r.ContactID,
		Actor: by, Action: action, Reason: detail,
	})
	if err != nil {
		return fmt.Errorf("anonymiser: audit %s of request %s: %w", action, r.ID, err)
	}
	return nil
}

// changeRequest changes a request by compare-and-swap, re-reading it when another writer was
// first; change returns false when the request (as re-read) no longer needs it, and then the
// stored copy is returned unchanged. Each change is recorded among the request's actions:
// who, when, and the state or action it was (appended before change runs, which may fill it in).
func (s *Service) changeRequest(ctx context.Context, r store.Request, by, action string, change func(*store.Request) bool) (store.Request, error) {
	for range casAttempts {
		q := withDue(r)
		q.Actions = append([]store.RequestAction(nil), q.Actions...)
		now := s.now().UTC()
		q.Actions = append(q.Actions, store.RequestAction{At: now, By: by, Action: action})
		if !change(&q) {
			return r, nil
		}
		q.UpdatedAt = now
		out, err := s.requests.Update(ctx, q)
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return store.Request{}, fmt.Errorf("anonymiser: update request %s: %w", r.ID, err)
		}
		if r, err = s.requests.Get(ctx, r.ID); err != nil {
			return store.Request{}, fmt.Errorf("anonymiser: read request %s: %w", r.ID, err)
		}
	}
	return store.Request{}, fmt.Errorf("anonymiser: request %s: %w", r.ID, store.ErrConflict)
}
