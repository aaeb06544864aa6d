package recency

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

func foldAll(evs []Activity) store.Contact {
	c := store.Contact{Institution: "inst-a", ID: "c1"}
	for _, a := range evs {
		Fold(&c, a)
	}
	return c
}

func checkRule(t *testing.T, rc ruleCase, c store.Contact) {
	t.Helper()
	if !c.Recency.Equal(day(rc.recency)) {
		t.Errorf("recency = %s, want %s", c.Recency.Format(time.DateOnly), rc.recency)
	}
	if c.RecencySource.EventID != rc.source {
		t.Errorf("recency source = %q, want %q", c.RecencySource.EventID, rc.source)
	}
	if c.Customer != rc.customer {
		t.Errorf("customer = %v, want %v", c.Customer, rc.customer)
	}
	if rc.extraChecks != nil {
		if err := rc.extraChecks(c); err != nil {
			t.Error(err)
		}
	}
}

func TestFoldRules(t *testing.T) {
	t.Parallel()
	for _, rc := range ruleCases() {
		t.Run(rc.name, func(t *testing.T) {
			checkRule(t, rc, foldAll(rc.events))
		})
	}
}

func TestFoldErasedContactKeepsNoPersonalData(t *testing.T) {
	t.Parallel()
	c := store.Contact{Institution: "inst-a", ID: "c1", Status: store.StatusAnonymised}
	for _, a := range activities("c1",
		created("late-created", "2018-01-01", "individual"),
		ev{id: "upd", data: &events.ContactUpdated{Profile: events.Profile{FirstName: ptr("sealed:v1:BBBB")}, UpdatedAt: day("2020-01-01")}},
		ev{id: "o", data: &events.OrderPlaced{OrderID: "o", OrderedAt: day("2020-01-01"), ContactRole: "buyer",
			Items: []events.Item{{ProductID: "p", Beneficiary: &events.Beneficiary{FirstName: ptr("sealed:v1:CCCC")}}}}},
	) {
		Fold(&c, a)
	}
	if len(c.Profile) != 0 {
		t.Fatalf("profile came back after erasure: %v", c.Profile)
	}
	if b := c.Orders["order:o"].Items[0].BeneficiaryFirstName; b != "" {
		t.Fatal("a beneficiary name came back after erasure")
	}
	if !c.Recency.Equal(day("2020-01-01")) {
		t.Fatalf("the dates of a late event still count: recency = %s", c.Recency)
	}
}

// randomHistory builds a history of n events of every kind for one contact.
func randomHistory(r *rand.Rand, n int) []Activity {
	base := day("2015-01-01")
	at := func() time.Time { return base.Add(time.Duration(r.IntN(4000)) * 24 * time.Hour) }
	orgs := []string{"", "org-1", "org-2"}
	auths := []string{"marketing", "marketing.email", "partners"}
	vals := []string{"yes", "no", "unset"}
	var evs []ev
	evs = append(evs, created("created", "2015-06-01", "individual"))
	for i := range n {
		id := fmt.Sprintf("e%03d", i)
		var data any
		switch r.IntN(11) {
		case 0:
			data = &events.ContactUpdated{Profile: events.Profile{Email: ptr(fmt.Sprintf("sealed:v1:%d", i))}, UpdatedAt: at()}
		case 1:
			data = &events.CriterionChanged{Criterion: "c", Value: "v", ChangedAt: at()}
		case 2:
			m := map[string]string{}
			for range 1 + r.IntN(2) {
				m[auths[r.IntN(len(auths))]] = vals[r.IntN(len(vals))]
			}
			data = &events.ConsentChanged{Authorisations: m, ChangedAt: at()}
		case 3:
			data = &events.OptionAcquired{OptionID: fmt.Sprint(r.IntN(3)), At: at(), Items: []events.Item{{ProductID: "p", Dated: true, ValidAt: at()}}}
		case 4:
			data = &events.OrderPlaced{OrderID: fmt.Sprint(r.IntN(3)), OrderedAt: at(), ContactRole: "buyer",
				Items: []events.Item{{ProductID: "p"}, {ProductID: "q", Dated: true, ValidAt: at(), Beneficiary: &events.Beneficiary{LastName: ptr("sealed:v1:x")}}}}
		case 5:
			data = &events.PaymentRecorded{Amount: 1, Currency: "EUR", PaidAt: at()}
		case 6:
			data = &events.BalanceChanged{Balance: int64(r.IntN(3) - 1), Currency: "EUR", At: at()}
		case 7:
			data = &events.SubscriptionChanged{SubscriptionID: fmt.Sprint(r.IntN(2)), Status: []string{"initialized", "active", "suspended", "terminated"}[r.IntN(4)], At: at()}
		case 8:
			data = &events.WaitlistJoined{WaitlistID: "w", JoinedAt: at()}
		case 9:
			data = &events.CampaignLinkClicked{CampaignID: "c", LinkID: "l", ClickedAt: at()}
		default:
			data = &events.LegalHoldChanged{Held: r.IntN(2) == 0, At: at()}
		}
		evs = append(evs, ev{id: id, org: orgs[r.IntN(len(orgs))], data: data})
	}
	return activities("c1", evs...)
}

// Any permutation and duplication of a history yields the projection of the ordered history.
func TestFoldPermutationAndDuplicationInvariant(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		history := randomHistory(r, 1+r.IntN(30))
		want := foldAll(history)

		shuffled := append([]Activity(nil), history...)
		for range r.IntN(len(history) + 1) { // duplicates: redelivery and replay
			shuffled = append(shuffled, history[r.IntN(len(history))])
		}
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := foldAll(shuffled)
		if !reflect.DeepEqual(normalise(got), normalise(want)) {
			t.Fatalf("trial %d: projection depends on order or duplicates\n got: %+v\nwant: %+v", trial, got, want)
		}
	}
}

// normalise makes empty and nil collections compare equal.
func normalise(c store.Contact) store.Contact {
	if len(c.Profile) == 0 {
		c.Profile = nil
	}
	if len(c.Orders) == 0 {
		c.Orders = nil
	}
	if len(c.Subscriptions) == 0 {
		c.Subscriptions = nil
	}
	return c
}

// A criterion's value is a last-writer-wins register per criterion; after erasure neither it
// nor a legal hold's reason is kept, whatever a late event says.
func TestFoldKeepsCriteriaAndForgetsPersonalValuesOfAnErasedContact(t *testing.T) {
	t.Parallel()
	at := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	crit := func(id string, d int, v string) Activity {
		return Activity{ID: id, Type: events.TypeCriterionChanged, Data: &events.CriterionChanged{Criterion: "vip", Value: v, ChangedAt: at(d)}}
	}
	var c store.Contact
	Fold(&c, crit("e2", 2, "sealed:v1:new"))
	Fold(&c, crit("e1", 1, "sealed:v1:old"))
	if f := c.Criteria["vip"]; f.Value != "sealed:v1:new" || !f.Sealed || f.Source.EventID != "e2" {
		t.Fatalf("criterion %+v, want the latest value", f)
	}
	c.Status, c.Criteria = store.StatusAnonymised, nil
	Fold(&c, crit("e3", 3, "sealed:v1:late"))
	Fold(&c, Activity{ID: "e4", Type: events.TypeLegalHoldChanged, Data: &events.LegalHoldChanged{Held: true, Reason: "sealed:v1:why", At: at(4)}})
	if c.Criteria != nil || c.LegalHold.Reason != "" || !c.LegalHold.Held {
		t.Fatalf("after erasure: criteria %v, legal hold %+v", c.Criteria, c.LegalHold)
	}
}

// FoldAll, which the batch handler uses (derive once per contact and batch), gives exactly
// Fold's projection one event at a time, whatever the batch boundaries and the contact's
// status: a fold that skipped derive where it mattered would disagree here.
func TestFoldAllAgreesWithFoldOneByOne(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	statuses := []store.Status{"", store.StatusActive, store.StatusAnonymised, store.StatusDeleted}
	for trial := range 300 {
		history := randomHistory(r, 1+r.IntN(30))
		r.Shuffle(len(history), func(i, j int) { history[i], history[j] = history[j], history[i] })
		status := statuses[r.IntN(len(statuses))]
		one := store.Contact{Institution: "inst-a", ID: "c1", Status: status}
		for _, a := range history {
			Fold(&one, a)
		}
		batched := store.Contact{Institution: "inst-a", ID: "c1", Status: status}
		for rest := history; len(rest) > 0; { // batches of random sizes over the folded state
			n := 1 + r.IntN(len(rest))
			FoldAll(&batched, rest[:n])
			rest = rest[n:]
		}
		if !reflect.DeepEqual(batched, one) {
			t.Fatalf("trial %d (status %q): FoldAll differs from Fold\n got: %+v\nwant: %+v", trial, status, batched, one)
		}
	}
}
