package ingest

import (
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/events"
)

// Issue 14: ingest refuses an unknown type and a type Lethe publishes alike by naming the
// types it accepts, and only those: a published type such as lethe.contact.deleted.v1 is
// no more an answer than a glob (lethe.contact.*) that covers it.
func TestCheckEventNamesOnlyTheTypesLetheAccepts(t *testing.T) {
	for _, typ := range []string{"lethe.contact.teleported.v1", events.TypeContactDeleted} {
		t.Run(typ, func(t *testing.T) {
			_, err := checkEvent(rawEvent("e-1", typ, instA, "c-1", map[string]any{}))
			if err == nil {
				t.Fatal("accepted")
			}
			var reason string
			for _, p := range err.(*events.ValidationError).Problems {
				if p.Pointer == "/type" {
					reason = p.Reason
				}
			}
			for _, in := range events.InTypes() {
				if !strings.Contains(reason, in) {
					t.Errorf("reason %q lacks %s", reason, in)
				}
			}
			for _, out := range events.OutTypes() {
				if typ != out && strings.Contains(reason, out) {
					t.Errorf("reason %q lists %s, a type Lethe publishes", reason, out)
				}
			}
			if strings.Contains(reason, "*") {
				t.Errorf("reason %q names types by a glob", reason)
			}
		})
	}
}
