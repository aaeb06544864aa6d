package events

import "time"

// Profile is a contact's personal profile. Every member is optional; in
// lethe.contact.updated.v1 an absent member is unchanged and an empty string clears it.
// Pointers keep "absent" and "empty" apart, and let ingest seal values in place.
type Profile struct {
	Email     *string  `json:"email,omitempty"`
	FirstName *string  `json:"first_name,omitempty"`
	LastName  *string  `json:"last_name,omitempty"`
	Phone     *string  `json:"phone,omitempty"`
	Company   *string  `json:"company,omitempty"` // stays clear: the accounting name of a company customer
	Address   *Address `json:"address,omitempty"`
	// BirthDate is YYYY-MM-DD (or sealed).
	BirthDate *string `json:"birth_date,omitempty"`
	Remark    *string `json:"remark,omitempty"`
	// Custom holds an upstream's own fields, name → text, all treated as personal.
	// Names are [A-Za-z0-9_-]{1,64}.
	Custom map[string]*string `json:"custom,omitempty"`
}

// Address is a postal address; Country stays clear (accounting keeps it after anonymisation).
type Address struct {
	Line1    *string `json:"line1,omitempty"`
	Line2    *string `json:"line2,omitempty"`
	Postcode *string `json:"postcode,omitempty"`
	City     *string `json:"city,omitempty"`
	Country  *string `json:"country,omitempty"`
}

// ContactCreated is the data of lethe.contact.created.v1: the recency baseline.
type ContactCreated struct {
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	Profile   Profile   `json:"profile,omitzero"`
}

// ContactUpdated is the data of lethe.contact.updated.v1: the profile members that changed.
type ContactUpdated struct {
	Profile   Profile   `json:"profile"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CriterionChanged is the data of lethe.contact.criterion.changed.v1.
type CriterionChanged struct {
	// Criterion is a name: dot-separated parts of [A-Za-z0-9_-]. It stays clear.
	Criterion string `json:"criterion"`
	// Value is personal (what an upstream records about a person: a profession, a
	// preference, a health note): sealed by ingest like the profile.
	Value     string    `json:"value"`
	ChangedAt time.Time `json:"changed_at"`
}

// ConsentChanged is the data of lethe.consent.changed.v1. Authorisations maps a name
// (marketing, marketing.email, partners, …) to yes, no or unset; at least one entry.
type ConsentChanged struct {
	Authorisations map[string]string `json:"authorisations"`
	ChangedAt      time.Time         `json:"changed_at"`
}

// Item is one line of an option or an order.
type Item struct {
	ProductID string `json:"product_id"`
	Dated     bool   `json:"dated"`
	// ValidAt is the product's validity or performance date; required when Dated.
	ValidAt     time.Time    `json:"valid_at,omitzero"`
	Beneficiary *Beneficiary `json:"beneficiary,omitempty"`
}

// Beneficiary names the person a ticket is for; both names are personal.
type Beneficiary struct {
	FirstName *string `json:"first_name,omitempty"`
	LastName  *string `json:"last_name,omitempty"`
}

// OptionAcquired is the data of lethe.option.acquired.v1. Items: at least one.
type OptionAcquired struct {
	OptionID string    `json:"option_id"`
	At       time.Time `json:"at"`
	Items    []Item    `json:"items"`
}

// OptionConfirmed is the data of lethe.option.confirmed.v1, shaped like OptionAcquired.
type OptionConfirmed OptionAcquired

// OrderPlaced is the data of lethe.order.placed.v1. Items: at least one.
type OrderPlaced struct {
	OrderID     string    `json:"order_id"`
	OrderedAt   time.Time `json:"ordered_at"`
	ContactRole string    `json:"contact_role"` // buyer or attendee
	Items       []Item    `json:"items"`
}

// PaymentRecorded is the data of lethe.payment.recorded.v1.
type PaymentRecorded struct {
	Amount   int64     `json:"amount"`   // minor units
	Currency string    `json:"currency"` // ISO 4217, e.g. EUR
	PaidAt   time.Time `json:"paid_at"`
}

// BalanceChanged is the data of lethe.balance.changed.v1.
type BalanceChanged struct {
	Balance  int64     `json:"balance"` // minor units; < 0: the contact owes
	Currency string    `json:"currency"`
	At       time.Time `json:"at"`
}

// SubscriptionChanged is the data of lethe.subscription.changed.v1.
type SubscriptionChanged struct {
	SubscriptionID string    `json:"subscription_id"`
	Status         string    `json:"status"` // initialized, active, suspended, terminated
	At             time.Time `json:"at"`
}

// WaitlistJoined is the data of lethe.waitlist.joined.v1.
type WaitlistJoined struct {
	WaitlistID string    `json:"waitlist_id"`
	JoinedAt   time.Time `json:"joined_at"`
}

// CampaignLinkClicked is the data of lethe.campaign.link.clicked.v1.
type CampaignLinkClicked struct {
	CampaignID string    `json:"campaign_id"`
	LinkID     string    `json:"link_id"`
	ClickedAt  time.Time `json:"clicked_at"`
}

// LegalHoldChanged is the data of lethe.legalhold.changed.v1.
type LegalHoldChanged struct {
	Held bool `json:"held"`
	// Reason is personal (it names a dispute, a court case, a person): sealed by ingest.
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// ErasureRequested is the data of lethe.erasure.requested.v1.
type ErasureRequested struct {
	RequestedAt time.Time `json:"requested_at"`
	// Reason is personal (the data subject's own words): sealed by ingest.
	Reason string `json:"reason,omitempty"`
}

// ErasureConfirmed is the data of lethe.erasure.confirmed.v1: a downstream destination
// erased its copy of what the outcome OutcomeID (the CloudEvent id of a
// lethe.contact.anonymised.v1 or …deleted.v1 on LETHE_RESULTS) named. The event's subject is
// the outcome's contact id and its institution the outcome's.
type ErasureConfirmed struct {
	// Destination is the name lethe.yaml gives the destination (destinations[].name); a
	// token or bus user may confirm only for the destination it speaks for.
	Destination string    `json:"destination"`
	OutcomeID   string    `json:"outcome_id"`
	ConfirmedAt time.Time `json:"confirmed_at"`
}

func (ContactCreated) EventType() string      { return TypeContactCreated }
func (ContactUpdated) EventType() string      { return TypeContactUpdated }
func (CriterionChanged) EventType() string    { return TypeCriterionChanged }
func (ConsentChanged) EventType() string      { return TypeConsentChanged }
func (OptionAcquired) EventType() string      { return TypeOptionAcquired }
func (OptionConfirmed) EventType() string     { return TypeOptionConfirmed }
func (OrderPlaced) EventType() string         { return TypeOrderPlaced }
func (PaymentRecorded) EventType() string     { return TypePaymentRecorded }
func (BalanceChanged) EventType() string      { return TypeBalanceChanged }
func (SubscriptionChanged) EventType() string { return TypeSubscriptionChanged }
func (WaitlistJoined) EventType() string      { return TypeWaitlistJoined }
func (CampaignLinkClicked) EventType() string { return TypeCampaignLinkClicked }
func (LegalHoldChanged) EventType() string    { return TypeLegalHoldChanged }
func (ErasureRequested) EventType() string    { return TypeErasureRequested }
func (ErasureConfirmed) EventType() string    { return TypeErasureConfirmed }

// Decoding: one field table per object; reader.go walks them.

var addressFields = []field[Address]{
	{name: "line1", read: func(r *reader, p *path, d *Address) { d.Line1 = r.personal(p, nil, "") }},
	{name: "line2", read: func(r *reader, p *path, d *Address) { d.Line2 = r.personal(p, nil, "") }},
	{name: "postcode", read: func(r *reader, p *path, d *Address) { d.Postcode = r.personal(p, nil, "") }},
	{name: "city", read: func(r *reader, p *path, d *Address) { d.City = r.personal(p, nil, "") }},
	{name: "country", read: func(r *reader, p *path, d *Address) { v := r.text(p); d.Country = &v }},
}

var profileFields = []field[Profile]{
	{name: "email", read: func(r *reader, p *path, d *Profile) { d.Email = r.personal(p, validEmail, reasonEmail) }},
	{name: "first_name", read: func(r *reader, p *path, d *Profile) { d.FirstName = r.personal(p, nil, "") }},
	{name: "last_name", read: func(r *reader, p *path, d *Profile) { d.LastName = r.personal(p, nil, "") }},
	{name: "phone", read: func(r *reader, p *path, d *Profile) { d.Phone = r.personal(p, nil, "") }},
	{name: "company", read: func(r *reader, p *path, d *Profile) { v := r.text(p); d.Company = &v }},
	{name: "address", read: func(r *reader, p *path, d *Profile) {
		d.Address = new(Address)
		object(r, p, d.Address, addressFields)
	}},
	{name: "birth_date", read: func(r *reader, p *path, d *Profile) {
		d.BirthDate = r.personal(p, validDate, reasonBirthDate)
	}},
	{name: "remark", read: func(r *reader, p *path, d *Profile) { d.Remark = r.personal(p, nil, "") }},
	{name: "custom", read: func(r *reader, p *path, d *Profile) { d.Custom = readCustom(r, p) }},
}

func readCustom(r *reader, p *path) map[string]*string {
	if !r.expect(p, kObject) {
		return nil
	}
	m := map[string]*string{}
	r.s.enter()
	first := true
	for r.s.next('}', &first) {
		k := r.s.key()
		kp := p.key(k)
		bad := !validCustomName(k)
		if bad {
			r.add(&kp, reasonCustom)
		}
		if _, dup := m[k]; dup {
			r.add(&kp, "appears more than once")
		}
		// A key that is no name is left out (see reader.text): it could be anything.
		if v := r.personal(&kp, nil, ""); v != nil && !bad {
			m[k] = v
		}
	}
	return m
}

func readProfile(r *reader, p *path, d *Profile) { object(r, p, d, profileFields) }

var contactCreatedFields = []field[ContactCreated]{
	{name: "role", required: true, read: func(r *reader, p *path, d *ContactCreated) { d.Role = r.enum(p, roles) }},
	{name: "created_at", required: true, read: func(r *reader, p *path, d *ContactCreated) { d.CreatedAt = r.timestamp(p) }},
	{name: "profile", read: func(r *reader, p *path, d *ContactCreated) { readProfile(r, p, &d.Profile) }},
}

var contactUpdatedFields = []field[ContactUpdated]{
	{name: "profile", required: true, read: func(r *reader, p *path, d *ContactUpdated) { readProfile(r, p, &d.Profile) }},
	{name: "updated_at", required: true, read: func(r *reader, p *path, d *ContactUpdated) { d.UpdatedAt = r.timestamp(p) }},
}

var criterionChangedFields = []field[CriterionChanged]{
	{name: "criterion", required: true, read: func(r *reader, p *path, d *CriterionChanged) {
		v, ok := r.str(p)
		if ok && !validName(v) {
			r.add(p, reasonName)
			v = ""
		}
		d.Criterion = v
	}},
	{name: "value", required: true, read: func(r *reader, p *path, d *CriterionChanged) { d.Value = r.personalText(p) }},
	{name: "changed_at", required: true, read: func(r *reader, p *path, d *CriterionChanged) { d.ChangedAt = r.timestamp(p) }},
}

var consentChangedFields = []field[ConsentChanged]{
	{name: "authorisations", required: true, read: func(r *reader, p *path, d *ConsentChanged) {
		d.Authorisations = readAuthorisations(r, p)
	}},
	{name: "changed_at", required: true, read: func(r *reader, p *path, d *ConsentChanged) { d.ChangedAt = r.timestamp(p) }},
}

func readAuthorisations(r *reader, p *path) map[string]string {
	if !r.expect(p, kObject) {
		return nil
	}
	m := make(map[string]string, 4)
	r.s.enter()
	first := true
	n := 0
	for r.s.next('}', &first) {
		n++
		k := r.s.key()
		kp := p.key(k)
		bad := !validName(k)
		if bad {
			r.add(&kp, "authorisation "+reasonName)
		}
		if _, dup := m[k]; dup {
			r.add(&kp, "appears more than once")
		}
		if v := r.enum(&kp, authorisationValues); !bad {
			m[k] = v
		}
	}
	if !r.s.bad() && n == 0 {
		r.add(p, "must name at least one authorisation")
	}
	return m
}

var beneficiaryFields = []field[Beneficiary]{
	{name: "first_name", read: func(r *reader, p *path, d *Beneficiary) { d.FirstName = r.personal(p, nil, "") }},
	{name: "last_name", read: func(r *reader, p *path, d *Beneficiary) { d.LastName = r.personal(p, nil, "") }},
}

var itemFields = []field[Item]{
	{name: "product_id", required: true, read: func(r *reader, p *path, d *Item) { d.ProductID = r.id(p) }},
	{name: "dated", required: true, read: func(r *reader, p *path, d *Item) { d.Dated = r.boolean(p) }},
	{name: "valid_at", read: func(r *reader, p *path, d *Item) { d.ValidAt = r.timestamp(p) }},
	{name: "beneficiary", read: func(r *reader, p *path, d *Item) {
		d.Beneficiary = new(Beneficiary)
		object(r, p, d.Beneficiary, beneficiaryFields)
	}},
}

func readItems(r *reader, p *path) []Item {
	if !r.expect(p, kArray) {
		return nil
	}
	items := make([]Item, 0, 4)
	r.s.enter()
	first := true
	for i := 0; r.s.next(']', &first); i++ {
		ip := p.elem(i)
		var it Item
		seen := object(r, &ip, &it, itemFields)
		if it.Dated && !has(seen, itemFields, "valid_at") {
			vp := ip.key("valid_at")
			r.add(&vp, "is required when dated is true")
		}
		items = append(items, it)
	}
	if !r.s.bad() && len(items) == 0 {
		r.add(p, "must hold at least one item")
	}
	return items
}

var optionAcquiredFields = []field[OptionAcquired]{
	{name: "option_id", required: true, read: func(r *reader, p *path, d *OptionAcquired) { d.OptionID = r.id(p) }},
	{name: "at", required: true, read: func(r *reader, p *path, d *OptionAcquired) { d.At = r.timestamp(p) }},
	{name: "items", required: true, read: func(r *reader, p *path, d *OptionAcquired) { d.Items = readItems(r, p) }},
}

var orderPlacedFields = []field[OrderPlaced]{
	{name: "order_id", required: true, read: func(r *reader, p *path, d *OrderPlaced) { d.OrderID = r.id(p) }},
	{name: "ordered_at", required: true, read: func(r *reader, p *path, d *OrderPlaced) { d.OrderedAt = r.timestamp(p) }},
	{name: "contact_role", required: true, read: func(r *reader, p *path, d *OrderPlaced) { d.ContactRole = r.enum(p, contactRoles) }},
	{name: "items", required: true, read: func(r *reader, p *path, d *OrderPlaced) { d.Items = readItems(r, p) }},
}

func readCurrency(r *reader, p *path) string {
	v, ok := r.str(p)
	if ok && !validCurrency(v) {
		r.add(p, reasonCurrency)
		return ""
	}
	return v
}

var paymentRecordedFields = []field[PaymentRecorded]{
	{name: "amount", required: true, read: func(r *reader, p *path, d *PaymentRecorded) { d.Amount = r.integer(p, minInt64) }},
	{name: "currency", required: true, read: func(r *reader, p *path, d *PaymentRecorded) { d.Currency = readCurrency(r, p) }},
	{name: "paid_at", required: true, read: func(r *reader, p *path, d *PaymentRecorded) { d.PaidAt = r.timestamp(p) }},
}

var balanceChangedFields = []field[BalanceChanged]{
	{name: "balance", required: true, read: func(r *reader, p *path, d *BalanceChanged) { d.Balance = r.integer(p, minInt64) }},
	{name: "currency", required: true, read: func(r *reader, p *path, d *BalanceChanged) { d.Currency = readCurrency(r, p) }},
	{name: "at", required: true, read: func(r *reader, p *path, d *BalanceChanged) { d.At = r.timestamp(p) }},
}

var subscriptionChangedFields = []field[SubscriptionChanged]{
	{name: "subscription_id", required: true, read: func(r *reader, p *path, d *SubscriptionChanged) { d.SubscriptionID = r.id(p) }},
	{name: "status", required: true, read: func(r *reader, p *path, d *SubscriptionChanged) { d.Status = r.enum(p, subscriptionStates) }},
	{name: "at", required: true, read: func(r *reader, p *path, d *SubscriptionChanged) { d.At = r.timestamp(p) }},
}

var waitlistJoinedFields = []field[WaitlistJoined]{
	{name: "waitlist_id", required: true, read: func(r *reader, p *path, d *WaitlistJoined) { d.WaitlistID = r.id(p) }},
	{name: "joined_at", required: true, read: func(r *reader, p *path, d *WaitlistJoined) { d.JoinedAt = r.timestamp(p) }},
}

var campaignLinkClickedFields = []field[CampaignLinkClicked]{
	{name: "campaign_id", required: true, read: func(r *reader, p *path, d *CampaignLinkClicked) { d.CampaignID = r.id(p) }},
	{name: "link_id", required: true, read: func(r *reader, p *path, d *CampaignLinkClicked) { d.LinkID = r.id(p) }},
	{name: "clicked_at", required: true, read: func(r *reader, p *path, d *CampaignLinkClicked) { d.ClickedAt = r.timestamp(p) }},
}

var legalHoldChangedFields = []field[LegalHoldChanged]{
	{name: "held", required: true, read: func(r *reader, p *path, d *LegalHoldChanged) { d.Held = r.boolean(p) }},
	{name: "reason", read: func(r *reader, p *path, d *LegalHoldChanged) { d.Reason = r.personalText(p) }},
	{name: "at", required: true, read: func(r *reader, p *path, d *LegalHoldChanged) { d.At = r.timestamp(p) }},
}

var erasureRequestedFields = []field[ErasureRequested]{
	{name: "requested_at", required: true, read: func(r *reader, p *path, d *ErasureRequested) { d.RequestedAt = r.timestamp(p) }},
	{name: "reason", read: func(r *reader, p *path, d *ErasureRequested) { d.Reason = r.personalText(p) }},
}

var erasureConfirmedFields = []field[ErasureConfirmed]{
	{name: "destination", required: true, read: func(r *reader, p *path, d *ErasureConfirmed) { d.Destination = r.token(p) }},
	{name: "outcome_id", required: true, read: func(r *reader, p *path, d *ErasureConfirmed) { d.OutcomeID = r.id(p) }},
	{name: "confirmed_at", required: true, read: func(r *reader, p *path, d *ErasureConfirmed) { d.ConfirmedAt = r.timestamp(p) }},
}

const minInt64 = -1 << 63

// decoder is implemented by every data struct: it reads itself from the data at p.
type decoder interface {
	Data
	decode(r *reader, p *path)
}

func (d *ContactCreated) decode(r *reader, p *path) { object(r, p, d, contactCreatedFields) }
func (d *ContactUpdated) decode(r *reader, p *path) { object(r, p, d, contactUpdatedFields) }
func (d *CriterionChanged) decode(r *reader, p *path) {
	object(r, p, d, criterionChangedFields)
}
func (d *ConsentChanged) decode(r *reader, p *path) { object(r, p, d, consentChangedFields) }
func (d *OptionAcquired) decode(r *reader, p *path) { object(r, p, d, optionAcquiredFields) }
func (d *OptionConfirmed) decode(r *reader, p *path) {
	object(r, p, (*OptionAcquired)(d), optionAcquiredFields)
}
func (d *OrderPlaced) decode(r *reader, p *path)     { object(r, p, d, orderPlacedFields) }
func (d *PaymentRecorded) decode(r *reader, p *path) { object(r, p, d, paymentRecordedFields) }
func (d *BalanceChanged) decode(r *reader, p *path)  { object(r, p, d, balanceChangedFields) }
func (d *SubscriptionChanged) decode(r *reader, p *path) {
	object(r, p, d, subscriptionChangedFields)
}
func (d *WaitlistJoined) decode(r *reader, p *path) { object(r, p, d, waitlistJoinedFields) }
func (d *CampaignLinkClicked) decode(r *reader, p *path) {
	object(r, p, d, campaignLinkClickedFields)
}
func (d *LegalHoldChanged) decode(r *reader, p *path) { object(r, p, d, legalHoldChangedFields) }
func (d *ErasureRequested) decode(r *reader, p *path) { object(r, p, d, erasureRequestedFields) }
func (d *ErasureConfirmed) decode(r *reader, p *path) { object(r, p, d, erasureConfirmedFields) }
