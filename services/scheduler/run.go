package scheduler

import (
	"context"

	"github.com/lethe-gdpr/lethe/pkg/platform"
)

// Run starts the scheduler service and blocks until ctx is done.
func Run(ctx context.Context, d platform.Deps) error {
	<-ctx.Done()
	return nil
}
