package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// ms builds a millisecond-precision time in a non-UTC zone, so adapters are shown to keep the
// instant, not the zone.
func ms(year int, month time.Month, day, hour, minute, sec, milli int) time.Time {
	return time.Date(year, month, day, hour, minute, sec, milli*int(time.Millisecond), time.FixedZone("CEST", 2*3600))
}

// base is the reference instant the fixtures hang off.
var base = ms(2024, time.March, 14, 9, 26, 53, 589)

func at(days int) time.Time { return base.AddDate(0, 0, days) }

// norm returns v with every time.Time in UTC and every empty map or slice nil: the suite
// compares instants and contents, not zones or nil-versus-empty (MongoDB drops empty ones).
func norm[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	normValue(rv)
	return v
}

var timeType = reflect.TypeFor[time.Time]()

func normValue(v reflect.Value) {
	switch {
	case v.Type() == timeType:
		t := v.Interface().(time.Time)
		v.Set(reflect.ValueOf(t.UTC()))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				normValue(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := range v.Len() {
			normValue(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			normValue(e)
			out.SetMapIndex(iter.Key(), e)
		}
		v.Set(out)
	}
}

func equal[T any](a, b T) bool { return reflect.DeepEqual(norm(a), norm(b)) }

func mustEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !equal(got, want) {
		t.Fatalf("%s:\n got  %s\n want %s", what, show(got), show(want))
	}
}

func show(v any) string { return fmt.Sprintf("%+v", norm(v)) }

func ids(cs []store.Contact) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// fullContact fills every field of the projection, so a field an adapter forgets to store
// shows up as a difference.
func fullContact(inst, id string) store.Contact {
	src := func(n int) store.Source {
		return store.Source{EventID: fmt.Sprintf("evt-%s-%d", id, n), Type: "lethe.test.v1", At: at(n)}
	}
	return store.Contact{
		Institution:    inst,
		ID:             id,
		Status:         store.StatusActive,
		Created:        true,
		Role:           "individual",
		CreatedAt:      at(-400),
		Recency:        at(-30),
		RecencySource:  src(1),
		Customer:       true,
		CustomerSource: src(2),
		Balance:        store.Balance{Amount: -1250, Currency: "EUR", Source: src(3)},
		Subscriptions: map[string]store.Subscription{
			"sub-1": {Status: "active", Source: src(4)},
			"sub-2": {Status: "terminated", Source: src(5)},
		},
		LegalHold: store.LegalHold{Held: true, Reason: "litigation-42", Source: src(6)},
		Authorisations: map[string]store.Authorisation{
			"email":  {Value: "yes", Source: src(7)},
			"sms":    {Value: "no", Source: src(8)},
			"letter": {Value: "unset", Source: src(9)},
		},
		Profile: map[string]store.Field{
			"email":   {Value: "c2VhbGVkLWVtYWls", Sealed: true, Source: src(10)},
			"country": {Value: "FR", Source: src(11)},
		},
		Criteria: map[string]store.Field{
			"vip":                 {Value: "sealed:v1:c2VhbGVkLXZpcA", Sealed: true, Source: src(20)},
			"segment.jazz_lovers": {Value: "sealed:v1:c2VhbGVkLWphenp", Sealed: true, Source: src(21)},
		},
		Organisations: []string{"org-b", "org-a", "org-c"},
		Orders: map[string]store.Order{
			"ord-1": {
				ID: "ord-1", Kind: "order", Role: "buyer", Source: src(12),
				Items: []store.Item{
					{ProductID: "p-1", Dated: true, ValidAt: at(90), BeneficiaryFirstName: "c2VhbGVkLWZu", BeneficiaryLastName: "c2VhbGVkLWxu"},
					{ProductID: "p-2"},
				},
			},
			"opt-7": {ID: "opt-7", Kind: "option", Items: []store.Item{{ProductID: "p-3", Dated: false}}, Source: src(13)},
		},
		Technical: []store.Technical{
			{EventID: "evt-t1", CollectedAt: at(-3), IP: "c2VhbGVkLWlw", UserAgent: "c2VhbGVkLXVh"},
			{EventID: "evt-t2", CollectedAt: at(-2)},
		},
		ErasedAt:     at(1),
		ErasedBy:     "run:r-1",
		ErasedFields: []string{"profile.email", "profile.phone"},
		UpdatedAt:    at(2),
	}
}
