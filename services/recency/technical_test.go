package recency

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
)

func techAt(id string, at time.Time, ip string) *store.Technical {
	return &store.Technical{EventID: id, CollectedAt: at, IP: "sealed:v1:" + ip, UserAgent: "sealed:v1:ua-" + ip}
}

func TestTechnicalOfReadsOnlyWhatIngestWrites(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 2, 1, 9, 30, 0, 123, time.UTC)
	mk := func(exts map[string]string) event.Event {
		e, err := events.New("/test", "inst-a", "c1", &events.CampaignLinkClicked{CampaignID: "c", LinkID: "l", ClickedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range exts {
			e.SetExtension(k, v)
		}
		return e
	}
	stamp := at.Format(time.RFC3339Nano)
	good := mk(map[string]string{events.ExtClientIP: "sealed:v1:AAA", events.ExtUserAgent: "sealed:v1:BBB", events.ExtCollectedAt: stamp})
	got := technicalOf(good)
	want := &store.Technical{EventID: good.ID(), CollectedAt: at, IP: "sealed:v1:AAA", UserAgent: "sealed:v1:BBB"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("technicalOf = %+v, want %+v", got, want)
	}
	for name, exts := range map[string]map[string]string{
		"none":            {},
		"clear IP":        {events.ExtClientIP: "192.0.2.1", events.ExtCollectedAt: stamp},
		"clear UA":        {events.ExtClientIP: "sealed:v1:AAA", events.ExtUserAgent: "curl/8", events.ExtCollectedAt: stamp},
		"no date":         {events.ExtClientIP: "sealed:v1:AAA"},
		"unparsable date": {events.ExtClientIP: "sealed:v1:AAA", events.ExtCollectedAt: "yesterday"},
	} {
		if got := technicalOf(mk(exts)); got != nil {
			t.Errorf("%s: kept %+v", name, got)
		}
	}
}

func TestTechnicalFoldKeepsOneRecordPerEvent(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	click := &events.CampaignLinkClicked{CampaignID: "c", LinkID: "l", ClickedAt: t0}
	a := Activity{ID: "e1", Type: events.TypeCampaignLinkClicked, Institution: "inst-a", Contact: "c1", Data: click, Technical: techAt("e1", t0.Add(time.Hour), "first")}
	resent := a
	resent.Technical = techAt("e1", t0.Add(48*time.Hour), "later") // the upstream sent e1 again, days later
	b := Activity{ID: "e2", Type: events.TypeCampaignLinkClicked, Institution: "inst-a", Contact: "c1", Data: click, Technical: techAt("e2", t0, "other")}

	c := store.Contact{Institution: "inst-a", ID: "c1"}
	for _, act := range []Activity{resent, a, a, b} {
		Fold(&c, act)
	}
	if len(c.Technical) != 2 {
		t.Fatalf("%d technical records, want 2: %+v", len(c.Technical), c.Technical)
	}
	if c.Technical[0].EventID != "e2" || c.Technical[1].EventID != "e1" {
		t.Errorf("records not in collection order: %+v", c.Technical)
	}
	if c.Technical[1].IP != "sealed:v1:first" || !c.Technical[1].CollectedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("e1 keeps %+v, want its first collection", c.Technical[1])
	}

	// An erased contact collects nothing more.
	gone := store.Contact{Institution: "inst-a", ID: "c2", Status: store.StatusAnonymised}
	Fold(&gone, b)
	if len(gone.Technical) != 0 {
		t.Errorf("technical data recorded for an anonymised contact")
	}
}

// The permutation property of the fold (fold_test.go), with technical data on some events
// and upstream re-sends of the same event collected at other times.
func TestTechnicalFoldPermutationAndDuplicationInvariant(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 11))
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for trial := range 300 {
		history := randomHistory(r, 1+r.IntN(30))
		for i := range history {
			if r.IntN(2) == 0 {
				history[i].Technical = techAt(history[i].ID, base.Add(time.Duration(r.IntN(50))*time.Hour), fmt.Sprint(r.IntN(3)))
			}
		}
		for range r.IntN(5) { // re-sends: same event, another collection
			a := history[r.IntN(len(history))]
			a.Technical = techAt(a.ID, base.Add(time.Duration(r.IntN(50))*time.Hour), fmt.Sprint(r.IntN(3)))
			history = append(history, a)
		}
		want := foldAll(history)

		shuffled := append([]Activity(nil), history...)
		for range r.IntN(len(history) + 1) {
			shuffled = append(shuffled, history[r.IntN(len(history))])
		}
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := foldAll(shuffled)
		if !reflect.DeepEqual(normalise(got), normalise(want)) {
			t.Fatalf("trial %d: technical records depend on order or duplicates\n got: %+v\nwant: %+v", trial, got.Technical, want.Technical)
		}
	}
}

// From the bus message to the stored projection, on both stores: the technical data lands
// sealed, once per event.
func TestTechnicalDataReachesTheProjection(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		e, err := events.New("/test", "inst-a", "c-tech", &events.CampaignLinkClicked{CampaignID: "c", LinkID: "l", ClickedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		e.SetExtension(events.ExtClientIP, "sealed:v1:IPIPIP")
		e.SetExtension(events.ExtUserAgent, "sealed:v1:UAUAUA")
		e.SetExtension(events.ExtCollectedAt, at.Format(time.RFC3339Nano))
		act, err := activityFrom(&bus.Message{Event: e})
		if err != nil {
			t.Fatal(err)
		}
		uc := NewRecordActivity(s.Contacts())
		if err := uc.Handle(ctx, []Activity{act, act}); err != nil {
			t.Fatal(err)
		}
		if err := uc.Handle(ctx, []Activity{act}); err != nil { // redelivered later
			t.Fatal(err)
		}
		c, err := s.Contacts().Get(ctx, "inst-a", "c-tech")
		if err != nil {
			t.Fatal(err)
		}
		want := []store.Technical{{EventID: e.ID(), CollectedAt: at, IP: "sealed:v1:IPIPIP", UserAgent: "sealed:v1:UAUAUA"}}
		if len(c.Technical) != 1 || c.Technical[0].EventID != want[0].EventID || !c.Technical[0].CollectedAt.Equal(at) ||
			c.Technical[0].IP != want[0].IP || c.Technical[0].UserAgent != want[0].UserAgent {
			t.Fatalf("technical = %+v, want %+v", c.Technical, want)
		}
	})
}
