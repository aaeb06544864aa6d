package scheduler

import "github.com/lethe-gdpr/lethe/pkg/store"

// WithAfterBatch calls fn after each acknowledged publish batch and its cursor write.
func WithAfterBatch(fn func(store.Run)) Option {
	return func(s *Service) error { s.afterBatch = fn; return nil }
}

// WithOnFire calls fn for each scheduled occurrence this instance fired, and whether it won.
func WithOnFire(fn func(run store.Run, won bool)) Option {
	return func(s *Service) error { s.onFire = fn; return nil }
}

// Interrupt stops the runs in progress without waiting for them, as a crash would: they stay
// in their state, for the next start to resume.
func (s *Service) Interrupt() { s.cancel() }

// CSVHeader is the export's header row.
var CSVHeader = csvHeader
