package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
)

// SealedPrefix starts every sealed personal value ("sealed:v1:" then the ciphertext as the
// crypto package encodes it). Validation accepts a sealed string in any personal field and
// skips its shape check (an e-mail's @, a date's digits): events on LETHE_ACTIVITY are
// sealed, and consumers re-validate them.
const SealedPrefix = "sealed:v1:"

// IsSealed reports whether v is a sealed value: SealedPrefix and at least one more byte.
func IsSealed(v string) bool { return len(v) > len(SealedPrefix) && strings.HasPrefix(v, SealedPrefix) }

// PersonalField is one personal value inside event data. Name is stable and meant as
// AES-GCM associated data (with the institution and contact): "profile.email",
// "profile.address.line1", "profile.custom.<name>", "items.<i>.beneficiary.first_name",
// "legal_hold.reason", "criterion.<criterion>.value", "erasure.reason". Each names what the
// value is, not only where it sits, so a sealed value moved to another member (a legal-hold
// reason into an erasure request, one criterion's value onto another) does not open.
// Value points into the data struct, so assigning *Value replaces the value in place.
type PersonalField struct {
	Name  string
	Value *string
}

// Personal is implemented by the data types that carry personal values (ContactCreated,
// ContactUpdated, OptionAcquired, OptionConfirmed, OrderPlaced, CriterionChanged,
// LegalHoldChanged, ErasureRequested). What stays clear — the address country, the company,
// criterion names, dates, amounts, ids — is never listed.
type Personal interface {
	Data
	// PersonalFields lists the personal values present (absent members are not listed),
	// in a stable order.
	PersonalFields() []PersonalField
	// DropPersonal removes every personal value, leaving what stays clear. Ingest uses it
	// for a late event about a contact whose key was destroyed: its dates count, its
	// personal data must not come back.
	DropPersonal()
}

func (p *Profile) personalFields(out []PersonalField) []PersonalField {
	add := func(name string, v *string) {
		if v != nil {
			out = append(out, PersonalField{Name: name, Value: v})
		}
	}
	add("profile.email", p.Email)
	add("profile.first_name", p.FirstName)
	add("profile.last_name", p.LastName)
	add("profile.phone", p.Phone)
	if a := p.Address; a != nil {
		add("profile.address.line1", a.Line1)
		add("profile.address.line2", a.Line2)
		add("profile.address.postcode", a.Postcode)
		add("profile.address.city", a.City)
	}
	add("profile.birth_date", p.BirthDate)
	add("profile.remark", p.Remark)
	names := make([]string, 0, len(p.Custom))
	for k := range p.Custom {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		add("profile.custom."+k, p.Custom[k])
	}
	return out
}

func (p *Profile) dropPersonal() {
	p.Email, p.FirstName, p.LastName, p.Phone, p.BirthDate, p.Remark, p.Custom = nil, nil, nil, nil, nil, nil, nil
	if a := p.Address; a != nil {
		a.Line1, a.Line2, a.Postcode, a.City = nil, nil, nil, nil
		if a.Country == nil {
			p.Address = nil
		}
	}
}

func itemsPersonalFields(items []Item) []PersonalField {
	var out []PersonalField
	for i := range items {
		b := items[i].Beneficiary
		if b == nil {
			continue
		}
		prefix := "items." + strconv.Itoa(i) + ".beneficiary."
		if b.FirstName != nil {
			out = append(out, PersonalField{Name: prefix + "first_name", Value: b.FirstName})
		}
		if b.LastName != nil {
			out = append(out, PersonalField{Name: prefix + "last_name", Value: b.LastName})
		}
	}
	return out
}

func dropItemsPersonal(items []Item) {
	for i := range items {
		items[i].Beneficiary = nil
	}
}

func (d *ContactCreated) PersonalFields() []PersonalField  { return d.Profile.personalFields(nil) }
func (d *ContactCreated) DropPersonal()                    { d.Profile.dropPersonal() }
func (d *ContactUpdated) PersonalFields() []PersonalField  { return d.Profile.personalFields(nil) }
func (d *ContactUpdated) DropPersonal()                    { d.Profile.dropPersonal() }
func (d *OptionAcquired) PersonalFields() []PersonalField  { return itemsPersonalFields(d.Items) }
func (d *OptionAcquired) DropPersonal()                    { dropItemsPersonal(d.Items) }
func (d *OptionConfirmed) PersonalFields() []PersonalField { return itemsPersonalFields(d.Items) }
func (d *OptionConfirmed) DropPersonal()                   { dropItemsPersonal(d.Items) }
func (d *OrderPlaced) PersonalFields() []PersonalField     { return itemsPersonalFields(d.Items) }
func (d *OrderPlaced) DropPersonal()                       { dropItemsPersonal(d.Items) }

// Names of the personal values outside the profile and the items.
const (
	FieldLegalHoldReason = "legal_hold.reason"
	FieldErasureReason   = "erasure.reason"
)

// CriterionValueField is the name a criterion's value is sealed under: it carries the
// criterion, so that the value of one criterion never opens as another's.
func CriterionValueField(criterion string) string { return "criterion." + criterion + ".value" }

// textField lists a personal value held in a plain string member, when it holds one.
func textField(name string, v *string) []PersonalField {
	if *v == "" {
		return nil
	}
	return []PersonalField{{Name: name, Value: v}}
}

func (d *CriterionChanged) PersonalFields() []PersonalField {
	return textField(CriterionValueField(d.Criterion), &d.Value)
}

// DropPersonal leaves the required value empty: "" says nothing about the person and keeps
// the event valid for its date.
func (d *CriterionChanged) DropPersonal() { d.Value = "" }
func (d *LegalHoldChanged) PersonalFields() []PersonalField {
	return textField(FieldLegalHoldReason, &d.Reason)
}
func (d *LegalHoldChanged) DropPersonal() { d.Reason = "" }
func (d *ErasureRequested) PersonalFields() []PersonalField {
	return textField(FieldErasureReason, &d.Reason)
}
func (d *ErasureRequested) DropPersonal() { d.Reason = "" }

// ErrSeal wraps an error returned by a SealFunc.
var ErrSeal = errors.New("events: sealing a personal value failed")

// SealFunc turns one clear personal value into a sealed one (SealedPrefix + ciphertext).
// name is PersonalField.Name, for the associated data.
type SealFunc func(name, value string) (string, error)

// Seal is ingest's one call: it validates and decodes e, passes every clear, non-empty
// personal value through seal, and re-encodes the data into e. Values already sealed
// and empty strings (which clear a field) are left as they are. It returns the decoded
// data, sealed.
//
// The data is re-encoded from the typed struct even when nothing was sealed, so members
// this version does not know are dropped here: they were accepted for compatibility,
// but could hold personal data that nobody would seal.
func Seal(e *event.Event, seal SealFunc) (Data, error) {
	d, err := Decode(*e)
	if err != nil {
		return nil, err
	}
	if p, ok := d.(Personal); ok {
		for _, f := range p.PersonalFields() {
			v := *f.Value
			if v == "" || IsSealed(v) {
				continue
			}
			s, err := seal(f.Name, v)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrSeal, f.Name, err)
			}
			*f.Value = s
		}
	}
	if err := SetData(e, d); err != nil {
		return nil, err
	}
	return d, nil
}

// DropPersonal validates and decodes e, removes every personal value and re-encodes the
// data into e (see Personal.DropPersonal).
func DropPersonal(e *event.Event) (Data, error) {
	d, err := Decode(*e)
	if err != nil {
		return nil, err
	}
	if p, ok := d.(Personal); ok {
		p.DropPersonal()
	}
	if err := SetData(e, d); err != nil {
		return nil, err
	}
	return d, nil
}

// SetData encodes d as e's JSON data (datacontenttype application/json). It does not
// check that d matches e's type; Validate does.
func SetData(e *event.Event, d Data) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("events: encoding %s data: %w", d.EventType(), err)
	}
	e.SetDataContentType(event.ApplicationJSON)
	e.DataEncoded = b
	e.DataBase64 = false
	return nil
}
