package anonymiser

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/receipt"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Errors of IssueReceipt, checked with errors.Is.
var (
	// ErrNotErased: the contact is active; there is nothing to give a receipt for.
	ErrNotErased = errors.New("anonymiser: the contact is not erased")
	// ErrNoAuditEntry: the erasure's audit entry is gone (purged past audit.retention), so no
	// receipt can be anchored in the chain any more.
	ErrNoAuditEntry = errors.New("anonymiser: the erasure's audit entry is no longer in the audit trail")
)

// IssueReceipt builds and signs the receipt of an erased contact from what the store holds
// now: the erasure as the audit trail recorded it (its fields, its seq and hash), the chain's
// head, the key's tombstone and each expected destination's confirmation. It holds no
// personal value. store.ErrNotFound for a contact Lethe never held.
func (s *Service) IssueReceipt(ctx context.Context, institution, contactID string) (receipt.Receipt, error) {
	c, err := s.contacts.Get(ctx, institution, contactID)
	if err != nil {
		return receipt.Receipt{}, fmt.Errorf("anonymiser: receipt of %s/%s: %w", institution, contactID, err)
	}
	if c.Status != store.StatusAnonymised && c.Status != store.StatusDeleted {
		return receipt.Receipt{}, ErrNotErased
	}
	outcome, typ := OutcomeAnonymised, events.TypeContactAnonymised
	if c.Status == store.StatusDeleted {
		outcome, typ = OutcomeDeleted, events.TypeContactDeleted
	}
	entries, err := s.trail.ForContact(ctx, institution, contactID)
	if err != nil {
		return receipt.Receipt{}, fmt.Errorf("anonymiser: audit of %s/%s: %w", institution, contactID, err)
	}
	i := slices.IndexFunc(entries, func(e store.AuditEntry) bool { return e.Actor == c.ErasedBy && e.Action == outcome })
	if i < 0 {
		return receipt.Receipt{}, ErrNoAuditEntry
	}
	entry := entries[i]
	head, err := s.trail.Last(ctx)
	if err != nil {
		return receipt.Receipt{}, fmt.Errorf("anonymiser: audit head: %w", err)
	}
	_, kerr := s.keyStore.Get(ctx, institution, contactID)
	if kerr != nil && !errors.Is(kerr, store.ErrKeyDestroyed) && !errors.Is(kerr, store.ErrNotFound) {
		return receipt.Receipt{}, fmt.Errorf("anonymiser: key of %s/%s: %w", institution, contactID, kerr)
	}

	outID := outcomeID(commandOfActor(institution, contactID, c.ErasedBy))
	expected, err := s.confirmations.ForContact(ctx, institution, contactID)
	if err != nil {
		return receipt.Receipt{}, fmt.Errorf("anonymiser: confirmations of %s/%s: %w", institution, contactID, err)
	}
	dests := []receipt.Destination{}
	for _, e := range expected {
		if e.OutcomeID != outID {
			continue
		}
		d := receipt.Destination{Name: e.Destination, Confirmed: e.Confirmed(), ConfirmationID: e.ConfirmationID}
		if e.Confirmed() {
			at := e.ConfirmedAt.UTC()
			d.ConfirmedAt = &at
		}
		dests = append(dests, d)
	}
	fields := entry.Fields
	if fields == nil {
		fields = []string{}
	}
	r := receipt.Receipt{
		Version: receipt.Version, Institution: institution, ContactID: contactID, Outcome: outcome,
		ErasedAt: entry.At.UTC(), ErasedBy: c.ErasedBy,
		Erased:         receipt.Erased{Categories: receipt.Categories(fields), Fields: fields},
		KeyDestruction: receipt.KeyDestruction{Destroyed: errors.Is(kerr, store.ErrKeyDestroyed), Scheme: receipt.Scheme},
		Audit:          receipt.Audit{Seq: entry.Seq, Hash: entry.Hash, HeadSeq: head.Seq, HeadHash: head.Hash, Algorithm: "sha256"},
		OutcomeEvent:   receipt.OutcomeEvent{ID: outID, Type: typ},
		Destinations:   dests,
		IssuedAt:       s.now().UTC(),
	}
	if err := receipt.Sign(&r, s.signKey); err != nil {
		return receipt.Receipt{}, fmt.Errorf("anonymiser: sign receipt: %w", err)
	}
	return r, nil
}

// ReceiptKey is the public key receipts verify with.
func (s *Service) ReceiptKey() receipt.PublicKey {
	return receipt.PublicKeyOf(s.signKey.Public().(ed25519.PublicKey))
}
