package client

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Pauses between the requests of poll: short at first, since most waits are brief (a
// simulation is planned before its POST answers, an erasure takes a moment), then longer.
const (
	pollFirst = 100 * time.Millisecond
	pollMax   = 2 * time.Second
	// pollFailures is how many temporary failures in a row (the server restarting, a 503)
	// a wait rides out before it gives up.
	pollFailures = 10
)

// poll GETs path as JSON until done accepts the answer or ctx ends, each request bounded by
// perRequest. Temporary failures are retried; a 4xx ends the wait with the server's reason.
func poll[T any](ctx context.Context, c *Client, path string, perRequest time.Duration, done func(T) bool) (T, error) {
	pause, failures := pollFirst, 0
	for {
		var v T
		rctx, cancel := context.WithTimeout(ctx, perRequest)
		err := c.JSON(rctx, http.MethodGet, path, nil, &v)
		cancel()
		if ctx.Err() != nil {
			return v, context.Cause(ctx)
		}
		var apiErr *APIError
		switch {
		case err == nil:
			if done(v) {
				return v, nil
			}
			failures = 0
		case failures < pollFailures && (errors.Is(err, ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) ||
			(errors.As(err, &apiErr) && apiErr.Temporary())):
			failures++
		default:
			return v, err
		}
		if err := sleep(ctx, pause); err != nil {
			return v, err
		}
		pause = min(2*pause, pollMax)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
