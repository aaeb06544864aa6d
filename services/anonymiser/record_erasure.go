package anonymiser

import (
	"context"
	"fmt"

	"github.com/lethe-gdpr/lethe/pkg/ledger"
	"github.com/lethe-gdpr/lethe/pkg/retention"
)

// recordErasure writes the erasure of cmd to the erasure ledger (LETHE_ERASURES) and returns
// once JetStream holds it. A skip erased nothing and has no entry. The entry's id is the
// outcome's, so a redelivered command records its erasure once. Ids, dates and field names
// only: the ledger is kept forever.
func (s *Service) recordErasure(ctx context.Context, cmd retention.Command, res Result) error {
	kind := ""
	switch res.Outcome {
	case OutcomeAnonymised:
		kind = ledger.KindAnonymised
	case OutcomeDeleted:
		kind = ledger.KindDeleted
	default:
		return nil
	}
	e := ledger.Entry{
		ID: outcomeID(cmd), Institution: cmd.Institution, ContactID: cmd.ContactID, Kind: kind,
		At: s.now().UTC(), Actor: actorOf(cmd), RunID: cmd.RunID, RequestID: cmd.RequestID, Fields: res.Fields,
	}
	if cmd.RequestID != "" {
		e.RequestReceivedAt = cmd.AsOf // authorise set it to the request's receipt
	}
	if err := s.ledger.Record(ctx, e); err != nil {
		return fmt.Errorf("anonymiser: erasure ledger, %s: %w", cmd.CommandID(), err)
	}
	return nil
}
