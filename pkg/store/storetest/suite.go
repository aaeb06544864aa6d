package storetest

import (
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Run runs the whole contract suite. open must return a fresh, empty store on every call and
// close it itself when the test ends (t.Cleanup), so each subtest starts from nothing.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Ping", func(t *testing.T) {
		s := open(t)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping on an open store: %v", err)
		}
	})
	t.Run("Contacts", func(t *testing.T) { runContacts(t, open) })
	t.Run("Candidates", func(t *testing.T) { runCandidates(t, open) })
	t.Run("Keys", func(t *testing.T) { runKeys(t, open) })
	t.Run("Runs", func(t *testing.T) { runRuns(t, open) })
	t.Run("RunItems", func(t *testing.T) { runRunItems(t, open) })
	t.Run("Audit", func(t *testing.T) { runAudit(t, open) })
	t.Run("Requests", func(t *testing.T) { runRequests(t, open) })
	t.Run("Confirmations", func(t *testing.T) { runConfirmations(t, open) })
}
