package api

import (
	"fmt"
	"time"
)

// AuditEntryView is GET /v1/audit/entries/{seq}: where an entry stands in the chain, never
// what it is about (no institution, contact or actor).
type AuditEntryView struct {
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

// AuditReport is GET /v1/audit/verify: what walking the audit log's hash chain found.
type AuditReport struct {
	Intact bool `json:"intact"`
	// Entries is how many entries were read.
	Entries int64 `json:"entries"`
	// FirstSeq is the oldest entry kept: 1, or the seq a purge entry anchors.
	FirstSeq int64 `json:"first_seq"`
	// AnchoredBy is the seq of the purge entry that vouches for FirstSeq, 0 when FirstSeq is 1.
	AnchoredBy int64  `json:"anchored_by,omitempty"`
	HeadSeq    int64  `json:"head_seq"`
	HeadHash   string `json:"head_hash"`
	// Broken is the first break, nil when Intact.
	Broken *AuditBreak `json:"broken,omitempty"`
}

// String is the one line `lethe audit verify` prints.
func (r AuditReport) String() string {
	switch {
	case r.Broken != nil:
		return fmt.Sprintf("%s (%d entries read)", r.Broken.Error(), r.Entries)
	case r.Entries == 0:
		return "audit chain intact: the log is empty"
	}
	return fmt.Sprintf("audit chain intact: %d entries, seq %d..%d, head %s", r.Entries, r.FirstSeq, r.HeadSeq, r.HeadHash)
}

// AuditBreak says where the chain first breaks and why. It names seqs and fields, never an
// entry's values, so it is safe to log and to show.
type AuditBreak struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

func (e *AuditBreak) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s", e.Seq, e.Reason)
}
