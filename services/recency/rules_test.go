package recency

import (
	"fmt"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// The rules of DESIGN.md "The rules", one case each, built from the seeds' own examples.

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func ptr(s string) *string { return &s }

type ev struct {
	id   string
	org  string
	data any
}

func activities(contact string, evs ...ev) []Activity {
	out := make([]Activity, 0, len(evs))
	for _, e := range evs {
		out = append(out, Activity{
			ID: e.id, Type: e.data.(interface{ EventType() string }).EventType(),
			Institution: "inst-a", Organisation: e.org, Contact: contact, Data: e.data,
		})
	}
	return out
}

func created(id, at, role string) ev {
	return ev{id: id, org: "org-1", data: &events.ContactCreated{Role: role, CreatedAt: day(at),
		Profile: events.Profile{Email: ptr("sealed:v1:AAAA"), Address: &events.Address{Country: ptr("CH")}}}}
}

func dated(product, validAt string) events.Item {
	return events.Item{ProductID: product, Dated: true, ValidAt: day(validAt)}
}

func undated(product string) events.Item { return events.Item{ProductID: product} }

func order(id, at, role string, items ...events.Item) ev {
	return ev{id: id, org: "org-1", data: &events.OrderPlaced{OrderID: id, OrderedAt: day(at), ContactRole: role, Items: items}}
}

type ruleCase struct {
	name        string
	events      []Activity
	recency     string
	source      string // id of the event that set recency
	customer    bool
	extraChecks func(store.Contact) error
}

func ruleCases() []ruleCase {
	return []ruleCase{
		{
			name:    "no activity: the creation date",
			events:  activities("c1", created("e-created", "2019-03-01", "individual")),
			recency: "2019-03-01", source: "e-created",
		},
		{
			// Seeds: a ticket bought in spring for a show on 15 June, then another for 1 September.
			name: "dated products: the performance date, the latest ticket wins",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				order("o-june", "2018-04-02", "buyer", dated("show-june", "2018-06-15")),
				order("o-sept", "2018-07-20", "buyer", dated("show-sept", "2018-09-01")),
			),
			recency: "2018-09-01", source: "o-sept", customer: true,
		},
		{
			name: "a performance date in the future protects until then",
			events: activities("c1",
				created("e-created", "2026-01-10", "individual"),
				order("o-future", "2026-11-01", "attendee", dated("opera", "2027-06-15")),
			),
			recency: "2027-06-15", source: "o-future", customer: true,
		},
		{
			name: "undated products: the order date",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				order("o-voucher", "2019-05-05", "buyer", undated("gift-card")),
			),
			recency: "2019-05-05", source: "o-voucher", customer: true,
		},
		{
			name: "mixed items: the latest over the items",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				order("o-mixed", "2019-05-05", "buyer", dated("old-show", "2019-01-01"), undated("programme")),
			),
			recency: "2019-05-05", source: "o-mixed", customer: true,
		},
		{
			name: "option taken and confirmed count, but do not make a customer",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				ev{id: "opt-1", data: &events.OptionAcquired{OptionID: "opt", At: day("2019-02-01"), Items: []events.Item{dated("concert", "2019-04-01")}}},
				ev{id: "opt-2", data: &events.OptionConfirmed{OptionID: "opt", At: day("2019-02-10"), Items: []events.Item{undated("parking")}}},
			),
			recency: "2019-04-01", source: "opt-1", customer: false,
		},
		{
			name: "a payment alone changes nothing",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				ev{id: "pay", data: &events.PaymentRecorded{Amount: 5000, Currency: "EUR", PaidAt: day("2024-01-01")}},
			),
			recency: "2018-01-10", source: "e-created",
		},
		{
			name: "waiting list sign-up",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				ev{id: "wl", data: &events.WaitlistJoined{WaitlistID: "w", JoinedAt: day("2020-03-03")}},
			),
			recency: "2020-03-03", source: "wl",
		},
		{
			name: "explicit click on a tracked link",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				ev{id: "click", data: &events.CampaignLinkClicked{CampaignID: "renew", LinkID: "l", ClickedAt: day("2021-04-04")}},
			),
			recency: "2021-04-04", source: "click",
		},
		{
			name: "criterion change",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				ev{id: "crit", data: &events.CriterionChanged{Criterion: "newsletter.theme", Value: "opera", ChangedAt: day("2021-05-05")}},
			),
			recency: "2021-05-05", source: "crit",
		},
		{
			name: "consent change with an authorisation still yes counts",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				ev{id: "cons", data: &events.ConsentChanged{Authorisations: map[string]string{"marketing": "yes", "partners": "no"}, ChangedAt: day("2021-06-06")}},
			),
			recency: "2021-06-06", source: "cons",
		},
		{
			// Seeds: a change of authorisations counts only if at least one is still "yes".
			name: "consent withdrawn everywhere does not count",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				ev{id: "cons-yes", data: &events.ConsentChanged{Authorisations: map[string]string{"marketing.email": "yes"}, ChangedAt: day("2019-01-01")}},
				ev{id: "cons-no", data: &events.ConsentChanged{Authorisations: map[string]string{"marketing.email": "no", "marketing.sms": "unset"}, ChangedAt: day("2022-02-02")}},
			),
			recency: "2019-01-01", source: "cons-yes",
			extraChecks: func(c store.Contact) error {
				if a := c.Authorisations["marketing.email"]; a.Value != "no" {
					return fmt.Errorf("marketing.email = %q, want no", a.Value)
				}
				return nil
			},
		},
		{
			name: "consent: a partial change counts when another authorisation is still yes",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				ev{id: "cons-1", data: &events.ConsentChanged{Authorisations: map[string]string{"marketing.post": "yes"}, ChangedAt: day("2019-01-01")}},
				ev{id: "cons-2", data: &events.ConsentChanged{Authorisations: map[string]string{"marketing.email": "no"}, ChangedAt: day("2022-02-02")}},
			),
			recency: "2022-02-02", source: "cons-2",
		},
		{
			name: "institution-wide: activity in another organisation counts",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				ev{id: "o-other-org", org: "org-2", data: &events.OrderPlaced{OrderID: "x", OrderedAt: day("2022-01-01"), ContactRole: "attendee", Items: []events.Item{dated("match", "2022-03-01")}}},
			),
			recency: "2022-03-01", source: "o-other-org", customer: true,
			extraChecks: func(c store.Contact) error {
				if len(c.Organisations) != 2 || c.Organisations[0] != "org-1" || c.Organisations[1] != "org-2" {
					return fmt.Errorf("organisations = %v, want [org-1 org-2]", c.Organisations)
				}
				return nil
			},
		},
		{
			name: "blocker facts are kept, latest by date",
			events: activities("c1",
				created("e-created", "2018-01-10", "individual"),
				ev{id: "bal-2", data: &events.BalanceChanged{Balance: 0, Currency: "EUR", At: day("2020-02-01")}},
				ev{id: "bal-1", data: &events.BalanceChanged{Balance: -1200, Currency: "EUR", At: day("2020-01-01")}},
				ev{id: "sub-1", data: &events.SubscriptionChanged{SubscriptionID: "s", Status: "active", At: day("2020-01-01")}},
				ev{id: "hold", data: &events.LegalHoldChanged{Held: true, Reason: "litigation", At: day("2020-01-01")}},
			),
			recency: "2018-01-10", source: "e-created",
			extraChecks: func(c store.Contact) error {
				if c.Balance.Amount != 0 || c.Balance.Source.EventID != "bal-2" {
					return fmt.Errorf("balance = %+v, want 0 from bal-2", c.Balance)
				}
				if c.Subscriptions["s"].Status != "active" || !c.LegalHold.Held {
					return fmt.Errorf("subscription %+v hold %+v", c.Subscriptions, c.LegalHold)
				}
				return nil
			},
		},
		{
			name: "an event before the created event is not lost",
			events: activities("c1",
				order("o-early", "2020-01-01", "buyer", undated("x")),
				created("e-created", "2019-12-01", "individual"),
			),
			recency: "2020-01-01", source: "o-early", customer: true,
		},
		{
			// A migration: the CRM import creates the contact in 2024 with its history of
			// 2019-2020. The creation date is only the fallback of a contact with no activity
			// (DESIGN.md, the ticketing seed), so the last activity dates it.
			name: "a contact created after its history dates from its last activity",
			events: activities("c1",
				order("o-2019", "2019-05-01", "buyer", undated("x")),
				order("o-2020", "2020-02-01", "attendee", undated("y")),
				created("e-imported", "2024-06-01", "individual"),
			),
			recency: "2020-02-01", source: "o-2020", customer: true,
		},
	}
}
