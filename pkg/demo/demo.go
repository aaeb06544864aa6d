package demo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/retention"
)

// Options shape the institution. Zero fields take the defaults below; Now has none, so that
// the same Seed and Now always give the same bytes.
type Options struct {
	Seed        uint64
	Contacts    int    // default 20,000
	Institution string // default "demo"
	// Now is the date the history ends at and the shares are computed as of (a run started
	// the same day plans what Stats says).
	Now   time.Time
	Years int // history depth, default 8
	// InactivityMonths is the retention period the inactive share is meant for: default 36.
	InactivityMonths int
	// InactiveShare is the share of in-scope contacts whose last activity is older than the
	// period (default 0.15); BlockedShare the share of those blocked (default 0.25), by debt,
	// credit, an active subscription or a legal hold, one blocker each.
	InactiveShare, BlockedShare float64
	// Erasures is how many active contacts ask for erasure by event (default 5).
	Erasures int
}

// Stats is what the generated history holds, as the generator planned it; a run as of
// Options.Now with Options.InactivityMonths plans Deletes + Anonymises + the blocked skips.
type Stats struct {
	Contacts, Events int
	ByType           map[string]int
	// In scope (individuals and relays): customers placed an order, prospects never did.
	Customers, Prospects int
	OutOfScope           int // structures, suppliers, guides, exhibitors, partners, producers
	// Inactive in-scope contacts as of Now: Deletes (prospects) and Anonymises (customers)
	// are the unblocked ones, Blocked the others by reason (the overdue contacts).
	Inactive, Deletes, Anonymises int
	Blocked                       map[string]int
	Erasures                      int // active contacts with a lethe.erasure.requested.v1
}

// Error wrapped when Options cannot make a history.
var ErrOptions = errors.New("demo: invalid options")

func (o *Options) defaults() error {
	if o.Now.IsZero() {
		return fmt.Errorf("%w: Now is required", ErrOptions)
	}
	if o.Contacts == 0 {
		o.Contacts = 20_000
	}
	if o.Institution == "" {
		o.Institution = "demo"
	}
	if o.Years == 0 {
		o.Years = 8
	}
	if o.InactivityMonths == 0 {
		o.InactivityMonths = 36
	}
	if o.InactiveShare == 0 {
		o.InactiveShare = 0.15
	}
	if o.BlockedShare == 0 {
		o.BlockedShare = 0.25
	}
	if o.Erasures == 0 {
		o.Erasures = 5
	}
	switch {
	case o.Contacts < 0 || o.Erasures < 0:
		return fmt.Errorf("%w: negative count", ErrOptions)
	case o.Years*12 < o.InactivityMonths+6:
		return fmt.Errorf("%w: %d years of history leave no room for contacts inactive for %d months", ErrOptions, o.Years, o.InactivityMonths)
	case o.InactiveShare < 0 || o.InactiveShare > 1 || o.BlockedShare < 0 || o.BlockedShare > 1:
		return fmt.Errorf("%w: shares are between 0 and 1", ErrOptions)
	}
	o.Now = o.Now.UTC()
	return nil
}

// Generate writes the history to w, one structured-mode CloudEvent per line (what `lethe
// send` reads), contact after contact, and returns what it holds. The same Options give the
// same output.
func Generate(w io.Writer, o Options) (Stats, error) {
	if err := o.defaults(); err != nil {
		return Stats{}, err
	}
	g := &generator{o: o, rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x6c657468)),
		st: Stats{ByType: map[string]int{}, Blocked: map[string]int{}}}
	g.start = retention.AddMonths(o.Now, -12*o.Years)
	g.threshold = retention.Threshold(o.Now, o.InactivityMonths)
	bw := bufio.NewWriterSize(w, 1<<16)
	erasuresLeft := o.Erasures
	for i := range o.Contacts {
		c := g.contact(i, &erasuresLeft, o.Contacts-i)
		for _, e := range c {
			b, err := events.MarshalStructured(e)
			if err != nil {
				return g.st, fmt.Errorf("demo: %w", err)
			}
			if _, err := bw.Write(append(b, '\n')); err != nil {
				return g.st, fmt.Errorf("demo: write: %w", err)
			}
			g.st.ByType[e.Type()]++
			g.st.Events++
		}
		g.st.Contacts++
	}
	if err := bw.Flush(); err != nil {
		return g.st, fmt.Errorf("demo: write: %w", err)
	}
	return g.st, nil
}

type generator struct {
	o                Options
	rng              *rand.Rand
	st               Stats
	start, threshold time.Time
}

// margin keeps every last activity at least this far from the threshold, so that a run
// started on Now's day or the next few plans exactly what Stats says.
const margin = 15 * 24 * time.Hour

var (
	firstNames = []string{"Ada", "Bruno", "Chloé", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Inès", "Jonas", "Kenji", "Lucía", "Mateo", "Nora", "Olivier", "Priya", "Quentin", "Rosa", "Samir", "Tess"}
	lastNames  = []string{"Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Leroy", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Lefèvre", "Faure", "André", "Mercier", "Blanc", "Guerin"}
	countries  = []string{"FR", "FR", "FR", "BE", "CH", "DE", "ES", "IT", "GB", "NL"}
	otherRoles = []string{events.RoleStructure, events.RoleSupplier, events.RoleGuide, events.RoleExhibitor, events.RolePartner, events.RoleProducer}
	products   = []string{"season-pass", "concert-hall-a", "museum-entry", "guided-tour", "family-ticket", "gala-dinner", "workshop", "exhibition-pass"}
	blockers   = []string{retention.ReasonDebt, retention.ReasonCredit, retention.ReasonActiveSubscription, retention.ReasonLegalHold}
)

// history collects one contact's events, with ids and times.
type history struct {
	g       *generator
	id      string
	n       int
	out     []event.Event
	created time.Time
	blocker string // what blocks the contact, "" when nothing does
}

func (h *history) add(source string, at time.Time, d events.Data) {
	h.n++
	e, err := events.New(source, h.g.o.Institution, h.id, d,
		events.WithID(fmt.Sprintf("demo-%s-%03d", h.id, h.n)), events.WithTime(at))
	if err != nil {
		panic(fmt.Sprintf("demo: the generator built an event the contract refuses: %v", err)) // a bug here, not bad input
	}
	h.out = append(h.out, e)
}

func (g *generator) between(a, b time.Time) time.Time {
	if !b.After(a) {
		return a
	}
	return a.Add(time.Duration(g.rng.Int64N(int64(b.Sub(a))))).Truncate(time.Second)
}

func (g *generator) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func str(s string) *string { return &s }

// contact generates one contact: its role, whether it is a customer, its last activity
// (inactive or not), the activities up to it, then blockers and resolved blockers.
func (g *generator) contact(i int, erasuresLeft *int, remaining int) []event.Event {
	h := &history{g: g, id: fmt.Sprintf("c-%06d", i+1)}
	role := events.RoleIndividual
	switch r := g.rng.Float64(); {
	case r < 0.05:
		role = events.RoleRelay
	case r < 0.11:
		role = g.pick(otherRoles)
	}
	inScope := role == events.RoleIndividual || role == events.RoleRelay
	customer := g.rng.Float64() < 0.6
	inactive := g.rng.Float64() < g.o.InactiveShare
	blocked := inactive && g.rng.Float64() < g.o.BlockedShare

	var last time.Time
	if inactive {
		last = g.between(g.start.Add(90*24*time.Hour), g.threshold.Add(-margin))
	} else {
		last = g.between(g.threshold.Add(margin), g.o.Now.Add(-24*time.Hour))
	}
	h.created = g.between(g.start, last)
	first, family := g.pick(firstNames), g.pick(lastNames)
	profile := events.Profile{
		Email:     str(fmt.Sprintf("%s.%s.%d@example.org", asciiLower(first), asciiLower(family), i+1)),
		FirstName: str(first), LastName: str(family),
		Address: &events.Address{City: str("Lyon"), Postcode: str(fmt.Sprintf("69%03d", g.rng.IntN(1000))), Country: str(g.pick(countries))},
	}
	if g.rng.Float64() < 0.5 {
		profile.Phone = str(fmt.Sprintf("+33 6 %02d %02d %02d %02d", g.rng.IntN(100), g.rng.IntN(100), g.rng.IntN(100), g.rng.IntN(100)))
	}
	if g.rng.Float64() < 0.3 {
		profile.BirthDate = str(fmt.Sprintf("%04d-%02d-%02d", 1940+g.rng.IntN(65), 1+g.rng.IntN(12), 1+g.rng.IntN(28)))
	}
	if !inScope {
		profile.Company = str(family + " " + role + "s")
	}
	h.add("/demo/crm", h.created, &events.ContactCreated{Role: role, CreatedAt: h.created, Profile: profile})

	// Activities that count, the last of them at last; a customer's include an order.
	k := 1 + g.rng.IntN(8)
	dates := make([]time.Time, k)
	for j := range k - 1 {
		dates[j] = g.between(h.created, last)
	}
	dates[k-1] = last
	ordered := false
	for j, at := range dates {
		kind := g.rng.IntN(7)
		if customer && !ordered && j == k-1 {
			kind = 0 // a customer's last activity is its order when none came before
		}
		if !customer && kind == 0 {
			kind = 1 // a prospect never orders
		}
		switch kind {
		case 0:
			ordered = true
			h.order(at)
		case 1:
			h.option(at)
		case 2:
			h.add("/demo/marketing", at, &events.CampaignLinkClicked{CampaignID: fmt.Sprintf("campaign-%d", at.Year()), LinkID: "link-" + g.pick([]string{"programme", "tickets", "newsletter"}), ClickedAt: at})
		case 3:
			h.add("/demo/ticketing", at, &events.WaitlistJoined{WaitlistID: "waitlist-" + g.pick(products), JoinedAt: at})
		case 4:
			h.add("/demo/crm", at, &events.ConsentChanged{Authorisations: map[string]string{"marketing.email": "yes"}, ChangedAt: at})
		case 5:
			h.add("/demo/crm", at, &events.CriterionChanged{Criterion: "interest." + g.pick([]string{"music", "theatre", "dance", "exhibitions"}), Value: g.pick([]string{"high", "medium", "low"}), ChangedAt: at})
		default:
			h.add("/demo/marketing", at, &events.CampaignLinkClicked{CampaignID: "newsletter", LinkID: "unsubscribe-survey", ClickedAt: at})
		}
	}
	// Events that do not count, up to the last activity: a profile update, a refused consent,
	// a customer's payment.
	if g.rng.Float64() < 0.3 {
		at := g.between(h.created, last)
		h.add("/demo/crm", at, &events.ContactUpdated{Profile: events.Profile{Phone: str(fmt.Sprintf("+33 7 %02d %02d %02d %02d", g.rng.IntN(100), g.rng.IntN(100), g.rng.IntN(100), g.rng.IntN(100)))}, UpdatedAt: at})
	}
	if g.rng.Float64() < 0.2 {
		at := g.between(h.created, last)
		h.add("/demo/crm", at, &events.ConsentChanged{Authorisations: map[string]string{"partners": "no"}, ChangedAt: at})
	}
	if ordered {
		h.add("/demo/billing", last, &events.PaymentRecorded{Amount: int64(1500 + g.rng.IntN(20000)), Currency: "EUR", PaidAt: last})
	}

	// Blockers: an inactive contact chosen as blocked gets exactly one; others may carry one
	// that was resolved (a debt paid, a subscription terminated, a hold released), and a few
	// active contacts are blocked too.
	switch {
	case blocked || (!inactive && g.rng.Float64() < 0.05):
		h.block(g.pick(blockers), last)
	case g.rng.Float64() < 0.1:
		h.resolved(g.pick(blockers), last)
	}

	// A few active, unblocked contacts in scope ask for erasure; spread over the file.
	erasing := false
	if inScope && !inactive && *erasuresLeft > 0 && len(h.out) > 0 && !h.blocked() && g.rng.IntN(remaining) < *erasuresLeft*4 {
		erasing = true
		*erasuresLeft--
		at := g.between(last, g.o.Now)
		h.add("/demo/crm", at, &events.ErasureRequested{RequestedAt: at, Reason: "no longer a customer, please forget me"})
	}

	switch {
	case !inScope:
		g.st.OutOfScope++
	case ordered:
		g.st.Customers++
	default:
		g.st.Prospects++
	}
	if inScope && erasing {
		g.st.Erasures++
	}
	if inScope && inactive {
		g.st.Inactive++
		switch {
		case blocked:
			g.st.Blocked[h.blocker]++
		case ordered:
			g.st.Anonymises++
		default:
			g.st.Deletes++
		}
	}
	return h.out
}

func (h *history) order(at time.Time) {
	g := h.g
	items := []events.Item{{ProductID: g.pick(products)}}
	orderedAt := at
	if g.rng.Float64() < 0.5 { // a dated ticket: the performance is the recency, ordered before it
		items[0] = events.Item{ProductID: g.pick(products), Dated: true, ValidAt: at,
			Beneficiary: &events.Beneficiary{FirstName: str(g.pick(firstNames)), LastName: str(g.pick(lastNames))}}
		orderedAt = g.between(h.created, at)
	}
	h.add("/demo/ticketing", orderedAt, &events.OrderPlaced{OrderID: fmt.Sprintf("order-%s-%d", h.id, h.n), OrderedAt: orderedAt,
		ContactRole: g.pick([]string{events.ContactRoleBuyer, events.ContactRoleBuyer, events.ContactRoleAttendee}), Items: items})
}

func (h *history) option(at time.Time) {
	g := h.g
	o := events.OptionAcquired{OptionID: fmt.Sprintf("option-%s-%d", h.id, h.n), At: at, Items: []events.Item{{ProductID: g.pick(products)}}}
	if g.rng.Float64() < 0.5 {
		acquired := g.between(h.created, at)
		first := o
		first.At = acquired
		h.add("/demo/ticketing", acquired, &first)
		c := events.OptionConfirmed(o)
		h.add("/demo/ticketing", at, &c)
		return
	}
	h.add("/demo/ticketing", at, &o)
}

// blocked reports whether block was called; blocker names what blocks the contact.
func (h *history) blocked() bool { return h.blocker != "" }

func (h *history) block(reason string, last time.Time) {
	g := h.g
	h.blocker = reason
	at := g.between(h.created, last)
	switch reason {
	case retention.ReasonDebt:
		h.add("/demo/billing", at, &events.BalanceChanged{Balance: -int64(500 + g.rng.IntN(50000)), Currency: "EUR", At: at})
	case retention.ReasonCredit:
		h.add("/demo/billing", at, &events.BalanceChanged{Balance: int64(500 + g.rng.IntN(20000)), Currency: "EUR", At: at})
	case retention.ReasonActiveSubscription:
		h.add("/demo/billing", at, &events.SubscriptionChanged{SubscriptionID: "membership-" + h.id, Status: "active", At: at})
	case retention.ReasonLegalHold:
		h.add("/demo/legal", at, &events.LegalHoldChanged{Held: true, Reason: "disputed invoice", At: at})
	}
}

// resolved writes a blocker and, later, its end: the contact is not blocked.
func (h *history) resolved(reason string, last time.Time) {
	g := h.g
	at := g.between(h.created, last)
	end := g.between(at, last).Add(time.Second)
	switch reason {
	case retention.ReasonDebt, retention.ReasonCredit:
		sign := int64(-1)
		if reason == retention.ReasonCredit {
			sign = 1
		}
		h.add("/demo/billing", at, &events.BalanceChanged{Balance: sign * int64(500+g.rng.IntN(5000)), Currency: "EUR", At: at})
		h.add("/demo/billing", end, &events.BalanceChanged{Balance: 0, Currency: "EUR", At: end})
	case retention.ReasonActiveSubscription:
		h.add("/demo/billing", at, &events.SubscriptionChanged{SubscriptionID: "membership-" + h.id, Status: "active", At: at})
		h.add("/demo/billing", end, &events.SubscriptionChanged{SubscriptionID: "membership-" + h.id, Status: "terminated", At: end})
	case retention.ReasonLegalHold:
		h.add("/demo/legal", at, &events.LegalHoldChanged{Held: true, Reason: "claim under review", At: at})
		h.add("/demo/legal", end, &events.LegalHoldChanged{Held: false, At: end})
	}
}

// asciiLower folds a name into an e-mail's local part.
func asciiLower(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			b = append(b, byte(r-'A'+'a'))
		case r >= 'a' && r <= 'z':
			b = append(b, byte(r))
		case r == 'é' || r == 'è':
			b = append(b, 'e')
		case r == 'í':
			b = append(b, 'i')
		}
	}
	return string(b)
}
