package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// Media types of the two structured wire modes.
const (
	MediaTypeStructured = event.ApplicationCloudEventsJSON      // application/cloudevents+json
	MediaTypeBatch      = event.ApplicationCloudEventsBatchJSON // application/cloudevents-batch+json
)

// ParseStructured reads one structured-mode event (application/cloudevents+json). It only
// parses: call Validate or Decode next. On failure the error is a *ValidationError whose
// reasons never quote the input (the SDK's parser errors do, and could carry personal data).
func ParseStructured(b []byte) (event.Event, error) {
	var e event.Event
	if err := format.JSON.Unmarshal(b, &e); err != nil {
		return event.Event{}, diagnose(b)
	}
	return e, nil
}

// MarshalStructured writes e in structured mode (application/cloudevents+json).
func MarshalStructured(e event.Event) ([]byte, error) {
	return format.JSON.Marshal(&e)
}

// BatchError reports the bad events of a batch by their index. An invalid batch is
// rejected whole, so ingest returns every index at once.
type BatchError struct {
	Errors []IndexedError
}

// IndexedError is the error of the event at Index in a batch; Err is a *ValidationError.
type IndexedError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string {
	var b strings.Builder
	b.WriteString("events: invalid batch:")
	for _, ie := range e.Errors {
		fmt.Fprintf(&b, " [%d] %v;", ie.Index, ie.Err)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *BatchError) Is(target error) bool { return target == ErrInvalid }

// Problems flattens the batch's problems with pointers into the batch document
// ("/3/data/role"), ready for an application/problem+json answer.
func (e *BatchError) Problems() []Problem {
	var out []Problem
	for _, ie := range e.Errors {
		prefix := "/" + strconv.Itoa(ie.Index)
		var ve *ValidationError
		if errors.As(ie.Err, &ve) {
			for _, p := range ve.Problems {
				out = append(out, Problem{Pointer: prefix + p.Pointer, Reason: p.Reason})
			}
			continue
		}
		out = append(out, Problem{Pointer: prefix, Reason: "is not a valid CloudEvent"})
	}
	return out
}

// ParseBatch reads a batch (application/cloudevents-batch+json: a JSON array of
// structured events). It only parses; see ValidateBatch. A document that is not an array
// gives a *ValidationError; bad elements give a *BatchError listing each index. An
// element that is not even valid JSON ends the scan, since nothing after it can be
// delimited.
func ParseBatch(b []byte) ([]event.Event, error) {
	s := scanner{b: b}
	if s.kind() != kArray {
		return nil, &ValidationError{Problems: []Problem{{Pointer: "", Reason: "must be a JSON array of structured CloudEvents"}}}
	}
	s.enter()
	var (
		out  []event.Event
		errs []IndexedError
	)
	first := true
	for i := 0; s.next(']', &first); i++ {
		s.ws()
		start := s.i
		s.skip()
		if s.bad() {
			errs = append(errs, IndexedError{Index: i, Err: &ValidationError{Problems: []Problem{{Pointer: "", Reason: "is not valid JSON"}}}})
			return nil, &BatchError{Errors: errs}
		}
		e, err := ParseStructured(b[start:s.i])
		if err != nil {
			errs = append(errs, IndexedError{Index: i, Err: err})
			continue
		}
		out = append(out, e)
	}
	if !s.end() {
		errs = append(errs, IndexedError{Index: len(out) + len(errs), Err: &ValidationError{Problems: []Problem{{Pointer: "", Reason: "is not valid JSON"}}}})
	}
	if len(errs) > 0 {
		return nil, &BatchError{Errors: errs}
	}
	return out, nil
}

// ValidateBatch validates each event; the error is a *BatchError naming every bad index.
func ValidateBatch(es []event.Event) error {
	var errs []IndexedError
	for i, e := range es {
		if err := Validate(e); err != nil {
			errs = append(errs, IndexedError{Index: i, Err: err})
		}
	}
	if len(errs) > 0 {
		return &BatchError{Errors: errs}
	}
	return nil
}

// MarshalBatch writes events as a batch (application/cloudevents-batch+json).
func MarshalBatch(es []event.Event) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range es {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := event.WriteJson(&es[i], &buf); err != nil {
			return nil, fmt.Errorf("events: batch element %d: %w", i, err)
		}
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

// Binary mode: attributes in ce-* headers, datacontenttype in content-type, data in the
// body. Header names are matched case-insensitively on read, so the same code serves
// net/http.Header (canonical "Ce-Id") and nats.Header (as sent, "ce-id").

const headerPrefix = "ce-"

// ReadBinary builds an event from binary-mode headers and body. h may be an
// http.Header or a nats.Header (both are map[string][]string); only the first value of a
// header counts. It only parses: call Validate or Decode next. Errors are *ValidationError.
func ReadBinary(h map[string][]string, body []byte) (event.Event, error) {
	var probs []Problem
	attrs := make(map[string]string, len(h))
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		lk := strings.ToLower(k)
		name, ok := strings.CutPrefix(lk, headerPrefix)
		if !ok {
			if lk == "content-type" {
				attrs["datacontenttype"] = vs[0]
			}
			continue
		}
		v, err := url.PathUnescape(vs[0])
		if err != nil {
			probs = append(probs, Problem{Pointer: "/" + name, Reason: "is not correctly percent-encoded"})
			continue
		}
		if name == "datacontenttype" {
			continue // binary mode carries it in content-type
		}
		attrs[name] = v
	}
	sv, ok := attrs["specversion"]
	switch {
	case !ok:
		probs = append(probs, Problem{Pointer: "/specversion", Reason: "is required (header ce-specversion)"})
	case sv != event.CloudEventsVersionV1:
		probs = append(probs, Problem{Pointer: "/specversion", Reason: `must be "1.0"`})
	}
	if len(probs) > 0 {
		return event.Event{}, &ValidationError{Problems: probs}
	}
	e := event.New(event.CloudEventsVersionV1)
	ctx := e.Context.(*event.EventContextV1)
	for name, v := range attrs {
		switch name {
		case "specversion":
		case "id":
			ctx.ID = v
		case "source":
			u := types.ParseURIRef(v)
			if u == nil {
				probs = append(probs, Problem{Pointer: "/source", Reason: "must be a URI-reference"})
				continue
			}
			ctx.Source = *u
		case "type":
			ctx.Type = v
		case "subject":
			if v != "" {
				ctx.Subject = &v
			}
		case "time":
			t, err := types.ParseTimestamp(v)
			if err != nil {
				probs = append(probs, Problem{Pointer: "/time", Reason: reasonTimestamp})
				continue
			}
			ctx.Time = t
		case "dataschema":
			u := types.ParseURI(v)
			if u == nil {
				probs = append(probs, Problem{Pointer: "/dataschema", Reason: "must be a URI"})
				continue
			}
			ctx.DataSchema = u
		case "datacontenttype":
			ctx.DataContentType = &v
		default:
			if err := ctx.SetExtension(name, v); err != nil {
				probs = append(probs, Problem{Pointer: "/" + name, Reason: "is not a valid CloudEvents attribute name (a-z, 0-9)"})
			}
		}
	}
	if len(probs) > 0 {
		sortProblems(probs)
		return event.Event{}, &ValidationError{Problems: probs}
	}
	if len(body) > 0 {
		e.DataEncoded = body
	}
	return e, nil
}

// WriteBinary writes e's attributes as binary-mode headers through set and returns the
// body. Pass a header's Set method: req.Header.Set for HTTP, msg.Header.Set for NATS.
// Names are written in lower case ("ce-id"); values are percent-encoded as the CloudEvents
// HTTP binding asks.
func WriteBinary(e event.Event, set func(key, value string)) ([]byte, error) {
	if e.Context == nil {
		return nil, &ValidationError{Problems: []Problem{{Pointer: "/specversion", Reason: "is required"}}}
	}
	set(headerPrefix+"specversion", e.SpecVersion())
	set(headerPrefix+"id", headerEscape(e.ID()))
	set(headerPrefix+"source", headerEscape(e.Source()))
	set(headerPrefix+"type", headerEscape(e.Type()))
	if s := e.Subject(); s != "" {
		set(headerPrefix+"subject", headerEscape(s))
	}
	if t := e.Time(); !t.IsZero() {
		set(headerPrefix+"time", t.Format(time.RFC3339Nano))
	}
	if ds := e.DataSchema(); ds != "" {
		set(headerPrefix+"dataschema", headerEscape(ds))
	}
	ct := e.DataContentType()
	if ct == "" && e.DataEncoded != nil {
		ct = event.ApplicationJSON
	}
	if ct != "" {
		set("content-type", ct)
	}
	for name, v := range ExtensionsOf(&e) {
		s, err := types.Format(v)
		if err != nil {
			return nil, fmt.Errorf("events: extension %s: %w", name, err)
		}
		set(headerPrefix+name, headerEscape(s))
	}
	return e.DataEncoded, nil
}

// headerEscape percent-encodes space, '"', '%' and anything outside printable ASCII.
func headerEscape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// diagnose explains why the SDK refused a structured event, without quoting the input.
// It runs only on failure, so it can afford encoding/json.
func diagnose(b []byte) error {
	fail := func(ptr, reason string) error {
		return &ValidationError{Problems: []Problem{{Pointer: ptr, Reason: reason}}}
	}
	if !validJSON(b) {
		return fail("", "is not valid JSON")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fail("", "must be a JSON object (a structured CloudEvent)")
	}
	var probs []Problem
	add := func(ptr, reason string) { probs = append(probs, Problem{Pointer: ptr, Reason: reason}) }
	str := func(name string) (string, bool) {
		raw, ok := m[name]
		if !ok {
			return "", false
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			add("/"+name, "must be a string")
			return "", false
		}
		return s, true
	}
	if sv, ok := str("specversion"); !ok {
		if _, present := m["specversion"]; !present {
			add("/specversion", "is required")
		}
	} else if sv != event.CloudEventsVersionV1 && sv != event.CloudEventsVersionV03 {
		add("/specversion", `must be "1.0"`)
	}
	for _, name := range []string{"id", "type", "subject", "datacontenttype", "dataschema"} {
		str(name)
	}
	if s, ok := str("source"); ok && types.ParseURIRef(s) == nil {
		add("/source", "must be a URI-reference")
	}
	if s, ok := str("time"); ok {
		if _, err := types.ParseTimestamp(s); err != nil {
			add("/time", reasonTimestamp)
		}
	}
	if ct, ok := str("datacontenttype"); ok && !isJSONContentType(ct) {
		add("/datacontenttype", `must be "application/json"`)
	}
	for name, raw := range m {
		switch name {
		case "specversion", "id", "type", "source", "subject", "time", "datacontenttype",
			"dataschema", "data", "data_base64":
			continue
		}
		if !event.IsExtensionNameValid(name) {
			add("/"+escapePointer(name), "is not a valid CloudEvents attribute name (a-z, 0-9)")
			continue
		}
		var v any
		_ = json.Unmarshal(raw, &v)
		if _, err := types.Validate(v); err != nil {
			add("/"+escapePointer(name), "must be a string, a boolean or a 32-bit integer")
		}
	}
	if len(probs) == 0 {
		add("", "is not a valid structured CloudEvent")
	}
	sortProblems(probs)
	return &ValidationError{Problems: probs}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// sortProblems orders problems found while ranging over a map, so errors are stable.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int { return strings.Compare(a.Pointer, b.Pointer) })
}

// ExtensionsOf is e's extensions as stored, without the copy event.Event.Extensions makes
// on every call (sdk-go's EventContextV1.GetExtensions copies the map; the ingest path asked
// for it a dozen times an event). Read it, never change it: use e.SetExtension for that.
func ExtensionsOf(e *event.Event) map[string]any {
	if ec, ok := e.Context.(*event.EventContextV1); ok {
		return ec.Extensions
	}
	return e.Extensions()
}
