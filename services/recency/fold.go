package recency

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Activity is one event of LETHE_ACTIVITY, decoded: its envelope and its typed data
// (one of the events.* data structs).
type Activity struct {
	ID           string
	Type         string
	Institution  string
	Organisation string
	Contact      string
	Data         any
	// Technical is the technical data ingest recorded from the request that brought the
	// event (sealed IP address and user agent, collection time), nil when none.
	Technical *store.Technical
}

// sealedPrefix marks a value ingest sealed with the contact's key.
const sealedPrefix = "sealed:v1:"

// Fold applies one activity to the contact's projection. Every part of the projection is a
// join-semilattice — max-registers, last-writer-wins registers ordered by (date, event id),
// grow-only sets and a consent history — so Fold is commutative, associative and idempotent:
// redelivery, replay and out-of-order arrival give the same projection. Fold never reads
// a clock.
func Fold(c *store.Contact, a Activity) {
	if foldFacts(c, a) {
		derive(c)
	}
}

// FoldAll is Fold of every activity of acts in turn, with what depends on more than one
// event (derive) computed once at the end rather than after each: derive is a function of
// the folded facts alone, so the result is Fold's, for a fraction of the work on a batch
// that holds several events of one contact. fold_test.go checks the two agree.
func FoldAll(c *store.Contact, acts []Activity) {
	folded := false
	for i := range acts {
		folded = foldFacts(c, acts[i]) || folded
	}
	if folded {
		derive(c)
	}
}

// foldFacts applies a to the contact's own facts, not what derive computes from them, and
// reports whether it did: nothing is folded into a deleted prospect's tombstone.
func foldFacts(c *store.Contact, a Activity) bool {
	if c.Status == "" {
		c.Status = store.StatusActive
	}
	if c.Status == store.StatusDeleted {
		// A deleted prospect's document is its tombstone: nothing a late event says about
		// the contact is kept, so the deletion stays a deletion.
		return false
	}
	erased := c.Status != store.StatusActive
	if a.Technical != nil && !erased {
		foldTechnical(c, *a.Technical)
	}
	if a.Organisation != "" {
		addOrganisation(c, a.Organisation)
	}
	src := func(at time.Time) store.Source { return store.Source{EventID: a.ID, Type: a.Type, At: at.UTC()} }

	switch d := a.Data.(type) {
	case *events.ContactCreated:
		s := src(d.CreatedAt)
		// Two created events for one contact should not happen; if they do, the earliest
		// wins, whatever the order they arrive in.
		if !c.Created || s.Before(c.CreatedSource) {
			c.Created, c.Role, c.CreatedAt, c.CreatedSource = true, d.Role, s.At, s
		}
		if !erased {
			foldProfile(c, &d.Profile, s)
		}
	case *events.ContactUpdated:
		if !erased {
			foldProfile(c, &d.Profile, src(d.UpdatedAt))
		}
	case *events.CriterionChanged:
		s := src(d.ChangedAt)
		foldActivity(c, s)
		if !erased {
			foldCriterion(c, d.Criterion, d.Value, s)
		}
	case *events.ConsentChanged:
		foldConsent(c, store.ConsentChange{Source: src(d.ChangedAt), Authorisations: maps.Clone(d.Authorisations)})
	case *events.OptionAcquired:
		foldOrder(c, "option", d.OptionID, "", d.At, d.Items, src, erased)
	case *events.OptionConfirmed:
		foldOrder(c, "option", d.OptionID, "", d.At, d.Items, src, erased)
	case *events.OrderPlaced:
		s := foldOrder(c, "order", d.OrderID, d.ContactRole, d.OrderedAt, d.Items, src, erased)
		// Buyer or attendee: the contact bought or benefited, so it is a customer. The
		// earliest such order is the proof, whatever the arrival order.
		if !c.Customer || s.Before(c.CustomerSource) {
			c.Customer, c.CustomerSource = true, s
		}
	case *events.BalanceChanged:
		s := src(d.At)
		if c.Balance.Source.EventID == "" || c.Balance.Source.Before(s) {
			c.Balance = store.Balance{Amount: d.Balance, Currency: d.Currency, Source: s}
		}
	case *events.SubscriptionChanged:
		s := src(d.At)
		if old, ok := c.Subscriptions[d.SubscriptionID]; !ok || old.Source.Before(s) {
			if c.Subscriptions == nil {
				c.Subscriptions = map[string]store.Subscription{}
			}
			c.Subscriptions[d.SubscriptionID] = store.Subscription{Status: d.Status, Source: s}
		}
	case *events.LegalHoldChanged:
		s := src(d.At)
		if c.LegalHold.Source.EventID == "" || c.LegalHold.Source.Before(s) {
			// The hold itself is a fact erasure keeps; its reason is personal and is not.
			h := store.LegalHold{Held: d.Held, Reason: d.Reason, Source: s}
			if erased {
				h.Reason = ""
			}
			c.LegalHold = h
		}
	case *events.WaitlistJoined:
		foldActivity(c, src(d.JoinedAt))
	case *events.CampaignLinkClicked:
		foldActivity(c, src(d.ClickedAt))
	case *events.PaymentRecorded, *events.ErasureRequested:
		// A payment alone does not count; an erasure request is the anonymiser's business.
	}
	return true
}

func addOrganisation(c *store.Contact, org string) {
	i, found := slices.BinarySearch(c.Organisations, org)
	if !found {
		c.Organisations = slices.Insert(c.Organisations, i, org)
	}
}

func foldActivity(c *store.Contact, s store.Source) {
	if c.Activity.EventID == "" || c.Activity.Before(s) {
		c.Activity = s
	}
}

// foldOrder records the order or option and returns the source that dates it for recency:
// for dated products the validity date, for undated ones the action date, the latest over
// the items.
func foldOrder(c *store.Contact, kind, id, role string, at time.Time, items []events.Item, src func(time.Time) store.Source, erased bool) store.Source {
	stored := make([]store.Item, 0, len(items))
	for _, it := range items {
		si := store.Item{ProductID: it.ProductID, Dated: it.Dated}
		if it.Dated {
			si.ValidAt = it.ValidAt.UTC()
		}
		if it.Beneficiary != nil && !erased {
			si.BeneficiaryFirstName = deref(it.Beneficiary.FirstName)
			si.BeneficiaryLastName = deref(it.Beneficiary.LastName)
		}
		stored = append(stored, si)
	}
	date := itemsDate(at, items)
	s := src(date)
	foldActivity(c, s)

	key := kind + ":" + id
	o := store.Order{ID: id, Kind: kind, Role: role, Items: stored, Source: src(at)}
	if old, ok := c.Orders[key]; !ok || old.Source.Before(o.Source) {
		if c.Orders == nil {
			c.Orders = map[string]store.Order{}
		}
		c.Orders[key] = o
	}
	return s
}

// itemsDate is the recency date of an option or order: max over items of (dated → valid_at,
// undated → the action date).
func itemsDate(at time.Time, items []events.Item) time.Time {
	var date time.Time
	for i, it := range items {
		d := at
		if it.Dated {
			d = it.ValidAt
		}
		if i == 0 || d.After(date) {
			date = d
		}
	}
	if len(items) == 0 {
		return at
	}
	return date
}

func foldConsent(c *store.Contact, ch store.ConsentChange) {
	i := sort.Search(len(c.Consents), func(i int) bool { return !c.Consents[i].Source.Before(ch.Source) })
	if i < len(c.Consents) && c.Consents[i].Source.EventID == ch.Source.EventID && c.Consents[i].Source.At.Equal(ch.Source.At) {
		return // already folded
	}
	c.Consents = slices.Insert(c.Consents, i, ch)
}

// derive recomputes everything that depends on more than one event: current authorisations
// and recency with its source. Recency is the latest activity that counts; the creation date
// is only the fallback of a contact with none (docs/contract.md, "Events in"; the ticketing
// seed: "si le contact n'a effectué aucune des actions ci-dessus, on considère sa date de
// création"), so a contact created after its history — a migration, a CRM import — dates from
// its last activity, not from its import.
func derive(c *store.Contact) {
	var best store.Source
	consider := func(s store.Source) {
		if s.EventID != "" && (best.EventID == "" || best.Before(s)) {
			best = s
		}
	}
	consider(c.Activity)

	// Replay the consent history in order; a change counts when, after it, at least one
	// authorisation of the contact is still "yes".
	var auth map[string]store.Authorisation
	if len(c.Consents) > 0 {
		auth = make(map[string]store.Authorisation, len(c.Consents[len(c.Consents)-1].Authorisations))
	}
	for _, ch := range c.Consents {
		for name, v := range ch.Authorisations {
			auth[name] = store.Authorisation{Value: v, Source: ch.Source}
		}
		for _, a := range auth {
			if a.Value == "yes" {
				consider(ch.Source)
				break
			}
		}
	}
	if len(auth) > 0 {
		c.Authorisations = auth
	} else {
		c.Authorisations = nil
	}
	if best.EventID == "" && c.Created {
		best = c.CreatedSource
	}
	c.Recency, c.RecencySource = best.At, best
}

func foldProfile(c *store.Contact, p *events.Profile, s store.Source) {
	set := func(name string, v *string) {
		if v == nil {
			return
		}
		if old, ok := c.Profile[name]; ok && !old.Source.Before(s) {
			return
		}
		if c.Profile == nil {
			c.Profile = map[string]store.Field{}
		}
		c.Profile[name] = store.Field{Value: *v, Sealed: strings.HasPrefix(*v, sealedPrefix), Source: s}
	}
	set("email", p.Email)
	set("first_name", p.FirstName)
	set("last_name", p.LastName)
	set("phone", p.Phone)
	set("company", p.Company)
	set("birth_date", p.BirthDate)
	set("remark", p.Remark)
	if a := p.Address; a != nil {
		set("address.line1", a.Line1)
		set("address.line2", a.Line2)
		set("address.postcode", a.Postcode)
		set("address.city", a.City)
		set("address.country", a.Country)
	}
	for name, v := range p.Custom {
		set("custom."+name, v)
	}
}

// foldCriterion keeps the latest value of a criterion (sealed by ingest), a last-writer-wins
// register per criterion name like a profile field.
func foldCriterion(c *store.Contact, name, v string, s store.Source) {
	if old, ok := c.Criteria[name]; ok && !old.Source.Before(s) {
		return
	}
	if c.Criteria == nil {
		c.Criteria = map[string]store.Field{}
	}
	c.Criteria[name] = store.Field{Value: v, Sealed: strings.HasPrefix(v, sealedPrefix), Source: s}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
