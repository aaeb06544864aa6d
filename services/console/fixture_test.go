package console_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
)

// A demo institution as an upstream ticketing and billing system would describe it: a few
// hundred contacts over twelve years, with orders, clicks, consents, debts, credits,
// subscriptions and legal holds. Every personal value is kept, so that the pages can be
// swept for each of them.

var firstNames = []string{"Amélie", "Bastien", "Céleste", "Dorian", "Eloïse", "Fabrice", "Gwenaëlle", "Hippolyte", "Isaure", "Joachim",
	"Ludivine", "Maxence", "Noémie", "Octave", "Perrine", "Quentin", "Rosalie", "Sébastien", "Timothée", "Violaine"}

var lastNames = []string{"Abadie", "Beaumarchais", "Chauvelin", "Desrosiers", "Escoffier", "Fontenelle", "Guillemot", "Hautecoeur",
	"Isambert", "Jourdanet", "Lachaussée", "Montgolfier", "Noirmoutier", "Ombredanne", "Pellerin", "Quatremère", "Rochambeau",
	"Saint-Exupéry", "Tavernier", "Vaucanson"}

type demoContact struct {
	id      string
	events  []events.Data
	blocker string // debt, credit, active_subscription, legal_hold, or ""
}

type demo struct {
	inst     string
	contacts []demoContact
	// personal: every personal value sent, which no page may show.
	personal []string
}

func str(s string) *string { return &s }

func newDemo(inst string, n int, now time.Time) *demo {
	rng := rand.New(rand.NewPCG(16, 2026))
	d := &demo{inst: inst}
	start := time.Date(2014, 1, 1, 9, 0, 0, 0, time.UTC)
	span := now.AddDate(0, -1, 0).Sub(start)
	at := func(from time.Time) time.Time {
		rest := now.Sub(from)
		if rest <= 0 {
			return from
		}
		return from.Add(time.Duration(rng.Int64N(int64(rest)))).Truncate(time.Minute)
	}
	for i := range n {
		first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
		email := fmt.Sprintf("%s.%s.%d@example.org", first, last, i)
		phone := fmt.Sprintf("+33 6 %02d %02d %02d %02d", rng.IntN(100), rng.IntN(100), rng.IntN(100), i%100)
		street := fmt.Sprintf("%d rue des %s", 1+rng.IntN(120), last)
		d.personal = append(d.personal, email, phone, first+" "+last, street)
		role := "individual"
		switch r := rng.IntN(100); {
		case r < 8:
			role = "relay"
		case r < 14:
			role = "structure"
		}
		created := start.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Minute)
		c := demoContact{id: fmt.Sprintf("c-%04d", i)}
		c.events = append(c.events, &events.ContactCreated{Role: role, CreatedAt: created, Profile: events.Profile{
			Email: &email, FirstName: str(first), LastName: str(last), Phone: &phone,
			Address: &events.Address{Line1: &street, City: str("Lyon"), Postcode: str("69002"), Country: str("FR")},
		}})
		if rng.IntN(100) < 55 {
			ordered := at(created)
			c.events = append(c.events, &events.OrderPlaced{OrderID: fmt.Sprintf("o-%d", i), OrderedAt: ordered, ContactRole: "buyer",
				Items: []events.Item{{ProductID: "concert-" + fmt.Sprint(rng.IntN(40)), Dated: true, ValidAt: ordered.AddDate(0, rng.IntN(4), 0),
					Beneficiary: &events.Beneficiary{FirstName: str(first), LastName: str(last)}}}})
		}
		if rng.IntN(100) < 20 {
			c.events = append(c.events, &events.CampaignLinkClicked{CampaignID: "newsletter", LinkID: "season", ClickedAt: at(created)})
		}
		if rng.IntN(100) < 30 {
			c.events = append(c.events, &events.ConsentChanged{ChangedAt: at(created),
				Authorisations: map[string]string{"marketing": []string{"yes", "no"}[rng.IntN(2)], "marketing.email": "yes"}})
		}
		switch r := rng.IntN(100); {
		case r < 6:
			c.blocker = "debt"
			c.events = append(c.events, &events.BalanceChanged{Balance: -int64(500 + rng.IntN(9000)), Currency: "EUR", At: at(created)})
		case r < 9:
			c.blocker = "credit"
			c.events = append(c.events, &events.BalanceChanged{Balance: int64(500 + rng.IntN(9000)), Currency: "EUR", At: at(created)})
		case r < 13:
			c.blocker = "active_subscription"
			c.events = append(c.events, &events.SubscriptionChanged{SubscriptionID: fmt.Sprintf("sub-%d", i), Status: "active", At: at(created)})
		case r < 15:
			c.blocker = "legal_hold"
			reason := "litigation about order of " + first + " " + last
			d.personal = append(d.personal, reason)
			c.events = append(c.events, &events.LegalHoldChanged{Held: true, Reason: reason, At: at(created)})
		}
		d.contacts = append(d.contacts, c)
	}
	return d
}

// send posts the demo's events through the API, as batches.
func (d *demo) send(t *testing.T, base, token string) {
	t.Helper()
	var batch []event.Event
	flush := func() {
		if len(batch) == 0 {
			return
		}
		body, err := events.MarshalBatch(batch)
		if err != nil {
			t.Fatal(err)
		}
		postEvents(t, base, token, body)
		batch = batch[:0]
	}
	for _, c := range d.contacts {
		for i, data := range c.events {
			e, err := events.New("/ticketing", d.inst, c.id, data, events.WithID(fmt.Sprintf("%s-%d", c.id, i)))
			if err != nil {
				t.Fatalf("event %s-%d: %v", c.id, i, err)
			}
			batch = append(batch, e)
		}
		if len(batch) >= 200 {
			flush()
		}
	}
	flush()
}

func postEvents(t *testing.T, base, token string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/cloudevents-batch+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/events: %d", resp.StatusCode)
	}
}
