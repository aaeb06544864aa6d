package ingest

import (
	"errors"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/events"
)

// Who may have published an inbox message is what its subject says (the bus grants subjects
// per user): confirmations only on their destination's own subject, from a destination
// following the institution; everything else only on the institution's inbox.
func TestInboxSubjectSaysWhoMayHavePublished(t *testing.T) {
	uc := NewForwardInbox(nil, nil, func(dest, inst string) bool { return dest == "crm-a" && inst == "inst-a" })
	conf := func(dest string) events.Data {
		return &events.ErasureConfirmed{Destination: dest, OutcomeID: "out_1", ConfirmedAt: time.Now()}
	}
	created := &events.ContactCreated{Role: events.RoleIndividual}
	for _, tc := range []struct {
		name, subject, inst string
		d                   events.Data
		want                error
	}{
		{"an event on its institution's inbox", "lethe.inbox.inst-a", "inst-a", created, nil},
		{"an event on another institution's inbox", "lethe.inbox.inst-b", "inst-a", created, ErrWrongInstitution},
		{"an event on a destination's subject", "lethe.inbox.inst-a.crm-a", "inst-a", created, ErrNotDestination},
		{"a confirmation on its destination's subject", "lethe.inbox.inst-a.crm-a", "inst-a", conf("crm-a"), nil},
		{"a confirmation on another destination's subject", "lethe.inbox.inst-a.crm-b", "inst-a", conf("crm-a"), ErrNotDestination},
		{"a confirmation on the plain inbox", "lethe.inbox.inst-a", "inst-a", conf("crm-a"), ErrNotDestination},
		{"a confirmation for an institution the destination does not follow", "lethe.inbox.inst-c.crm-a", "inst-c", conf("crm-a"), ErrNotDestination},
		{"a confirmation on another institution's subject", "lethe.inbox.inst-b.crm-a", "inst-a", conf("crm-a"), ErrWrongInstitution},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := uc.checkSubject(tc.subject, tc.inst, tc.d)
			if (tc.want == nil) != (err == nil) || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("checkSubject(%s, %s) = %v, want %v", tc.subject, tc.inst, err, tc.want)
			}
		})
	}
}
