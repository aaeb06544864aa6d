package bus

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/nats-io/nats.go"
)

// Header names of the CloudEvents NATS protocol binding and of JetStream.
const (
	// HeaderPrefix starts every CloudEvents attribute header in binary mode.
	HeaderPrefix = "ce-"
	// HeaderContentType carries datacontenttype in binary mode, and the event format in
	// structured mode.
	HeaderContentType = "content-type"
	// HeaderMsgID is JetStream's dedupe key.
	HeaderMsgID = "Nats-Msg-Id"
	// ContentTypeStructured is the media type of a structured-mode message.
	ContentTypeStructured = "application/cloudevents+json"
)

// Extension names for W3C trace context (CloudEvents distributed tracing extension).
const (
	extTraceParent = "traceparent"
	extTraceState  = "tracestate"
)

// MsgID is the Nats-Msg-Id under which an event is published. The CloudEvents spec makes
// only source+id unique, and several institutions may share an upstream product (and its
// source), so all three take part: two upstreams numbering their events alike must not
// have one event dropped as the other's duplicate. A retry of the same event keeps them all.
func MsgID(e event.Event) string {
	inst, _ := extensionsOf(&e)["institution"].(string)
	return msgID(inst, e.Source(), e.ID())
}

func msgID(institution, source, id string) string {
	id = institution + "/" + source + "/" + id
	if !headerSafe(id) {
		// A control character would break the header; a digest keeps the key stable.
		sum := sha256.Sum256([]byte(id))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return id
}

// Header names of the context attributes, spelled out so encoding does not build them.
const (
	hSpecVersion = HeaderPrefix + "specversion"
	hID          = HeaderPrefix + "id"
	hSource      = HeaderPrefix + "source"
	hType        = HeaderPrefix + "type"
	hSubject     = HeaderPrefix + "subject"
	hTime        = HeaderPrefix + "time"
	hDataSchema  = HeaderPrefix + "dataschema"
	hTraceParent = HeaderPrefix + extTraceParent
	hTraceState  = HeaderPrefix + extTraceState
)

// encodeEvent renders e as a NATS message in binary content mode, or in structured mode
// when an attribute holds characters a header cannot carry (CR, LF and other controls),
// with Nats-Msg-Id set to MsgID(e). traceparent and tracestate, when set, replace the
// event's own trace extensions so the consumer links to the producer span.
//
// It is on ingest's hot path: one backing array serves every header value, and the source
// URI is rendered once.
func encodeEvent(subject string, e *event.Event, traceparent, tracestate string) (*nats.Msg, error) {
	ext := extensionsOf(e)
	n := 11 + len(ext)
	h := make(nats.Header, n)
	vals := make([]string, 0, n)
	ok := true
	set := func(key, v string) {
		if !headerSafe(v) {
			ok = false
			return
		}
		vals = append(vals, v)
		h[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	source, id := e.Source(), e.ID()
	set(hSpecVersion, e.SpecVersion())
	set(hID, id)
	set(hSource, source)
	set(hType, e.Type())
	if v := e.Subject(); v != "" {
		set(hSubject, v)
	}
	if t := e.Time(); !t.IsZero() {
		set(hTime, types.FormatTime(t))
	}
	if v := e.DataSchema(); v != "" {
		set(hDataSchema, v)
	}
	if v := e.DataContentType(); v != "" {
		set(HeaderContentType, v)
	}
	for name, v := range ext {
		if traceparent != "" && (name == extTraceParent || name == extTraceState) {
			continue
		}
		s, err := types.Format(v)
		if err != nil {
			return nil, fmt.Errorf("%w: extension %s: %v", ErrInvalidEvent, name, err)
		}
		set(HeaderPrefix+name, s)
	}
	if traceparent != "" {
		set(hTraceParent, traceparent)
		if tracestate != "" {
			set(hTraceState, tracestate)
		}
	}
	inst, _ := ext["institution"].(string)
	mid := msgID(inst, source, id)
	if !ok {
		msg, err := encodeStructured(subject, e, traceparent, tracestate)
		if err != nil {
			return nil, err
		}
		msg.Header[HeaderMsgID] = []string{mid}
		return msg, nil
	}
	set(HeaderMsgID, mid)
	return &nats.Msg{Subject: subject, Header: h, Data: e.DataEncoded}, nil
}

func encodeStructured(subject string, e *event.Event, traceparent, tracestate string) (*nats.Msg, error) {
	c := e
	if traceparent != "" {
		cl := e.Clone()
		cl.SetExtension(extTraceParent, traceparent)
		if tracestate != "" {
			cl.SetExtension(extTraceState, tracestate)
		} else {
			cl.SetExtension(extTraceState, nil)
		}
		c = &cl
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	h := nats.Header{HeaderContentType: []string{ContentTypeStructured + "; charset=utf-8"}}
	return &nats.Msg{Subject: subject, Header: h, Data: body}, nil
}

// headerSafe rejects what would break NATS header framing or be altered by it.
func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return strings.TrimSpace(v) == v
}

// DecodeEvent reads a CloudEvent from a NATS message in either content mode: binary
// (ce-* headers, data as the body) or structured (a JSON event as the body, with content-type
// application/cloudevents+json or no content type at all, as older producers send). Header
// names are matched without regard to case. Errors wrap ErrUndecodable; they say what could
// not be read, never quote it (a dead letter's reason is made of them, and an upstream's
// inbox message may hold personal values anywhere).
func DecodeEvent(h nats.Header, data []byte) (event.Event, error) {
	var specversion, contentType string
	var hasCE bool
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		switch {
		case strings.EqualFold(k, HeaderContentType):
			contentType = vs[0]
		case hasPrefixFold(k, HeaderPrefix):
			hasCE = true
			if strings.EqualFold(k[len(HeaderPrefix):], "specversion") {
				specversion = vs[0]
			}
		}
	}
	if specversion != "" {
		return decodeBinary(h, contentType, data, specversion)
	}
	if hasCE {
		return event.Event{}, fmt.Errorf("%w: binary mode without ce-specversion", ErrUndecodable)
	}
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil || mt != ContentTypeStructured {
			return event.Event{}, fmt.Errorf("%w: the content type is neither structured mode (%s) nor binary mode", ErrUndecodable, ContentTypeStructured)
		}
	} else if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
		return event.Event{}, fmt.Errorf("%w: no CloudEvents headers and no JSON body", ErrUndecodable)
	}
	var e event.Event
	if err := json.Unmarshal(data, &e); err != nil {
		// The parser's message quotes the bytes around the fault.
		return event.Event{}, fmt.Errorf("%w: structured mode: the body is not a CloudEvent JSON object", ErrUndecodable)
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, invalidAttributes(err)
	}
	return e, nil
}

// invalidAttributes names the attributes the SDK refused, without its messages, which quote
// values.
func invalidAttributes(err error) error {
	var ve event.ValidationError
	if !errors.As(err, &ve) || len(ve) == 0 {
		return fmt.Errorf("%w: invalid CloudEvents attributes", ErrUndecodable)
	}
	names := make([]string, 0, len(ve))
	for name := range ve {
		names = append(names, name)
	}
	slices.Sort(names)
	return fmt.Errorf("%w: invalid CloudEvents attributes: %s", ErrUndecodable, strings.Join(names, ", "))
}

func decodeBinary(h nats.Header, contentType string, data []byte, specversion string) (event.Event, error) {
	e := event.New(specversion)
	if e.Context == nil {
		return event.Event{}, fmt.Errorf("%w: unsupported ce-specversion", ErrUndecodable)
	}
	for k, vs := range h {
		if len(vs) == 0 || !hasPrefixFold(k, HeaderPrefix) {
			continue
		}
		name, v := strings.ToLower(k[len(HeaderPrefix):]), vs[0]
		switch name {
		case "specversion":
		case "id":
			e.SetID(v)
		case "source":
			e.SetSource(v)
		case "type":
			e.SetType(v)
		case "subject":
			e.SetSubject(v)
		case "dataschema":
			e.SetDataSchema(v)
		case "datacontenttype":
			if contentType == "" {
				contentType = v
			}
		case "time":
			t, err := types.ParseTime(v)
			if err != nil {
				return event.Event{}, fmt.Errorf("%w: ce-time is not an RFC 3339 timestamp", ErrUndecodable)
			}
			e.SetTime(t)
		default:
			// A header that is not a valid attribute name is somebody else's: skip it
			// rather than refuse the event.
			if validExtensionName(name) {
				e.SetExtension(name, v)
			}
		}
	}
	if contentType != "" {
		e.SetDataContentType(contentType)
	}
	if len(data) > 0 {
		e.DataEncoded = data
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, invalidAttributes(err)
	}
	return e, nil
}

// validExtensionName is the CloudEvents rule: lower-case ASCII letters and digits.
func validExtensionName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) > len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// extensionsOf is events.ExtensionsOf (the extensions without sdk-go's copy per call), kept
// here so that the bus does not import the event contract: read only.
func extensionsOf(e *event.Event) map[string]any {
	if ec, ok := e.Context.(*event.EventContextV1); ok {
		return ec.Extensions
	}
	return e.Extensions()
}
