package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// BrokenError says where the chain first breaks and why; Report is what Verify found. Both
// are the answer of GET /v1/audit/verify as it is, so they are declared with the API's shapes.
type (
	BrokenError = api.AuditBreak
	Report      = api.AuditReport
)

// Verify walks the whole log in seq order and checks that every entry's hash matches its
// contents, that every PrevHash is the previous entry's Hash, that seqs are contiguous, and
// that the log starts at seq 1 or at the seq anchored by a purge entry. It reads one entry at
// a time, whatever the size of the log. A broken chain is returned both in the Report and as
// a *BrokenError; any other error is the store's.
func Verify(ctx context.Context, a store.Audit) (Report, error) {
	for attempt := 1; ; attempt++ {
		r, err := walk(ctx, a)
		var broken *BrokenError
		if !errors.As(err, &broken) || attempt == 3 {
			return r, err
		}
		// A purge deletes from the oldest entry up; on MongoDB a scan running meanwhile (a
		// cursor, not a snapshot) can see that as a gap. If the log's start moved, walk again.
		first, ferr := firstSeq(ctx, a)
		if ferr != nil || first == r.FirstSeq {
			return r, err
		}
	}
}

func walk(ctx context.Context, a store.Audit) (Report, error) {
	var (
		r        Report
		first    store.AuditEntry
		prev     store.AuditEntry
		broken   *BrokenError
		mismatch *BrokenError // a purge entry that claims FirstSeq with another hash
	)
	err := a.Scan(ctx, 0, func(e store.AuditEntry) error {
		r.Entries++
		if r.Entries == 1 {
			first = e
		} else if broken == nil {
			broken = checkLink(e, prev)
		}
		if broken == nil {
			broken = checkSelf(e, r.Entries == 1)
		}
		if e.Action == ActionPurged && first.Seq != 1 && e.AnchorSeq == first.Seq && r.AnchoredBy == 0 {
			if e.AnchorHash == first.PrevHash {
				r.AnchoredBy = e.Seq
			} else if mismatch == nil {
				mismatch = &BrokenError{Seq: first.Seq, Reason: fmt.Sprintf(
					"the purge entry %d anchors the chain at seq %d with another hash than its prev_hash", e.Seq, first.Seq)}
			}
		}
		prev = e
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("audit: scan: %w", err)
	}
	if r.Entries == 0 {
		r.Intact = true
		return r, nil
	}
	r.FirstSeq, r.HeadSeq, r.HeadHash = first.Seq, prev.Seq, prev.Hash
	// A missing anchor breaks the chain at its oldest entry, before any later break.
	if first.Seq != 1 && r.AnchoredBy == 0 {
		broken = mismatch
		if broken == nil {
			broken = &BrokenError{Seq: first.Seq, Reason: unanchored(first.Seq)}
		}
	}
	if broken != nil {
		r.Broken = broken
		return r, broken
	}
	r.Intact = true
	return r, nil
}

// firstSeq returns the seq of the oldest entry, 0 when the log is empty.
func firstSeq(ctx context.Context, a store.Audit) (int64, error) {
	var seq int64
	err := a.Scan(ctx, 0, func(e store.AuditEntry) error {
		seq = e.Seq
		return errEnoughScanned
	})
	if err != nil && !errors.Is(err, errEnoughScanned) {
		return 0, err
	}
	return seq, nil
}
