package retention

import (
	"slices"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Profile fields that identify nobody and must survive anonymisation: the country of the
// address (accounting), and the company name, which for a company customer replaces the
// person's name.
var keptProfile = map[string]bool{"company": true, "address.country": true}

// Names of erased fields beyond the profile, as they appear in audit entries and in
// lethe.contact.anonymised.v1: names, never values.
const (
	FieldBeneficiaryFirstName = "orders.items.beneficiary.first_name"
	FieldBeneficiaryLastName  = "orders.items.beneficiary.last_name"
	FieldTechnicalIP          = "technical.ip"
	FieldTechnicalUserAgent   = "technical.user_agent"
	FieldLegalHoldReason      = "legal_hold.reason"
	FieldCriterionValue       = "criteria.value"
)

// Erase applies an outcome (store.OutcomeDelete or store.OutcomeAnonymise) to the contact and
// returns what must be stored in its place, with the names of the erased fields in a stable
// order. by is "run:<id>" or "request:<id>".
//
// Anonymise keeps what statistics and accounting need and no personal value: role, dates,
// customer status, balance, subscriptions, legal hold (without its reason), organisations,
// consents, and the order history without its beneficiaries' names; of the profile only the
// address country and the company name. Criteria go with their values: a criterion's name
// alone says little, but its value is about the person. Delete leaves a tombstone (status deleted, nothing else), so that a late
// event cannot bring the contact back. The version is kept: the caller stores the result
// with a compare-and-swap against the contact it decided on.
func Erase(c store.Contact, outcome, by string, at time.Time) store.Contact {
	fields := personalFields(c)
	at = at.UTC()
	if outcome == store.OutcomeDelete {
		return store.Contact{
			Institution: c.Institution, ID: c.ID, Version: c.Version,
			Status: store.StatusDeleted, ErasedAt: at, ErasedBy: by, ErasedFields: fields, UpdatedAt: at,
		}
	}
	out := c
	out.Profile = nil
	for name, f := range c.Profile {
		if keptProfile[name] {
			if out.Profile == nil {
				out.Profile = map[string]store.Field{}
			}
			out.Profile[name] = f
		}
	}
	if len(c.Orders) > 0 {
		out.Orders = make(map[string]store.Order, len(c.Orders))
		for k, o := range c.Orders {
			items := make([]store.Item, len(o.Items))
			for i, it := range o.Items {
				it.BeneficiaryFirstName, it.BeneficiaryLastName = "", ""
				items[i] = it
			}
			o.Items = items
			out.Orders[k] = o
		}
	}
	out.Technical = nil
	out.Criteria = nil
	out.LegalHold.Reason = ""
	out.Status, out.ErasedAt, out.ErasedBy, out.ErasedFields, out.UpdatedAt = store.StatusAnonymised, at, by, fields, at
	return out
}

// personalFields names every personal value the contact holds, sorted, each name once.
func personalFields(c store.Contact) []string {
	var out []string
	add := func(present bool, name string) {
		if present && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	for name, f := range c.Profile {
		add(!keptProfile[name] && f.Value != "", "profile."+name)
	}
	for _, o := range c.Orders {
		for _, it := range o.Items {
			add(it.BeneficiaryFirstName != "", FieldBeneficiaryFirstName)
			add(it.BeneficiaryLastName != "", FieldBeneficiaryLastName)
		}
	}
	for _, t := range c.Technical {
		add(t.IP != "", FieldTechnicalIP)
		add(t.UserAgent != "", FieldTechnicalUserAgent)
	}
	add(c.LegalHold.Reason != "", FieldLegalHoldReason)
	for _, f := range c.Criteria {
		add(f.Value != "", FieldCriterionValue)
	}
	slices.Sort(out)
	return out
}
