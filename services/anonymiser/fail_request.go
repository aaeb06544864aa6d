package anonymiser

import (
	"context"
	"errors"
	"fmt"

	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// failRequest marks an erasure request failed once its command ran out of deliveries, with
// the last error as its reason (ids and step names, no personal value: the errors of
// Execute name the institution, the contact id and the step), counts it
// (lethe_request_failures_total) and logs it. An operator retries it (Retry). A command of an
// earlier attempt, or of a request answered meanwhile, changes nothing.
func (s *Service) failRequest(ctx context.Context, cmd retention.Command, cause error) error {
	r, err := s.requests.Get(ctx, cmd.RequestID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("anonymiser: read request %s: %w", cmd.RequestID, err)
	}
	failed := false
	_, err = s.changeRequest(ctx, r, "lethe", store.RequestFailed, func(q *store.Request) bool {
		if !q.Open() || q.Attempt != cmd.Attempt || q.Outcome != "" {
			return false
		}
		q.State, q.Error, failed = store.RequestFailed, cause.Error(), true
		return true
	})
	if err != nil {
		return err
	}
	if failed {
		s.failures.Add(ctx, 1)
		s.log.ErrorContext(ctx, "erasure request failed after its retries; retry it with `lethe requests retry`",
			"request", cmd.RequestID, "institution", cmd.Institution, "attempt", cmd.Attempt, "error", cause.Error())
	}
	return nil
}
