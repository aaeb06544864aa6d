// Package backfill streams an institution's history of CloudEvents into POST /v1/events: the
// input is never loaded whole (a reader that yields one event at a time), batches go out
// concurrently yet a re-run never re-sends what was acknowledged (a checkpoint of the
// contiguous acknowledged prefix plus the batches acknowledged beyond it), and every
// rejected event is named by its input line, never by its values.
package backfill
