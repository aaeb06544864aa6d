package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/events"
)

// Data categories of a register: a closed list, each naming the fields of the projection
// (store.Contact, JSON paths) it covers, so that what the register declares is what the
// engine holds. An unknown category in lethe.yaml is refused.
const (
	CategoryIdentity      = "identity"
	CategoryEmail         = "email"
	CategoryPhone         = "phone"
	CategoryPostalAddress = "postal_address"
	CategoryBirthDate     = "birth_date"
	CategoryRemarks       = "remarks"
	CategoryCustomFields  = "custom_fields"
	CategoryBeneficiaries = "beneficiaries"
	CategoryOrders        = "orders"
	CategoryActivity      = "activity"
	CategoryConsents      = "consents"
	CategoryBilling       = "billing"
	CategoryLegalHold     = "legal_hold"
	CategoryTechnical     = "technical"
)

// Category describes one data category.
type Category struct {
	Name        string
	Description string
	// Fields are the projection's fields (store.Contact JSON paths; * for any key) the category covers.
	Fields []string
	// Engine marks the categories the engine stores for every contact of every institution,
	// because its own decisions read them (scope, recency, customer or prospect, blockers). A
	// declared register must declare each of them.
	Engine bool
	// DefaultPurpose and DefaultLegalBasis fill the default register.
	DefaultPurpose    string
	DefaultLegalBasis string
}

// Categories is the closed list, in the order the register is shown.
var Categories = []Category{
	{Name: CategoryIdentity, Description: "names, company, role and organisations of the contact",
		Fields: []string{"profile.first_name", "profile.last_name", "profile.company", "role", "organisations", "created", "created_at", "created_source"},
		Engine: true, DefaultPurpose: "identify the contact and run the relationship with it; the role decides whether retention applies", DefaultLegalBasis: LegalBasisContract},
	{Name: CategoryEmail, Description: "e-mail address",
		Fields:         []string{"profile.email"},
		DefaultPurpose: "reach the contact about its bookings and orders", DefaultLegalBasis: LegalBasisContract},
	{Name: CategoryPhone, Description: "phone number",
		Fields:         []string{"profile.phone"},
		DefaultPurpose: "reach the contact about its bookings and orders", DefaultLegalBasis: LegalBasisContract},
	{Name: CategoryPostalAddress, Description: "postal address (the country is kept after anonymisation, for accounting)",
		Fields:         []string{"profile.address.line1", "profile.address.line2", "profile.address.postcode", "profile.address.city", "profile.address.country"},
		DefaultPurpose: "send tickets and invoices", DefaultLegalBasis: LegalBasisContract},
	{Name: CategoryBirthDate, Description: "date of birth",
		Fields:         []string{"profile.birth_date"},
		DefaultPurpose: "apply age-based rates", DefaultLegalBasis: LegalBasisContract},
	{Name: CategoryRemarks, Description: "free-text remarks about the contact",
		Fields:         []string{"profile.remark"},
		DefaultPurpose: "keep the institution's notes on the relationship", DefaultLegalBasis: LegalBasisLegitimateInterest},
	{Name: CategoryCustomFields, Description: "the upstream systems' own fields, all treated as personal",
		Fields:         []string{"profile.custom.*"},
		DefaultPurpose: "keep what the upstream systems record about the contact", DefaultLegalBasis: LegalBasisLegitimateInterest},
	{Name: CategoryBeneficiaries, Description: "names of the beneficiaries of the contact's tickets",
		Fields:         []string{"orders.*.items.*.beneficiary_first_name", "orders.*.items.*.beneficiary_last_name"},
		DefaultPurpose: "name the holders of tickets", DefaultLegalBasis: LegalBasisContract},
	{Name: CategoryOrders, Description: "orders and options: products, dates, buyer or attendee",
		Fields: []string{"orders", "customer", "customer_source"},
		Engine: true, DefaultPurpose: "sell and deliver; tell customers (anonymised) from prospects (deleted)", DefaultLegalBasis: LegalBasisContract},
	{Name: CategoryActivity, Description: "dates of the activities that count for retention (criteria, waiting lists, clicks) and the recency they give; the criteria's values, sealed",
		Fields: []string{"activity", "recency", "recency_source", "criteria"},
		Engine: true, DefaultPurpose: "date the last activity so that inactive contacts are erased on time", DefaultLegalBasis: LegalBasisLegalObligation},
	{Name: CategoryConsents, Description: "marketing and partner authorisations and their history",
		Fields: []string{"authorisations", "consents"},
		Engine: true, DefaultPurpose: "prove consent and target only contacts who gave it", DefaultLegalBasis: LegalBasisLegalObligation},
	{Name: CategoryBilling, Description: "balance and subscription states",
		Fields: []string{"balance", "subscriptions"},
		Engine: true, DefaultPurpose: "never erase a contact who owes, is owed or subscribes", DefaultLegalBasis: LegalBasisLegalObligation},
	{Name: CategoryLegalHold, Description: "legal hold and its reason",
		Fields: []string{"legal_hold"},
		Engine: true, DefaultPurpose: "never erase a contact under legal hold", DefaultLegalBasis: LegalBasisLegalObligation},
	{Name: CategoryTechnical, Description: "technical data of the requests that carried the contact's events: IP address, user agent",
		Fields:         []string{"technical"},
		DefaultPurpose: "security and proper functioning", DefaultLegalBasis: LegalBasisLegitimateInterest},
}

// BookkeepingFields are the projection's fields that belong to no category: the keys and
// states of the record itself, which identify nobody once the contact is erased.
var BookkeepingFields = []string{"institution", "id", "version", "status", "erased_at", "erased_by", "erased_fields", "updated_at"}

// CategoryNamed returns the category called name.
func CategoryNamed(name string) (Category, bool) {
	i := slices.IndexFunc(Categories, func(c Category) bool { return c.Name == name })
	if i < 0 {
		return Category{}, false
	}
	return Categories[i], true
}

// CategoryOfProfileField returns the category of a profile field as the projection names it
// ("email", "address.city", "custom.loyalty"), "" for a name it does not know.
func CategoryOfProfileField(name string) string {
	path := "profile." + name
	for _, c := range Categories {
		for _, f := range c.Fields {
			if f == path || (strings.HasSuffix(f, ".*") && strings.HasPrefix(path, strings.TrimSuffix(f, "*"))) {
				return c.Name
			}
		}
	}
	return ""
}

// Legal bases (GDPR article 6(1)).
const (
	LegalBasisConsent            = "consent"
	LegalBasisContract           = "contract"
	LegalBasisLegalObligation    = "legal_obligation"
	LegalBasisVitalInterests     = "vital_interests"
	LegalBasisPublicTask         = "public_task"
	LegalBasisLegitimateInterest = "legitimate_interest"
)

// LegalBases lists them with the words the readable register uses.
var LegalBases = []struct{ Name, Text string }{
	{LegalBasisConsent, "Consent (art. 6(1)(a))"},
	{LegalBasisContract, "Contract (art. 6(1)(b))"},
	{LegalBasisLegalObligation, "Legal obligation (art. 6(1)(c))"},
	{LegalBasisVitalInterests, "Vital interests (art. 6(1)(d))"},
	{LegalBasisPublicTask, "Public task (art. 6(1)(e))"},
	{LegalBasisLegitimateInterest, "Legitimate interest (art. 6(1)(f))"},
}

// LegalBasisText is the readable form of a legal basis.
func LegalBasisText(name string) string {
	for _, b := range LegalBases {
		if b.Name == name {
			return b.Text
		}
	}
	return name
}

// The three retention clocks, and how the engine enforces each:
//
//   - after_last_activity: the inactivity runs. They erase a contact as a whole once its
//     recency is older than the institution's inactivity_months, so every after_last_activity
//     entry must give that same period in whole months (P36M, P3Y). When inactivity_months is
//     left out it is taken from the register; when it is given and differs, the configuration
//     is refused: there is one inactivity clock per institution, and the register must say
//     what it is.
//   - after_collection: the technical-data purge of the scheduler, which removes each
//     technical record once it is older than the window, for every contact, active or not.
//     Only the technical category is dated by collection in the projection, so after_collection
//     is accepted for technical only, and technical must use it.
//   - until_event: the data is kept until the named event arrives. Only events that make the
//     engine erase the contact are accepted (lethe.erasure.requested.v1, which starts an
//     on-demand erasure). Inactivity runs still erase a contact as a whole when it goes
//     inactive first: every retention in the register is a maximum.
//
// A clock the engine could not enforce is refused rather than shown in a register it would
// not honour.
const (
	ClockAfterLastActivity = "after_last_activity"
	ClockAfterCollection   = "after_collection"
	ClockUntilEvent        = "until_event"
)

// UntilEvents are the event types until_event may name: those whose arrival makes the
// engine erase the contact, with how.
var UntilEvents = map[string]string{
	events.TypeErasureRequested: "on-demand erasure",
}

// Clock returns the entry's clock and its value (a period, or an event type); "" when none is
// set. Validate guarantees exactly one.
func (r RegisterEntry) Clock() (clock, value string) {
	switch {
	case r.Retention.AfterLastActivity != "":
		return ClockAfterLastActivity, r.Retention.AfterLastActivity
	case r.Retention.AfterCollection != "":
		return ClockAfterCollection, r.Retention.AfterCollection
	case r.Retention.UntilEvent != "":
		return ClockUntilEvent, r.Retention.UntilEvent
	}
	return "", ""
}

// Period returns the period of an after_last_activity or after_collection entry.
func (r RegisterEntry) Period() (Period, bool) {
	clock, v := r.Clock()
	if clock != ClockAfterLastActivity && clock != ClockAfterCollection {
		return Period{}, false
	}
	p, err := ParsePeriod(v)
	return p, err == nil
}

// RetentionText is the retention rule in words: "12 months after the last activity".
func (r RegisterEntry) RetentionText() string {
	clock, v := r.Clock()
	p, _ := r.Period()
	switch clock {
	case ClockAfterLastActivity:
		return p.Text() + " after the last activity"
	case ClockAfterCollection:
		return p.Text() + " after collection"
	case ClockUntilEvent:
		return "until " + v
	}
	return ""
}

// Enforcement says how the engine enforces the entry's clock.
func (r RegisterEntry) Enforcement() string {
	clock, v := r.Clock()
	switch clock {
	case ClockAfterLastActivity:
		return "inactivity runs"
	case ClockAfterCollection:
		return "technical-data purge"
	case ClockUntilEvent:
		if how, ok := UntilEvents[v]; ok {
			return how
		}
	}
	return ""
}

// DefaultRegister is the register of an institution that declares none: every category the
// engine may hold for it except technical data (which ingest records only when a register
// declares it), each kept until inactivity_months after the last activity, with the
// purposes and legal bases of the category list. It is what `make run` serves with no
// lethe.yaml; a real deployment declares its own.
func DefaultRegister(inactivityMonths int) []RegisterEntry {
	if inactivityMonths < 1 {
		inactivityMonths = DefaultInactivityMonths
	}
	var out []RegisterEntry
	for _, c := range Categories {
		if c.Name == CategoryTechnical {
			continue
		}
		out = append(out, RegisterEntry{
			Category: c.Name, Purpose: c.DefaultPurpose, LegalBasis: c.DefaultLegalBasis,
			Recipients: []string{"institution", "lethe"},
			Retention:  Retention{AfterLastActivity: Months(inactivityMonths).String()},
		})
	}
	return out
}

// EffectiveRegister is the register the engine serves and enforces: the declared one, or
// DefaultRegister when the institution declares none (declared is then false).
func (in Institution) EffectiveRegister() (entries []RegisterEntry, declared bool) {
	if len(in.Register) > 0 {
		return in.Register, true
	}
	return DefaultRegister(in.InactivityMonths), false
}

// TechnicalRetention returns the after_collection window of the technical category, and
// whether the institution's register declares it: ingest records the IP address and user
// agent of a request only then, and the scheduler purges them past the window.
func (in Institution) TechnicalRetention() (Period, bool) {
	for _, e := range in.Register {
		if e.Category != CategoryTechnical {
			continue
		}
		if p, ok := e.Period(); ok && e.Retention.AfterCollection != "" {
			return p, true
		}
	}
	return Period{}, false
}

// registerMonths returns the distinct periods, in whole months, of the register's valid
// after_last_activity entries, in the order they first appear.
func registerMonths(reg []RegisterEntry) []int {
	var out []int
	for _, e := range reg {
		if e.Retention.AfterLastActivity == "" {
			continue
		}
		p, err := ParsePeriod(e.Retention.AfterLastActivity)
		if err != nil {
			continue
		}
		if m, whole := p.WholeMonths(); whole && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// validateRegister checks one institution's register: known category, purpose, legal basis,
// recipients, exactly one enforceable clock with a valid value, no category with two
// clocks, agreement with inactivity_months, and every engine category declared.
func validateRegister(in Institution, add func(line int, format string, args ...any)) {
	if len(in.Register) == 0 {
		return
	}
	type seenClock struct {
		rule string
		line int
	}
	seen := map[string]seenClock{}
	for j, e := range in.Register {
		where := fmt.Sprintf("register entry %d of %s", j+1, in.ID)
		at := func(key string) int { return e.lineOf(key) }
		cat, known := CategoryNamed(e.Category)
		switch {
		case e.Category == "":
			add(at(""), "%s: category is required (%s)", where, categoryNames())
		case !known:
			msg := fmt.Sprintf("%s: unknown category %q", where, e.Category)
			if s := closest(e.Category, categoryNameList()); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			add(at("category"), "%s (%s)", msg, categoryNames())
		}
		if strings.TrimSpace(e.Purpose) == "" {
			add(at(""), "%s: purpose is required", where)
		}
		if e.LegalBasis == "" {
			add(at(""), "%s: legal_basis is required (%s)", where, legalBasisNames())
		} else if !slices.ContainsFunc(LegalBases, func(b struct{ Name, Text string }) bool { return b.Name == e.LegalBasis }) {
			add(at("legal_basis"), "%s: unknown legal_basis %q (%s)", where, e.LegalBasis, legalBasisNames())
		}
		if len(e.Recipients) == 0 {
			add(at(""), "%s: recipients is required (who receives the data, e.g. [institution, lethe])", where)
		}
		for k, r := range e.Recipients {
			if strings.TrimSpace(r) == "" {
				add(at("recipients"), "%s: recipient %d is empty", where, k+1)
			} else if slices.Contains(e.Recipients[:k], r) {
				add(at("recipients"), "%s: recipient %q is listed twice", where, r)
			}
		}

		var clocks []string
		for _, c := range []struct{ name, v string }{
			{ClockAfterLastActivity, e.Retention.AfterLastActivity},
			{ClockAfterCollection, e.Retention.AfterCollection},
			{ClockUntilEvent, e.Retention.UntilEvent},
		} {
			if c.v != "" {
				clocks = append(clocks, c.name)
			}
		}
		if len(clocks) == 0 {
			add(at("retention"), "%s: retention needs one clock: after_last_activity, after_collection (ISO 8601 periods such as P12M) or until_event (an event type)", where)
			continue
		}
		if len(clocks) > 1 {
			add(at("retention"), "%s: retention has %d clocks (%s); an entry has exactly one", where, len(clocks), strings.Join(clocks, ", "))
			continue
		}
		clock, value := e.Clock()
		valueLine := at("retention." + clock)
		switch clock {
		case ClockAfterLastActivity, ClockAfterCollection:
			p, err := ParsePeriod(value)
			if err != nil {
				add(valueLine, "%s: %s %q: %v", where, clock, value, err)
				continue
			}
			if clock == ClockAfterLastActivity {
				m, whole := p.WholeMonths()
				switch {
				case !whole:
					add(valueLine, "%s: after_last_activity %q must be whole months or years (P12M, P3Y): the inactivity runs count calendar months", where, value)
				case !in.inactivityFromRegister && in.InactivityMonths >= 1 && m != in.InactivityMonths:
					add(valueLine, "%s: after_last_activity %s contradicts inactivity_months %d: the inactivity runs erase contacts at one period; make them equal, or leave inactivity_months out to take it from the register", where, value, in.InactivityMonths)
				}
			}
			if clock == ClockAfterCollection && known && e.Category != CategoryTechnical {
				add(valueLine, "%s: after_collection is enforced for the technical category only (the projection dates no other data by collection); use after_last_activity or until_event for %s", where, e.Category)
			}
		case ClockUntilEvent:
			switch {
			case !events.IsKnownType(value):
				add(valueLine, "%s: until_event %q is not an event type of the contract", where, value)
			case UntilEvents[value] == "":
				add(valueLine, "%s: until_event %q: the engine erases on %s only, so it could not enforce this clock", where, value, strings.Join(untilEventNames(), ", "))
			}
		}
		if e.Category == CategoryTechnical && clock != ClockAfterCollection {
			add(valueLine, "%s: technical data is kept on the after_collection clock (e.g. after_collection: P12M)", where)
		}
		if known {
			rule := clock + " " + value
			if p, err := ParsePeriod(value); err == nil {
				rule = clock + " " + p.canonical().String() // P3Y and P36M are one clock
			}
			if prev, ok := seen[cat.Name]; ok && prev.rule != rule {
				add(valueLine, "%s: category %s already has the retention %s (line %d); one copy of the data has one clock", where, cat.Name, prev.rule, prev.line)
			} else if !ok {
				seen[cat.Name] = seenClock{rule: rule, line: valueLine}
			}
		}
	}
	if ms := registerMonths(in.Register); in.inactivityFromRegister && len(ms) > 1 {
		add(in.lineOf("register"), "register of %s: the after_last_activity entries give different periods (%s); the inactivity runs erase a contact whole, at one period", in.ID, joinMonths(ms))
	}
	var missing []string
	for _, c := range Categories {
		if !c.Engine {
			continue
		}
		if !slices.ContainsFunc(in.Register, func(e RegisterEntry) bool { return e.Category == c.Name }) {
			missing = append(missing, c.Name)
		}
	}
	if len(missing) > 0 {
		add(in.lineOf("register"), "register of %s: the engine stores %s for every contact, but the register does not declare %s (declare them, or leave register out for the default register)",
			in.ID, strings.Join(engineCategoryNames(), ", "), strings.Join(missing, ", "))
	}
}

func categoryNameList() []string {
	out := make([]string, len(Categories))
	for i, c := range Categories {
		out[i] = c.Name
	}
	return out
}

func categoryNames() string { return strings.Join(categoryNameList(), ", ") }

func engineCategoryNames() []string {
	var out []string
	for _, c := range Categories {
		if c.Engine {
			out = append(out, c.Name)
		}
	}
	return out
}

func legalBasisNames() string {
	out := make([]string, len(LegalBases))
	for i, b := range LegalBases {
		out[i] = b.Name
	}
	return strings.Join(out, ", ")
}

func untilEventNames() []string {
	out := make([]string, 0, len(UntilEvents))
	for t := range UntilEvents {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// closest returns the candidate within two edits of s, for a "did you mean".
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ActivityMaxAge is how long LETHE_ACTIVITY may keep events: the shortest technical-data
// window of the institutions that record technical data (the stream holds sealed copies of
// it), or defaultAge when none does. now anchors the calendar periods.
func (f File) ActivityMaxAge(now time.Time, defaultAge time.Duration) time.Duration {
	age := time.Duration(0)
	for _, in := range f.Institutions {
		if p, ok := in.TechnicalRetention(); ok {
			if d := now.Sub(p.Before(now)); age == 0 || d < age {
				age = d
			}
		}
	}
	if age == 0 {
		return defaultAge
	}
	return age
}

func joinMonths(ms []int) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = "P" + strconv.Itoa(m) + "M"
	}
	return strings.Join(out, ", ")
}
