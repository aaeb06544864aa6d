package retention

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

func customerWithEverything() store.Contact {
	src := store.Source{EventID: "e1", Type: "lethe.contact.created.v1", At: day(2020, 1, 1)}
	f := func(v string) store.Field { return store.Field{Value: v, Sealed: true, Source: src} }
	return store.Contact{
		Institution: "inst-a", ID: "c-1", Version: 4, Status: store.StatusActive,
		Created: true, Role: "individual", CreatedAt: src.At, CreatedSource: src,
		Recency: day(2020, 6, 1), RecencySource: src, Customer: true, CustomerSource: src,
		Balance:        store.Balance{Currency: "EUR", Source: src},
		Subscriptions:  map[string]store.Subscription{"s1": {Status: "terminated", Source: src}},
		Authorisations: map[string]store.Authorisation{"marketing": {Value: "no", Source: src}},
		Organisations:  []string{"org-1"},
		Profile: map[string]store.Field{
			"email": f("sealed:v1:a"), "first_name": f("sealed:v1:b"), "last_name": f("sealed:v1:c"),
			"phone": f("sealed:v1:d"), "address.city": f("sealed:v1:e"), "custom.shoe_size": f("sealed:v1:f"),
			"company":         {Value: "Curie SARL", Source: src},
			"address.country": {Value: "FR", Source: src},
		},
		Orders: map[string]store.Order{"order:o1": {ID: "o1", Kind: "order", Role: "buyer", Source: src, Items: []store.Item{
			{ProductID: "p1", Dated: true, ValidAt: day(2020, 6, 1), BeneficiaryFirstName: "sealed:v1:g", BeneficiaryLastName: "sealed:v1:h"},
			{ProductID: "p2"},
		}}},
		Technical: []store.Technical{{EventID: "e1", CollectedAt: src.At, IP: "sealed:v1:i", UserAgent: "sealed:v1:j"}},
		LegalHold: store.LegalHold{Held: false, Reason: "sealed:v1:k", Source: src},
		Criteria:  map[string]store.Field{"vip": f("sealed:v1:l"), "profession": f("sealed:v1:m")},
	}
}

func TestEraseAnonymiseKeepsAccountingAndErasesEveryPersonalValue(t *testing.T) {
	c := customerWithEverything()
	before := customerWithEverything()
	at := time.Date(2026, 3, 1, 3, 0, 0, 0, time.FixedZone("CET", 3600))
	got := Erase(c, store.OutcomeAnonymise, "run:r1", at)

	if !reflect.DeepEqual(c, before) {
		t.Fatal("Erase modified the contact it was given")
	}
	wantFields := []string{FieldBeneficiaryFirstName, FieldBeneficiaryLastName, "profile.address.city", "profile.custom.shoe_size",
		"profile.email", "profile.first_name", "profile.last_name", "profile.phone", FieldTechnicalIP, FieldTechnicalUserAgent,
		FieldLegalHoldReason, FieldCriterionValue}
	slices.Sort(wantFields)
	if !slices.Equal(got.ErasedFields, wantFields) {
		t.Fatalf("erased fields %v, want %v", got.ErasedFields, wantFields)
	}
	if got.Status != store.StatusAnonymised || got.ErasedBy != "run:r1" || !got.ErasedAt.Equal(at) || got.ErasedAt.Location() != time.UTC {
		t.Fatalf("status %q by %q at %v", got.Status, got.ErasedBy, got.ErasedAt)
	}
	if len(got.Profile) != 2 || got.Profile["company"].Value != "Curie SARL" || got.Profile["address.country"].Value != "FR" {
		t.Fatalf("profile after anonymisation %v, want only company and country", got.Profile)
	}
	o := got.Orders["order:o1"]
	if len(o.Items) != 2 || o.Items[0].ProductID != "p1" || !o.Items[0].ValidAt.Equal(day(2020, 6, 1)) ||
		o.Items[0].BeneficiaryFirstName != "" || o.Items[0].BeneficiaryLastName != "" {
		t.Fatalf("order after anonymisation %+v: history kept, beneficiaries erased", o)
	}
	if got.Technical != nil {
		t.Fatalf("technical data kept: %v", got.Technical)
	}
	// The legal hold is a fact that stays; its reason and the criteria's values are personal.
	if got.LegalHold.Reason != "" || got.LegalHold.Source != c.LegalHold.Source || got.Criteria != nil {
		t.Fatalf("legal hold %+v and criteria %v after anonymisation", got.LegalHold, got.Criteria)
	}
	// What accounting and statistics need stays.
	if got.Version != 4 || !got.Customer || got.Role != "individual" || !got.Recency.Equal(c.Recency) ||
		got.Balance.Currency != "EUR" || len(got.Subscriptions) != 1 || len(got.Organisations) != 1 {
		t.Fatalf("anonymisation lost non-personal data: %+v", got)
	}
}

func TestEraseDeleteLeavesOnlyATombstone(t *testing.T) {
	c := customerWithEverything()
	c.Customer = false
	got := Erase(c, store.OutcomeDelete, "request:q1", day(2026, 3, 1))
	want := store.Contact{Institution: "inst-a", ID: "c-1", Version: 4, Status: store.StatusDeleted,
		ErasedAt: day(2026, 3, 1), ErasedBy: "request:q1", ErasedFields: got.ErasedFields, UpdatedAt: day(2026, 3, 1)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tombstone %+v, want %+v", got, want)
	}
	if !slices.Contains(got.ErasedFields, "profile.email") || slices.Contains(got.ErasedFields, "profile.company") {
		t.Fatalf("erased fields %v", got.ErasedFields)
	}
}

func TestEraseOfAContactWithNoPersonalDataListsNothing(t *testing.T) {
	c := store.Contact{Institution: "i", ID: "c", Status: store.StatusActive, Created: true, Role: "relay",
		Profile: map[string]store.Field{"company": {Value: "ACME"}}}
	if got := Erase(c, store.OutcomeAnonymise, "run:r", day(2026, 1, 1)); len(got.ErasedFields) != 0 || got.Profile["company"].Value != "ACME" {
		t.Fatalf("erased %v, profile %v", got.ErasedFields, got.Profile)
	}
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
