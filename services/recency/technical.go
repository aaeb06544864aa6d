package recency

import (
	"slices"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// technicalOf reads the technical data ingest recorded on e (events.ExtClientIP,
// ExtUserAgent, ExtCollectedAt), or nil when there is none or it is not as ingest writes it:
// a value that is not sealed, or no collection time, is left out rather than kept in clear
// or kept with no clock to purge it by.
func technicalOf(e event.Event) *store.Technical {
	exts := events.ExtensionsOf(&e)
	ip, _ := exts[events.ExtClientIP].(string)
	ua, _ := exts[events.ExtUserAgent].(string)
	at, _ := exts[events.ExtCollectedAt].(string)
	if ip == "" && ua == "" {
		return nil
	}
	collected, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return nil
	}
	if (ip != "" && !strings.HasPrefix(ip, sealedPrefix)) || (ua != "" && !strings.HasPrefix(ua, sealedPrefix)) {
		return nil
	}
	return &store.Technical{EventID: e.ID(), CollectedAt: collected.UTC(), IP: ip, UserAgent: ua}
}

// foldTechnical adds t to the contact's technical records, kept in (CollectedAt, EventID)
// order with one record per event. An event delivered twice adds nothing; an event sent
// twice by its upstream (so collected twice) keeps its first collection, whatever the
// arrival order — min over (CollectedAt, IP, UserAgent), a join like the rest of the fold.
// The scheduler's purge removes records past the register's window.
func foldTechnical(c *store.Contact, t store.Technical) {
	if i := slices.IndexFunc(c.Technical, func(o store.Technical) bool { return o.EventID == t.EventID }); i >= 0 {
		if !technicalBefore(t, c.Technical[i]) {
			return
		}
		c.Technical = slices.Delete(c.Technical, i, i+1)
	}
	i, _ := slices.BinarySearchFunc(c.Technical, t, compareTechnical)
	c.Technical = slices.Insert(c.Technical, i, t)
}

func compareTechnical(a, b store.Technical) int {
	if c := a.CollectedAt.Compare(b.CollectedAt); c != 0 {
		return c
	}
	return strings.Compare(a.EventID, b.EventID)
}

// technicalBefore orders two collections of one event.
func technicalBefore(a, b store.Technical) bool {
	if c := a.CollectedAt.Compare(b.CollectedAt); c != 0 {
		return c < 0
	}
	if a.IP != b.IP {
		return a.IP < b.IP
	}
	return a.UserAgent < b.UserAgent
}
