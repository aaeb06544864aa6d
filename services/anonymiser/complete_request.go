package anonymiser

import (
	"context"

	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Completion is the step an erasure request goes through once Lethe has erased the contact
// (or skipped it for good) and published the outcome: it says whether the request is
// answered now. The default (confirmedCompletion) waits for every downstream destination to
// confirm it erased its copy: until then it returns false and the request stays in_progress,
// with its outcome recorded, until FinishRequest is called for it (Confirm does, on the last
// confirmation).
type Completion interface {
	Erased(ctx context.Context, r store.Request) (done bool, err error)
}

// confirmedCompletion answers an erasure request once every destination following its
// institution confirmed the erasure (record_confirmation.go); at once when none follows it,
// and for a skip, which erased nothing.
type confirmedCompletion struct{ s *Service }

func (c confirmedCompletion) Erased(ctx context.Context, r store.Request) (bool, error) {
	if r.Outcome != OutcomeAnonymised && r.Outcome != OutcomeDeleted {
		return true, nil
	}
	left, err := c.s.Unconfirmed(ctx, r.Institution, r.ContactID, "request:"+r.ID)
	return len(left) == 0, err
}

// FinishRequest completes a request a Completion held back (its outcome already recorded),
// once whatever it waited for happened. Finishing a request that is not in_progress with an
// outcome changes nothing.
func (s *Service) FinishRequest(ctx context.Context, id, by string) (store.Request, error) {
	r, err := s.requests.Get(ctx, id)
	if err != nil {
		return store.Request{}, err
	}
	if r.Outcome == "" || !r.Open() || r.State == store.RequestBlocked {
		return r, nil
	}
	return s.changeRequest(ctx, r, by, store.RequestCompleted, func(q *store.Request) bool {
		if q.Outcome == "" || !q.Open() {
			return false
		}
		q.State, q.CompletedAt = store.RequestCompleted, s.now().UTC()
		return true
	})
}

// completeRequest is the last step of a request's erasure: the outcome recorded on the
// request, then the Completion asked whether it is answered. A skip for a blocker leaves the
// request blocked with the blocker named (resume_blocked.go resumes it).
func (s *Service) completeRequest(ctx context.Context, r store.Request, cmdAttempt int, res Result) error {
	if blocker := blockerOf(res); blocker != "" {
		_, err := s.changeRequest(ctx, r, "lethe", store.RequestBlocked, func(q *store.Request) bool {
			if !q.Open() || q.Attempt != cmdAttempt {
				return false
			}
			q.State, q.Blocker, q.Outcome, q.Reason = store.RequestBlocked, blocker, res.Outcome, res.Reason
			return true
		})
		return err
	}
	recorded := r
	recorded.Outcome, recorded.Reason, recorded.ErasedFields = res.Outcome, res.Reason, res.Fields
	done, err := s.completion.Erased(ctx, recorded)
	if err != nil {
		return err
	}
	state := store.RequestInProgress
	if done {
		state = store.RequestCompleted
	}
	_, err = s.changeRequest(ctx, r, "lethe", state, func(q *store.Request) bool {
		if !q.Open() || q.Attempt != cmdAttempt {
			return false
		}
		q.Outcome, q.Reason, q.ErasedFields, q.Blocker, q.Error = res.Outcome, res.Reason, res.Fields, "", ""
		if done {
			q.State, q.CompletedAt = store.RequestCompleted, s.now().UTC()
		} else if q.State != store.RequestExtended {
			q.State = store.RequestInProgress
		}
		return true
	})
	if err != nil || done {
		return err
	}
	// Asked again once the outcome is on the request: what the Completion waited for may have
	// happened in between, and then its FinishRequest found no outcome to complete.
	if done, err = s.completion.Erased(ctx, recorded); err == nil && done {
		_, err = s.FinishRequest(ctx, r.ID, "lethe")
	}
	return err
}

// blockerOf is the blocker a skip names, or "" for a skip that is final (not in scope,
// already erased) or for an erasure.
func blockerOf(res Result) string {
	if res.Outcome != OutcomeSkipped {
		return ""
	}
	switch res.Reason {
	case retention.ReasonDebt, retention.ReasonCredit, retention.ReasonActiveSubscription, retention.ReasonLegalHold:
		return res.Reason
	}
	return ""
}
