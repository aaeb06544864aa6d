// Package ledger is the erasure ledger: one entry per erasure on LETHE_ERASURES (ids, dates,
// kind, never a personal value), published before the erasure's outcome, and replayed at
// start onto a store restored from before some erasures, so that they happen again.
package ledger
