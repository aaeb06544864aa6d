package backfill

import "time"

// Config is how a backfill sends. Its messages name the CLI's flags (--keep-going,
// --restart, --max-bytes), which set these fields one for one.
type Config struct {
	// Batch is the most events per request, MaxBytes the largest request body: keep it at or
	// under the server's body limit.
	Batch    int
	MaxBytes int
	// Concurrency is how many requests are in flight at once.
	Concurrency int
	// KeepGoing sends every valid event and reports the invalid ones, instead of stopping
	// at the first.
	KeepGoing bool
	// Restart ignores the checkpoint and sends the whole input again.
	Restart bool
	// Progress is auto (a bar on a terminal, plain lines otherwise), bar, plain or none.
	Progress string
	// Retries bounds the retries of a batch on 503 or a network error, with back-off.
	Retries int
	// Timeout bounds one request.
	Timeout time.Duration
}

// DefaultMaxBytes is the server's default body limit: a batch body never exceeds it.
const DefaultMaxBytes = 10 << 20
