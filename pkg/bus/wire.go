package bus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
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
	inst, _ := e.Extensions()["institution"].(string)
	return inst + "/" + e.Source() + "/" + e.ID()
}

// encodeEvent renders e as a NATS message in binary content mode, or in structured mode
// when an attribute holds characters a header cannot carry (CR, LF and other controls).
// traceparent and tracestate, when set, replace the event's own trace extensions so the
// consumer links to the producer span.
func encodeEvent(subject string, e *event.Event, traceparent, tracestate string) (*nats.Msg, error) {
	h := make(nats.Header, 12)
	set := func(name, v string) bool {
		if !headerSafe(v) {
			return false
		}
		h[HeaderPrefix+name] = []string{v}
		return true
	}
	ok := set("specversion", e.SpecVersion()) && set("id", e.ID()) &&
		set("source", e.Source()) && set("type", e.Type())
	if ok && e.Subject() != "" {
		ok = set("subject", e.Subject())
	}
	if ok && !e.Time().IsZero() {
		ok = set("time", types.FormatTime(e.Time()))
	}
	if ok && e.DataSchema() != "" {
		ok = set("dataschema", e.DataSchema())
	}
	if ok && e.DataContentType() != "" {
		ok = headerSafe(e.DataContentType())
		h[HeaderContentType] = []string{e.DataContentType()}
	}
	for name, v := range e.Extensions() {
		if !ok {
			break
		}
		if traceparent != "" && (name == extTraceParent || name == extTraceState) {
			continue
		}
		s, err := types.Format(v)
		if err != nil {
			return nil, fmt.Errorf("%w: extension %s: %v", ErrInvalidEvent, name, err)
		}
		ok = set(name, s)
	}
	if traceparent != "" {
		h[HeaderPrefix+extTraceParent] = []string{traceparent}
		if tracestate != "" {
			h[HeaderPrefix+extTraceState] = []string{tracestate}
		}
	}
	if ok {
		return &nats.Msg{Subject: subject, Header: h, Data: e.DataEncoded}, nil
	}
	return encodeStructured(subject, e, traceparent, tracestate)
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
// names are matched without regard to case. Errors wrap ErrUndecodable.
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
			return event.Event{}, fmt.Errorf("%w: content type %q is neither structured nor binary mode", ErrUndecodable, truncate(contentType, 64))
		}
	} else if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
		return event.Event{}, fmt.Errorf("%w: no CloudEvents headers and no JSON body", ErrUndecodable)
	}
	var e event.Event
	if err := json.Unmarshal(data, &e); err != nil {
		return event.Event{}, fmt.Errorf("%w: structured mode: %v", ErrUndecodable, err)
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	return e, nil
}

func decodeBinary(h nats.Header, contentType string, data []byte, specversion string) (event.Event, error) {
	e := event.New(specversion)
	if e.Context == nil {
		return event.Event{}, fmt.Errorf("%w: unsupported specversion %q", ErrUndecodable, truncate(specversion, 16))
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
				return event.Event{}, fmt.Errorf("%w: time: %v", ErrUndecodable, err)
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
		return event.Event{}, fmt.Errorf("%w: %v", ErrUndecodable, err)
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
