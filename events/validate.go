package events

import (
	"errors"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
)

// ErrInvalid is matched (errors.Is) by every *ValidationError.
var ErrInvalid = errors.New("events: invalid event")

// Problem is one bad member of an event: Pointer is a JSON pointer into the structured
// form of the event ("/institution", "/data/items/0/valid_at"), Reason says what the rule
// is. Reasons never quote the offending value, so problems are safe to log.
type Problem struct {
	Pointer string `json:"pointer"`
	Reason  string `json:"reason"`
}

// ValidationError lists every problem found in one event.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("events: invalid event: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Pointer)
		b.WriteByte(' ')
		b.WriteString(p.Reason)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Validate checks e against the contract: the envelope, then the data of its type. It
// returns nil or a *ValidationError naming each bad member. Decode does the same work and
// also returns the data; call it instead when you need both.
func Validate(e event.Event) error {
	_, err := decode(e)
	return err
}

// Decode validates e and returns its data as a pointer to the struct of its type
// (*ContactCreated for lethe.contact.created.v1, …). The error is a *ValidationError.
func Decode(e event.Event) (Data, error) {
	return decode(e)
}

// DecodeValidated is Decode for an event the CloudEvents SDK has already validated
// (e.Validate() returned nil, as for every event bus.DecodeEvent returns): it skips the SDK's
// attribute check, which would find nothing a second time, and is otherwise Decode — the
// same data, the same problems (FuzzDecode holds the two to each other). On an event the SDK
// would refuse it may accept what Decode does not: call Decode for anything else.
func DecodeValidated(e event.Event) (Data, error) {
	d, err := decodePartial(e, true)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// DecodePartial is Decode for an event that may be invalid: with the *ValidationError it
// returns the data of e's type as far as it could be read (nil when the type is unknown, or
// the data absent or base64), its unreadable members left zero. It lets whoever must keep an
// invalid event — a dead letter — find its personal values (Personal) and seal or drop them
// with the same rules as a valid one's. Members the type does not know are not in it.
func DecodePartial(e event.Event) (Data, error) {
	return decodePartial(e, false)
}

// Institution returns e's institution extension ("" when absent or not a string).
func Institution(e event.Event) string { return stringExt(e, ExtInstitution) }

// Organisation returns e's organisation extension ("" when absent or not a string).
func Organisation(e event.Event) string { return stringExt(e, ExtOrganisation) }

func stringExt(e event.Event, name string) string {
	if e.Context == nil {
		return ""
	}
	s, _ := ExtensionsOf(&e)[name].(string)
	return s
}

func decode(e event.Event) (Data, error) {
	d, err := decodePartial(e, false)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Envelope rules; schemagen_test.go states the same ones in the schemas. sdkValidated skips
// the SDK's own attribute check, for an event that already passed it.
func decodePartial(e event.Event, sdkValidated bool) (Data, error) {
	r := reader{}
	root := (*path)(nil)
	if e.Context == nil {
		r.add(&path{name: "specversion"}, "is required")
		return nil, &ValidationError{Problems: r.probs}
	}
	top := func(name string) *path { return &path{up: root, name: name} }

	if e.SpecVersion() != event.CloudEventsVersionV1 {
		r.add(top("specversion"), `must be "1.0"`)
	}
	if id := e.ID(); id == "" {
		r.add(top("id"), "is required")
	} else if !validID(id) {
		r.add(top("id"), reasonID)
	}
	if src := e.Source(); src == "" {
		r.add(top("source"), "is required")
	} else if strings.Contains(src, `\`) {
		r.add(top("source"), "must be a URI-reference")
	}
	typ := e.Type()
	d := newData(typ)
	switch {
	case typ == "":
		r.add(top("type"), "is required")
	case d == nil:
		// The published types are known too, but whoever sends an unknown type is an upstream
		// choosing what to send: the list is what it may send (ingest refuses the others).
		r.add(top("type"), "must be a type Lethe accepts: "+AcceptedTypes())
	}
	// time is optional, as in the CloudEvents spec: the dates that count are in data.
	if t := e.Time(); !t.IsZero() && t.Year() < 1900 {
		r.add(top("time"), reasonTimestamp)
	}
	subject := e.Subject()
	if subject == "" {
		if typ != TypeRunCompleted {
			r.add(top("subject"), "is required: the contact id")
		}
	} else if !validContactID(subject) {
		r.add(top("subject"), reasonContactID)
	}
	if ct := e.DataContentType(); !isJSONContentType(ct) {
		r.add(top("datacontenttype"), `must be "application/json"`)
	}
	exts := ExtensionsOf(&e)
	switch v, ok := exts[ExtInstitution]; {
	case !ok:
		r.add(top(ExtInstitution), "is required: the tenant id")
	case !isString(v):
		r.add(top(ExtInstitution), "must be a string")
	case !validToken(v.(string)):
		r.add(top(ExtInstitution), reasonToken)
	}
	if v, ok := exts[ExtOrganisation]; ok {
		if !isString(v) {
			r.add(top(ExtOrganisation), "must be a string")
		} else if !validToken(v.(string)) {
			r.add(top(ExtOrganisation), reasonToken)
		}
	}
	if e.DataBase64 {
		r.add(top("data_base64"), "is not accepted: send the JSON data in data")
	}
	// The SDK's own rules last, for what the checks above do not cover (a dataschema that is
	// not an absolute URI): the bus publishes with the SDK, which would refuse the event after
	// ingest had accepted it.
	if !sdkValidated {
		reported := map[string]bool{}
		for _, p := range r.probs {
			reported[p.Pointer] = true
		}
		for attr := range e.Context.Validate() {
			if p := top(attr); !reported[p.String()] {
				r.add(p, sdkReason(attr))
			}
		}
	}
	read := false
	switch {
	case e.DataEncoded == nil && !e.DataBase64:
		r.add(top("data"), "is required")
	case d != nil && !e.DataBase64:
		read = true
		r.s = scanner{b: e.DataEncoded}
		d.decode(&r, top("data"))
		if !r.s.end() {
			r.add(top("data"), "is not valid JSON")
		}
		if o, ok := d.(outcome); ok && len(r.probs) == 0 {
			inst, contact := o.outcome()
			if inst != Institution(e) {
				r.add(top("data"), "institution must equal the institution extension")
			}
			if contact != subject {
				r.add(top("data"), "contact_id must equal subject")
			}
		}
		if rc, ok := d.(*RunCompleted); ok && len(r.probs) == 0 && rc.Institution != Institution(e) {
			r.add(top("data"), "institution must equal the institution extension")
		}
	}
	if !read {
		d = nil
	}
	if len(r.probs) > 0 {
		return d, &ValidationError{Problems: r.probs}
	}
	return d, nil
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

// isJSONContentType: empty (JSON by default), or application/json with optional parameters.
func isJSONContentType(ct string) bool {
	rest, ok := strings.CutPrefix(ct, event.ApplicationJSON)
	return ct == "" || ok && (rest == "" || rest[0] == ';')
}

// sdkReason says what the CloudEvents SDK wants of an attribute it refused, without the value.
func sdkReason(attr string) string {
	switch attr {
	case "dataschema":
		return "must be an absolute URI (RFC 3986, section 4.3)"
	case "datacontenttype":
		return "must be a media type (RFC 2046)"
	}
	return "is not valid as the CloudEvents specification defines it"
}
