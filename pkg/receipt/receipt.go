package receipt

import (
	"slices"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/retention"
)

// Version names this receipt format; a verifier refuses another.
const Version = "lethe.receipt.v1"

// Receipt is one erased contact's receipt. It holds ids, dates and field names, never a
// personal value. The signature covers every other member (Canonical).
type Receipt struct {
	Version     string `json:"version"`
	Institution string `json:"institution"`
	ContactID   string `json:"contact_id"`
	// Outcome is anonymised or deleted.
	Outcome  string    `json:"outcome"`
	ErasedAt time.Time `json:"erased_at"`
	// ErasedBy is run:<id> (a retention run) or request:<id> (an on-demand erasure).
	ErasedBy string `json:"erased_by"`
	Erased   Erased `json:"erased"`
	// KeyDestruction says the contact's data key is a tombstone in the key store when the
	// receipt was issued: every sealed copy (streams, dead letters, backups) is unreadable.
	KeyDestruction KeyDestruction `json:"key_destruction"`
	Audit          Audit          `json:"audit"`
	// OutcomeEvent is the outcome published on LETHE_RESULTS, which destinations confirm.
	OutcomeEvent OutcomeEvent `json:"outcome_event"`
	// Destinations lists every destination expected to confirm the outcome, by name.
	Destinations []Destination `json:"destinations"`
	IssuedAt     time.Time     `json:"issued_at"`
	// Signature is always written once signed; Canonical leaves it out.
	Signature *Signature `json:"signature"`
}

// Erased names what went: categories of the register and field names, never values.
type Erased struct {
	Categories []string `json:"categories"`
	Fields     []string `json:"fields"`
}

// KeyDestruction is the state of the contact's data key.
type KeyDestruction struct {
	Destroyed bool `json:"destroyed"`
	// Scheme says what destroying the key does.
	Scheme string `json:"scheme"`
}

// Scheme is KeyDestruction.Scheme.
const Scheme = "crypto-shredding: the contact's AES-256-GCM data key replaced by a tombstone"

// Audit is the receipt's anchor in the hash-chained audit trail: the entry that recorded the
// erasure, and the chain's head when the receipt was issued. Both must still be in the chain,
// with these hashes, for the receipt to hold (lethe receipt verify --server).
type Audit struct {
	Seq       int64  `json:"seq"`
	Hash      string `json:"hash"`
	HeadSeq   int64  `json:"head_seq"`
	HeadHash  string `json:"head_hash"`
	Algorithm string `json:"algorithm"`
}

// OutcomeEvent is the CloudEvent of the outcome.
type OutcomeEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Destination is one destination's confirmation, or its absence.
type Destination struct {
	Name        string     `json:"name"`
	Confirmed   bool       `json:"confirmed"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	// ConfirmationID is the id of its lethe.erasure.confirmed.v1.
	ConfirmationID string `json:"confirmation_id,omitempty"`
}

// Categories returns the register's categories of erased field names (as the anonymiser
// records them, retention.Erase), sorted, each once. A name it does not know counts as
// custom_fields, the category of what the upstreams declare themselves.
func Categories(fields []string) []string {
	var out []string
	for _, f := range fields {
		var c string
		switch {
		case strings.HasPrefix(f, "profile."):
			c = config.CategoryOfProfileField(strings.TrimPrefix(f, "profile."))
		case f == retention.FieldBeneficiaryFirstName || f == retention.FieldBeneficiaryLastName:
			c = config.CategoryBeneficiaries
		case f == retention.FieldTechnicalIP || f == retention.FieldTechnicalUserAgent:
			c = config.CategoryTechnical
		case f == retention.FieldLegalHoldReason:
			c = config.CategoryLegalHold
		case f == retention.FieldCriterionValue:
			c = config.CategoryActivity
		}
		if c == "" {
			c = config.CategoryCustomFields
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}
