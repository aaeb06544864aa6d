package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// goldenEvent parses one golden event.
func goldenEvent(t testing.TB, name string) event.Event {
	t.Helper()
	raw, ok := golden(t)[name]
	if !ok {
		t.Fatalf("no golden %s", name)
	}
	e, err := ParseStructured(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func problems(t testing.TB, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %T %v", err, err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("a *ValidationError must match ErrInvalid")
	}
	return ve.Problems
}

func TestValidateNamesEachProblem(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		edit   mutation
		want   Problem // Reason is a substring
	}{
		{"institution missing", "lethe.contact.created.v1.minimal", mutation{path: []string{"institution"}, delete: true},
			Problem{"/institution", "is required"}},
		{"institution charset", "lethe.contact.created.v1.minimal", mutation{path: []string{"institution"}, value: "inst.a"},
			Problem{"/institution", "NATS subject tokens"}},
		{"institution too long", "lethe.contact.created.v1.minimal", mutation{path: []string{"institution"}, value: strings.Repeat("a", 65)},
			Problem{"/institution", "1 to 64"}},
		{"institution not a string", "lethe.contact.created.v1.minimal", mutation{path: []string{"institution"}, value: true},
			Problem{"/institution", "must be a string"}},
		{"organisation charset", "lethe.contact.created.v1.minimal", mutation{path: []string{"organisation"}, value: "a b"},
			Problem{"/organisation", "NATS subject tokens"}},
		{"organisation with a colon", "lethe.contact.created.v1.minimal", mutation{path: []string{"organisation"}, value: "org:1"},
			Problem{"/organisation", "NATS subject tokens"}},
		{"subject missing", "lethe.payment.recorded.v1.eur", mutation{path: []string{"subject"}, delete: true},
			Problem{"/subject", "is required"}},
		{"subject with a slash", "lethe.payment.recorded.v1.eur", mutation{path: []string{"subject"}, value: "c/1"},
			Problem{"/subject", "without whitespace or /"}},
		{"subject with a space", "lethe.payment.recorded.v1.eur", mutation{path: []string{"subject"}, value: "c 1"},
			Problem{"/subject", "without whitespace or /"}},
		{"subject too long", "lethe.payment.recorded.v1.eur", mutation{path: []string{"subject"}, value: strings.Repeat("é", 257)},
			Problem{"/subject", "1 to 256"}},
		{"id with a space", "lethe.payment.recorded.v1.eur", mutation{path: []string{"id"}, value: "evt 1"},
			Problem{"/id", "without whitespace"}},
		{"id with a control character", "lethe.payment.recorded.v1.eur", mutation{path: []string{"id"}, value: "evt\u00071"},
			Problem{"/id", "without whitespace"}},
		{"id with a no-break space", "lethe.payment.recorded.v1.eur", mutation{path: []string{"id"}, value: "evt\u00a01"},
			Problem{"/id", "without whitespace"}},
		{"unknown type", "lethe.payment.recorded.v1.eur", mutation{path: []string{"type"}, value: "lethe.payment.recorded.v2"},
			Problem{"/type", "must be a type Lethe accepts: lethe.contact.created.v1, "}},
		{"specversion 0.3", "lethe.payment.recorded.v1.eur", mutation{path: []string{"specversion"}, value: "0.3"},
			Problem{"/specversion", `must be "1.0"`}},
		{"dataschema not an absolute URI", "lethe.payment.recorded.v1.eur", mutation{path: []string{"dataschema"}, value: "|<@"},
			Problem{"/dataschema", "absolute URI"}},
		{"dataschema relative", "lethe.payment.recorded.v1.eur", mutation{path: []string{"dataschema"}, value: "schemas/payment.json"},
			Problem{"/dataschema", "absolute URI"}},
		{"datacontenttype", "lethe.payment.recorded.v1.eur", mutation{path: []string{"datacontenttype"}, value: "application/xml"},
			Problem{"/datacontenttype", "application/json"}},
		{"data missing", "lethe.payment.recorded.v1.eur", mutation{path: []string{"data"}, delete: true},
			Problem{"/data", "is required"}},
		{"data not an object", "lethe.payment.recorded.v1.eur", mutation{path: []string{"data"}, value: []any{}},
			Problem{"/data", "must be an object"}},
		{"role enum", "lethe.contact.created.v1.minimal", mutation{path: []string{"data", "role"}, value: "customer"},
			Problem{"/data/role", "must be one of individual, relay, structure"}},
		{"created_at timestamp", "lethe.contact.created.v1.minimal", mutation{path: []string{"data", "created_at"}, value: "2024-02-30T00:00:00Z"},
			Problem{"/data/created_at", "RFC 3339"}},
		{"lower-case t", "lethe.contact.created.v1.minimal", mutation{path: []string{"data", "created_at"}, value: "2024-02-01t00:00:00Z"},
			Problem{"/data/created_at", "RFC 3339"}},
		{"offset +24:00", "lethe.contact.created.v1.minimal", mutation{path: []string{"data", "created_at"}, value: "2024-02-01T00:00:00+24:00"},
			Problem{"/data/created_at", "RFC 3339"}},
		{"email shape", "lethe.contact.created.v1.full", mutation{path: []string{"data", "profile", "email"}, value: "marie at example.org"},
			Problem{"/data/profile/email", "e-mail address"}},
		{"birth date", "lethe.contact.created.v1.full", mutation{path: []string{"data", "profile", "birth_date"}, value: "1867-02-29"},
			Problem{"/data/profile/birth_date", "YYYY-MM-DD"}},
		{"custom name", "lethe.contact.created.v1.full", mutation{path: []string{"data", "profile", "custom", "loyalty.tier"}, value: "gold"},
			Problem{"/data/profile/custom/loyalty.tier", "custom field names"}},
		{"custom value type", "lethe.contact.created.v1.full", mutation{path: []string{"data", "profile", "custom", "allergies"}, value: false},
			Problem{"/data/profile/custom/allergies", "must be a string"}},
		{"country too long", "lethe.contact.created.v1.full", mutation{path: []string{"data", "profile", "address", "country"}, value: strings.Repeat("é", 1025)},
			Problem{"/data/profile/address/country", "at most 1024"}},
		{"dated item without valid_at", "lethe.option.acquired.v1.dated", mutation{path: []string{"data", "items", "0", "valid_at"}, delete: true},
			Problem{"/data/items/0/valid_at", "required when dated is true"}},
		{"item valid_at not a timestamp", "lethe.option.acquired.v1.mixed", mutation{path: []string{"data", "items", "1", "valid_at"}, value: "2025-03-01"},
			Problem{"/data/items/1/valid_at", "RFC 3339"}},
		{"no items", "lethe.order.placed.v1.buyer", mutation{path: []string{"data", "items"}, value: []any{}},
			Problem{"/data/items", "at least one item"}},
		{"contact_role enum", "lethe.order.placed.v1.buyer", mutation{path: []string{"data", "contact_role"}, value: "guest"},
			Problem{"/data/contact_role", "buyer, attendee"}},
		{"beneficiary name type", "lethe.order.placed.v1.buyer", mutation{path: []string{"data", "items", "0", "beneficiary", "last_name"}, value: 7},
			Problem{"/data/items/0/beneficiary/last_name", "must be a string"}},
		{"authorisation value", "lethe.consent.changed.v1.opt-in", mutation{path: []string{"data", "authorisations", "marketing"}, value: "maybe"},
			Problem{"/data/authorisations/marketing", "yes, no, unset"}},
		{"authorisation name", "lethe.consent.changed.v1.opt-in", mutation{path: []string{"data", "authorisations", "marketing..sms"}, value: "yes"},
			Problem{"/data/authorisations/marketing..sms", "dot-separated"}},
		{"no authorisation", "lethe.consent.changed.v1.opt-in", mutation{path: []string{"data", "authorisations"}, value: map[string]any{}},
			Problem{"/data/authorisations", "at least one"}},
		{"amount fraction", "lethe.payment.recorded.v1.eur", mutation{path: []string{"data", "amount"}, value: 45.5},
			Problem{"/data/amount", "whole number"}},
		{"amount beyond int64", "lethe.payment.recorded.v1.eur", mutation{path: []string{"data", "amount"}, value: 1e19},
			Problem{"/data/amount", "whole number"}},
		{"amount as string", "lethe.payment.recorded.v1.eur", mutation{path: []string{"data", "amount"}, value: "4500"},
			Problem{"/data/amount", "must be a number"}},
		{"currency", "lethe.payment.recorded.v1.eur", mutation{path: []string{"data", "currency"}, value: "eur"},
			Problem{"/data/currency", "ISO 4217"}},
		{"subscription status", "lethe.subscription.changed.v1.active", mutation{path: []string{"data", "status"}, value: "cancelled"},
			Problem{"/data/status", "initialized, active, suspended, terminated"}},
		{"held type", "lethe.legalhold.changed.v1.held", mutation{path: []string{"data", "held"}, value: "true"},
			Problem{"/data/held", "must be a boolean"}},
		{"skip reason", "lethe.contact.skipped.v1.debt", mutation{path: []string{"data", "reason"}, value: "vip"},
			Problem{"/data/reason", "debt, credit, active_subscription, legal_hold, became_active, not_in_scope"}},
		{"run and request", "lethe.contact.deleted.v1.run", mutation{path: []string{"data", "request_id"}, value: "req-9"},
			Problem{"/data/request_id", "must not be given with run_id"}},
		{"neither run nor request", "lethe.contact.deleted.v1.run", mutation{path: []string{"data", "run_id"}, delete: true},
			Problem{"/data/run_id", "is required"}},
		{"outcome contact differs from subject", "lethe.contact.deleted.v1.run", mutation{path: []string{"data", "contact_id"}, value: "c-9"},
			Problem{"/data", "contact_id must equal subject"}},
		{"outcome institution differs", "lethe.contact.deleted.v1.run", mutation{path: []string{"data", "institution"}, value: "inst-b"},
			Problem{"/data", "institution must equal"}},
		{"erased field is a value", "lethe.contact.anonymised.v1.run", mutation{path: []string{"data", "erased_fields", "0"}, value: "marie.curie@example.org"},
			Problem{"/data/erased_fields/0", "never a value"}},
		{"negative count", "lethe.run.completed.v1.simulation", mutation{path: []string{"data", "counts", "deleted"}, value: -1},
			Problem{"/data/counts/deleted", "at least 0"}},
		{"run mode", "lethe.run.completed.v1.simulation", mutation{path: []string{"data", "mode"}, value: "dry-run"},
			Problem{"/data/mode", "simulation, execute, apply"}},
		{"duplicate member", "lethe.payment.recorded.v1.eur", mutation{path: []string{"data"}, value: rawJSON(`{"amount":1,"amount":2,"currency":"EUR","paid_at":"2024-03-01T09:05:00Z"}`)},
			Problem{"/data/amount", "more than once"}},
	}
	goldens := golden(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := apply(t, goldens[tt.golden], tt.edit)
			err := goValidate(raw)
			if err == nil {
				t.Fatalf("accepted:\n%s", raw)
			}
			ps := problems(t, err)
			if !slices.ContainsFunc(ps, func(p Problem) bool {
				return p.Pointer == tt.want.Pointer && strings.Contains(p.Reason, tt.want.Reason)
			}) {
				t.Errorf("want %s %q among %+v", tt.want.Pointer, tt.want.Reason, ps)
			}
		})
	}
}

// rawJSON is inserted verbatim by json.Marshal, for documents a map cannot hold.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

func TestValidateReportsEveryProblem(t *testing.T) {
	raw := []byte(`{"specversion":"1.0","id":"e1","source":"urn:x","type":"lethe.order.placed.v1",
		"time":"2024-01-01T00:00:00Z","subject":"c 1","institution":"",
		"data":{"order_id":"o1","contact_role":"seller",
		        "items":[{"product_id":"p","dated":true},{"dated":"x","beneficiary":{"first_name":1}}]}}`)
	ps := problems(t, goValidate(raw))
	want := []Problem{
		{"/subject", reasonContactID},
		{"/institution", reasonToken},
		{"/data/contact_role", "must be one of buyer, attendee"},
		{"/data/items/0/valid_at", "is required when dated is true"},
		{"/data/items/1/dated", "must be a boolean"},
		{"/data/items/1/beneficiary/first_name", "must be a string"},
		{"/data/items/1/product_id", "is required"},
		{"/data/ordered_at", "is required"},
	}
	if !reflect.DeepEqual(ps, want) {
		t.Errorf("problems:\n got %+v\nwant %+v", ps, want)
	}
}

func TestValidateAcceptsSealedPersonalValues(t *testing.T) {
	const sealed = SealedPrefix + "AAAA"
	for _, member := range []string{"email", "birth_date", "first_name", "remark", "phone"} {
		t.Run(member, func(t *testing.T) {
			raw := apply(t, golden(t)["lethe.contact.created.v1.full"], mutation{path: []string{"data", "profile", member}, value: sealed})
			if err := goValidate(raw); err != nil {
				t.Errorf("sealed %s refused: %v", member, err)
			}
		})
	}
	t.Run("bare prefix is not sealed", func(t *testing.T) {
		raw := apply(t, golden(t)["lethe.contact.created.v1.full"], mutation{path: []string{"data", "profile", "email"}, value: SealedPrefix})
		if goValidate(raw) == nil {
			t.Error("the prefix alone passed as a sealed e-mail")
		}
	})
}

func TestProblemsNeverQuoteValues(t *testing.T) {
	const secret = "Zanzibar-Secret-7"
	goldens := golden(t)
	cases := [][]byte{
		apply(t, goldens["lethe.contact.created.v1.full"], mutation{path: []string{"data", "profile", "email"}, value: secret}),
		apply(t, goldens["lethe.contact.created.v1.full"], mutation{path: []string{"data", "profile", "birth_date"}, value: secret}),
		apply(t, goldens["lethe.contact.created.v1.full"], mutation{path: []string{"data", "role"}, value: secret}),
		apply(t, goldens["lethe.contact.created.v1.full"], mutation{path: []string{"time"}, value: secret}),
		apply(t, goldens["lethe.contact.created.v1.full"], mutation{path: []string{"source"}, value: "%" + secret}),
		apply(t, goldens["lethe.contact.created.v1.full"], mutation{path: []string{"subject"}, value: 7}),
		[]byte(`{"specversion":"1.0","data":{"remark":"` + secret + `"`),
		[]byte(`{"specversion":"1.0","id":"` + secret + `",` + secret + `}`),
		[]byte(`[{"specversion":"1.0","id":1,"data":"` + secret + `"}]`),
	}
	for i, raw := range cases {
		err := goValidate(raw)
		if err == nil {
			_, err = ParseBatch(raw)
		}
		if err == nil {
			t.Fatalf("case %d accepted", i)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("case %d: error quotes the input: %v", i, err)
		}
	}
}

func TestDecodeReturnsTypedData(t *testing.T) {
	for name, raw := range golden(t) {
		t.Run(name, func(t *testing.T) {
			e, err := ParseStructured(raw)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Decode(e)
			if err != nil {
				t.Fatal(err)
			}
			if d.EventType() != e.Type() {
				t.Fatalf("decoded a %s for a %s event", d.EventType(), e.Type())
			}
			if reflect.TypeOf(d) != reflect.TypeOf(newData(e.Type())) {
				t.Fatalf("got %T", d)
			}
			// Re-encoding the typed data gives an event that validates and decodes the same.
			if err := SetData(&e, d); err != nil {
				t.Fatal(err)
			}
			d2, err := Decode(e)
			if err != nil {
				t.Fatalf("re-encoded data refused: %v\n%s", err, e.DataEncoded)
			}
			if !equalData(d, d2) {
				t.Errorf("round trip changed the data:\n%#v\n%#v", d, d2)
			}
		})
	}
}

// equalData compares decoded data by their encoding (times keep their offsets).
func equalData(a, b Data) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestDecodeFields(t *testing.T) {
	d, err := Decode(goldenEvent(t, "lethe.order.placed.v1.buyer"))
	if err != nil {
		t.Fatal(err)
	}
	o := d.(*OrderPlaced)
	want := time.Date(2024, 6, 21, 19, 0, 0, 0, time.UTC)
	if o.OrderID != "ord-2024-0001" || o.ContactRole != ContactRoleBuyer || len(o.Items) != 2 ||
		!o.Items[0].Dated || !o.Items[0].ValidAt.Equal(want) || o.Items[1].Dated ||
		*o.Items[0].Beneficiary.FirstName != "Ada" {
		t.Errorf("decoded %+v", o)
	}
	if Institution(goldenEvent(t, "lethe.order.placed.v1.buyer")) != "inst-a" ||
		Organisation(goldenEvent(t, "lethe.order.placed.v1.buyer")) != "box-office" {
		t.Error("extension accessors")
	}
}

func TestValidateZeroEvent(t *testing.T) {
	ps := problems(t, Validate(event.Event{}))
	if len(ps) != 1 || ps[0].Pointer != "/specversion" {
		t.Errorf("got %+v", ps)
	}
}

// Ids as upstream systems write them are accepted, and time may be left out, as the
// CloudEvents spec allows (docs/contract.md, "Events in"); only institutions and
// organisations are held to the subject-token rule.
func TestValidateAcceptsIdsAsUpstreamsWriteThem(t *testing.T) {
	base := golden(t)["lethe.order.placed.v1.upstream-ids"]
	if err := goValidate(base); err != nil {
		t.Fatalf("urn:uuid event id, crm: contact id, ORD/… order id, no time: %v", err)
	}
	for _, m := range []mutation{
		{path: []string{"id"}, value: "ticketing:order:42:v2"},
		{path: []string{"id"}, value: "évènement-№1"},
		{path: []string{"id"}, value: strings.Repeat("x", 256)},
		{path: []string{"subject"}, value: "mailto:someone@example.org"},
		{path: []string{"data", "order_id"}, value: "ORD#2022?001&x=1"},
		{path: []string{"data", "items", "0", "product_id"}, value: "shows/2026/la-traviata"},
		{path: []string{"time"}, value: "2024-05-01T12:00:00Z"},
	} {
		t.Run(m.String(), func(t *testing.T) {
			if err := goValidate(apply(t, base, m)); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

// Issue 14: whoever reads the unknown-type reason is choosing what to send; it names the
// types Lethe accepts from upstream, never the ones it publishes.
func TestValidateUnknownTypeNamesOnlyTheTypesLetheAccepts(t *testing.T) {
	raw := apply(t, golden(t)["lethe.payment.recorded.v1.eur"], mutation{path: []string{"type"}, value: "lethe.payment.recorded.v2"})
	i := slices.IndexFunc(problems(t, goValidate(raw)), func(p Problem) bool { return p.Pointer == "/type" })
	if i < 0 {
		t.Fatal("no /type problem")
	}
	reason := problems(t, goValidate(raw))[i].Reason
	for _, typ := range InTypes() {
		if !strings.Contains(reason, typ) {
			t.Errorf("reason %q lacks %s", reason, typ)
		}
	}
	for _, typ := range OutTypes() {
		if strings.Contains(reason, typ) {
			t.Errorf("reason %q lists %s, a type Lethe publishes", reason, typ)
		}
	}
}
