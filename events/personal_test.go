package events

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func names(fs []PersonalField) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

func TestPersonalFieldNames(t *testing.T) {
	tests := []struct {
		golden string
		want   []string
	}{
		{"lethe.contact.created.v1.full", []string{
			"profile.email", "profile.first_name", "profile.last_name", "profile.phone",
			"profile.address.line1", "profile.address.line2", "profile.address.postcode", "profile.address.city",
			"profile.birth_date", "profile.remark", "profile.custom.allergies", "profile.custom.loyalty_tier",
		}},
		{"lethe.contact.created.v1.minimal", nil},
		{"lethe.contact.updated.v1.clear-phone", []string{"profile.phone", "profile.address.line2", "profile.remark"}},
		{"lethe.order.placed.v1.buyer", []string{"items.0.beneficiary.first_name", "items.0.beneficiary.last_name"}},
		{"lethe.option.acquired.v1.mixed", []string{"items.1.beneficiary.first_name", "items.1.beneficiary.last_name"}},
		// Reasons and criterion values are free text about a person: sealed like the profile.
		{"lethe.legalhold.changed.v1.held", []string{"legal_hold.reason"}},
		{"lethe.legalhold.changed.v1.lifted", nil},
		{"lethe.contact.criterion.changed.v1.vip", []string{"criterion.vip.value"}},
		{"lethe.erasure.requested.v1.subject-request", []string{"erasure.reason"}},
		{"lethe.erasure.requested.v1.no-reason", nil},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			d, err := Decode(goldenEvent(t, tt.golden))
			if err != nil {
				t.Fatal(err)
			}
			got := names(d.(Personal).PersonalFields())
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
	// Types without personal values do not implement Personal.
	for _, typ := range Types() {
		_, personal := newData(typ).(Personal)
		want := slices.Contains([]string{TypeContactCreated, TypeContactUpdated, TypeOptionAcquired,
			TypeOptionConfirmed, TypeOrderPlaced, TypeCriterionChanged, TypeLegalHoldChanged, TypeErasureRequested}, typ)
		if personal != want {
			t.Errorf("%s implements Personal: %v, want %v", typ, personal, want)
		}
	}
}

func fakeSeal(calls *[]string) SealFunc {
	return func(name, value string) (string, error) {
		*calls = append(*calls, name)
		return SealedPrefix + strings.Map(func(r rune) rune { return 'x' }, value), nil
	}
}

func TestSealReplacesEveryPersonalValue(t *testing.T) {
	e := goldenEvent(t, "lethe.contact.created.v1.full")
	var calls []string
	d, err := Seal(&e, fakeSeal(&calls))
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 12 {
		t.Errorf("sealed %d values: %q", len(calls), calls)
	}
	data := string(e.DataEncoded)
	for _, clear := range []string{"marie.curie", "Marie", "Curie", "+33", "Pierre", "Bâtiment", "75005",
		"Paris", "1867", "afternoon", "gold", `"none"`} {
		if strings.Contains(data, clear) {
			t.Errorf("clear personal value %q left in the data: %s", clear, data)
		}
	}
	for _, kept := range []string{`"country":"FR"`, `"company":"Institut du Radium"`, `"role":"relay"`} {
		if !strings.Contains(data, kept) {
			t.Errorf("%s should stay clear: %s", kept, data)
		}
	}
	if strings.Contains(data, "nickname") {
		t.Errorf("an unknown member survived re-encoding: %s", data)
	}
	if err := Validate(e); err != nil {
		t.Fatalf("sealed event refused: %v", err)
	}
	for _, f := range d.(Personal).PersonalFields() {
		if !IsSealed(*f.Value) {
			t.Errorf("%s not sealed in the returned data", f.Name)
		}
	}
}

func TestSealSkipsSealedAndEmptyValues(t *testing.T) {
	for _, name := range []string{"lethe.contact.created.v1.sealed", "lethe.contact.updated.v1.clear-phone"} {
		e := goldenEvent(t, name)
		var calls []string
		if _, err := Seal(&e, fakeSeal(&calls)); err != nil {
			t.Fatal(err)
		}
		if len(calls) != 0 {
			t.Errorf("%s: sealed again or sealed an empty value: %q", name, calls)
		}
	}
	// The empty string that clears a member survives: "absent" and "cleared" differ.
	e := goldenEvent(t, "lethe.contact.updated.v1.clear-phone")
	d, _ := Seal(&e, fakeSeal(new([]string)))
	if p := d.(*ContactUpdated).Profile.Phone; p == nil || *p != "" || !strings.Contains(string(e.DataEncoded), `"phone":""`) {
		t.Errorf("cleared phone lost: %s", e.DataEncoded)
	}
}

func TestSealReportsFailure(t *testing.T) {
	e := goldenEvent(t, "lethe.order.placed.v1.buyer")
	before := string(e.DataEncoded)
	boom := errors.New("key store down")
	_, err := Seal(&e, func(string, string) (string, error) { return "", boom })
	if !errors.Is(err, ErrSeal) || !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "Ada") {
		t.Error("the error quotes the value")
	}
	if string(e.DataEncoded) != before {
		t.Error("a failed Seal changed the event")
	}
}

func TestDropPersonal(t *testing.T) {
	for _, name := range []string{"lethe.contact.created.v1.full", "lethe.order.placed.v1.buyer"} {
		t.Run(name, func(t *testing.T) {
			e := goldenEvent(t, name)
			d, err := DropPersonal(&e)
			if err != nil {
				t.Fatal(err)
			}
			if fs := d.(Personal).PersonalFields(); len(fs) != 0 {
				t.Errorf("left %q", names(fs))
			}
			if err := Validate(e); err != nil {
				t.Fatal(err)
			}
			for _, gone := range []string{"Marie", "Ada", "Lovelace", "gold"} {
				if strings.Contains(string(e.DataEncoded), gone) {
					t.Errorf("%q left in %s", gone, e.DataEncoded)
				}
			}
		})
	}
	e := goldenEvent(t, "lethe.contact.created.v1.full")
	d, _ := DropPersonal(&e)
	if c := d.(*ContactCreated).Profile.Address.Country; c == nil || *c != "FR" {
		t.Error("country must survive")
	}
}

func TestIsSealed(t *testing.T) {
	for v, want := range map[string]bool{"sealed:v1:abc": true, "sealed:v1:": false, "sealed:v2:abc": false, "": false, "abc": false} {
		if IsSealed(v) != want {
			t.Errorf("IsSealed(%q) = %v", v, !want)
		}
	}
}

// A sealed reason or criterion value is longer than the clear text it seals; consumers
// re-validate sealed events, so no length rule may refuse it.
func TestSealedReasonsAndCriterionValuesStayValid(t *testing.T) {
	for _, name := range []string{"lethe.legalhold.changed.v1.held", "lethe.contact.criterion.changed.v1.vip", "lethe.erasure.requested.v1.subject-request"} {
		t.Run(name, func(t *testing.T) {
			e := goldenEvent(t, name)
			long := SealedPrefix + strings.Repeat("A", 4*maxText)
			if _, err := Seal(&e, func(string, string) (string, error) { return long, nil }); err != nil {
				t.Fatal(err)
			}
			d, err := Decode(e)
			if err != nil {
				t.Fatalf("sealed event refused: %v", err)
			}
			for _, f := range d.(Personal).PersonalFields() {
				if *f.Value != long {
					t.Errorf("%s = %.20q, want the sealed value", f.Name, *f.Value)
				}
			}
		})
	}
}

// DecodePartial gives a dead letter's writer the personal values of an invalid event.
func TestDecodePartialReadsWhatAnInvalidEventHolds(t *testing.T) {
	e := goldenEvent(t, "lethe.contact.created.v1.full")
	e.SetExtension(ExtInstitution, "not an id")
	d, err := DecodePartial(e)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v, want a validation error", err)
	}
	if d == nil || len(d.(Personal).PersonalFields()) != 12 {
		t.Fatalf("partial data %#v, want the profile's 12 personal values", d)
	}
	e.SetType("lethe.contact.teleported.v1")
	if d, err := DecodePartial(e); d != nil || err == nil {
		t.Fatalf("an unknown type gave data %#v, err %v", d, err)
	}
	if d, err := Decode(goldenEvent(t, "lethe.contact.created.v1.full")); err != nil || d == nil {
		t.Fatalf("a valid event: %v", err)
	}
}
