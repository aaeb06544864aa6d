package client

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/receipt"
)

// ReceiptKey fetches the public key the server signs receipts with.
func (c *Client) ReceiptKey(ctx context.Context) (ed25519.PublicKey, error) {
	b, err := c.Get(ctx, ReceiptKeyPath, "application/json")
	if err != nil {
		return nil, err
	}
	return receipt.ParsePublicKey(b)
}

// AuditEntry reads where the entry at seq stands in the audit chain (admin scope).
func (c *Client) AuditEntry(ctx context.Context, seq int64) (api.AuditEntryView, error) {
	var v api.AuditEntryView
	err := c.JSON(ctx, http.MethodGet, AuditEntryPath(seq), nil, &v)
	return v, err
}

// CheckAnchor checks that the server's audit chain still holds the receipt's anchors — its
// erasure entry and the head it was issued at, each at its seq with its hash — and that the
// chain verifies. It returns the report of the chain.
func (c *Client) CheckAnchor(ctx context.Context, r receipt.Receipt) (api.AuditReport, error) {
	for _, a := range []struct {
		what string
		seq  int64
		hash string
	}{{"the erasure's entry", r.Audit.Seq, r.Audit.Hash}, {"the head at issue", r.Audit.HeadSeq, r.Audit.HeadHash}} {
		e, err := c.AuditEntry(ctx, a.seq)
		if IsStatus(err, http.StatusNotFound) {
			return api.AuditReport{}, fmt.Errorf("the audit chain no longer holds %s (seq %d): purged, or removed: %w", a.what, a.seq, err)
		}
		if err != nil {
			return api.AuditReport{}, err
		}
		if e.Hash != a.hash {
			return api.AuditReport{}, fmt.Errorf("the audit chain's entry at seq %d has hash %s, but the receipt anchors %s with %s", a.seq, e.Hash, a.what, a.hash)
		}
	}
	rep, err := c.VerifyAudit(ctx)
	if err != nil {
		return rep, fmt.Errorf("the audit chain does not verify: %w", err)
	}
	return rep, nil
}
