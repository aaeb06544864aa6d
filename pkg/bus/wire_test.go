package bus

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
)

func wireEvent() event.Event {
	e := event.New()
	e.SetID("e-1")
	e.SetSource("/ticketing")
	e.SetType("lethe.order.placed.v1")
	e.SetSubject("contact-9")
	e.SetTime(time.Date(2024, 2, 3, 4, 5, 6, 789000000, time.UTC))
	e.SetDataSchema("https://example.org/schemas/order.json")
	e.SetExtension("institution", "inst-a")
	e.SetExtension("attempt", 3)
	if err := e.SetData(event.ApplicationJSON, map[string]any{"order_id": "o-1"}); err != nil {
		panic(err)
	}
	return e
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	withCR := wireEvent()
	withCR.SetSubject("line1\r\nInjected: header")
	for _, tc := range []struct {
		name           string
		e              event.Event
		wantStructured bool
	}{
		{"binary mode", wireEvent(), false},
		{"control characters fall back to structured mode", withCR, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := encodeEvent("lethe.activity.inst-a.x", &tc.e, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if structured := msg.Header.Get(HeaderContentType) == ContentTypeStructured+"; charset=utf-8"; structured != tc.wantStructured {
				t.Fatalf("structured = %v, want %v (headers %v)", structured, tc.wantStructured, msg.Header)
			}
			if mid := msg.Header.Get(HeaderMsgID); mid == "" || !headerSafe(mid) || mid != MsgID(tc.e) {
				t.Fatalf("Nats-Msg-Id %q: want MsgID(e), safe in a header", mid)
			}
			got, err := DecodeEvent(msg.Header, msg.Data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			for _, f := range []struct{ name, got, want string }{
				{"id", got.ID(), tc.e.ID()},
				{"source", got.Source(), tc.e.Source()},
				{"type", got.Type(), tc.e.Type()},
				{"subject", got.Subject(), tc.e.Subject()},
				{"dataschema", got.DataSchema(), tc.e.DataSchema()},
				{"datacontenttype", got.DataContentType(), tc.e.DataContentType()},
				{"data", string(got.Data()), string(tc.e.Data())},
				{"institution", got.Extensions()["institution"].(string), "inst-a"},
			} {
				if f.got != f.want {
					t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
				}
			}
			if !got.Time().Equal(tc.e.Time()) {
				t.Errorf("time %s, want %s", got.Time(), tc.e.Time())
			}
		})
	}
}

func TestDecodeSkipsHeadersThatAreNotAttributes(t *testing.T) {
	t.Parallel()
	h := nats.Header{"Ce-Specversion": {"1.0"}, "CE-ID": {"1"}, "ce-source": {"/s"}, "ce-type": {"t"},
		"ce-not-an-attribute": {"x"}, "X-Other": {"y"}}
	e, err := DecodeEvent(h, nil)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if e.ID() != "1" || len(e.Extensions()) != 0 {
		t.Fatalf("decoded %v", e)
	}
}

func TestMsgIDKeepsEventsOfOtherSourcesApart(t *testing.T) {
	t.Parallel()
	a, b := wireEvent(), wireEvent()
	b.SetSource("/booking")
	c := wireEvent()
	c.SetExtension("institution", "inst-b")
	if MsgID(a) == MsgID(b) || MsgID(a) == MsgID(c) {
		t.Fatalf("ids collide: %q %q %q", MsgID(a), MsgID(b), MsgID(c))
	}
	if MsgID(a) != MsgID(wireEvent()) {
		t.Fatal("the same event must keep its id")
	}
}

func TestEncodeSetsTraceContext(t *testing.T) {
	t.Parallel()
	e := wireEvent()
	e.SetExtension("traceparent", "00-11111111111111111111111111111111-2222222222222222-01")
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	msg, err := encodeEvent("s", &e, tp, "vendor=x")
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("ce-traceparent"); got != tp {
		t.Fatalf("ce-traceparent %q, want the producer span's %q", got, tp)
	}
	if got := msg.Header.Get("ce-tracestate"); got != "vendor=x" {
		t.Fatalf("ce-tracestate %q", got)
	}
	if e.Extensions()["traceparent"] != "00-11111111111111111111111111111111-2222222222222222-01" {
		t.Fatal("encoding changed the caller's event")
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	valid := nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"1"}, "ce-source": {"/s"}, "ce-type": {"t"}}
	without := func(k string) nats.Header {
		h := nats.Header{}
		for hk, v := range valid {
			if hk != k {
				h[hk] = v
			}
		}
		return h
	}
	with := func(k, v string) nats.Header {
		h := without("")
		h[k] = []string{v}
		return h
	}
	for _, tc := range []struct {
		name string
		h    nats.Header
		body string
	}{
		{"binary without id", without("ce-id"), "{}"},
		{"binary without type", without("ce-type"), "{}"},
		{"ce headers without specversion", without("ce-specversion"), "{}"},
		{"unknown specversion", with("ce-specversion", "9.9"), "{}"},
		{"bad time", with("ce-time", "yesterday"), "{}"},
		{"plain text body", nil, "hello"},
		{"other content type", nats.Header{"content-type": {"text/plain"}}, "{}"},
		{"structured but broken JSON", nats.Header{"content-type": {ContentTypeStructured}}, `{"specversion":`},
		{"structured without id", nil, `{"specversion":"1.0","source":"/s","type":"t"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEvent(tc.h, []byte(tc.body))
			if !errors.Is(err, ErrUndecodable) {
				t.Fatalf("got %v, want ErrUndecodable", err)
			}
		})
	}
}

func FuzzDecodeEvent(f *testing.F) {
	e := wireEvent()
	msg, _ := encodeEvent("s", &e, "", "")
	f.Add("1.0", "e-1", "/s", "t", "2024-01-01T00:00:00Z", "application/json", string(msg.Data))
	f.Add("", "", "", "", "", ContentTypeStructured, `{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{}}`)
	f.Fuzz(func(t *testing.T, spec, id, source, typ, tm, ct, body string) {
		h := nats.Header{}
		for k, v := range map[string]string{"ce-specversion": spec, "ce-id": id, "ce-source": source,
			"ce-type": typ, "ce-time": tm, "content-type": ct} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		got, err := DecodeEvent(h, []byte(body))
		if err != nil {
			if !errors.Is(err, ErrUndecodable) {
				t.Fatalf("error %v does not wrap ErrUndecodable", err)
			}
			return
		}
		if verr := got.Validate(); verr != nil {
			t.Fatalf("decoded an invalid event: %v", verr)
		}
		// What decodes must survive a round trip.
		again, err := encodeEvent("s", &got, "", "")
		if errors.Is(err, ErrInvalidEvent) {
			return // e.g. non-JSON data under a JSON content type cannot go structured
		}
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := DecodeEvent(again.Header, again.Data)
		if err != nil {
			t.Fatalf("decode of re-encoded: %v", err)
		}
		if back.ID() != got.ID() || back.Type() != got.Type() || back.Source() != got.Source() {
			t.Fatalf("round trip changed the event: %v vs %v", back, got)
		}
	})
}

// A dead letter's reason is the decode error: it must say what could not be read without
// quoting it, since an upstream's message may hold a personal value anywhere.
func TestDecodeErrorsNeverQuoteTheMessage(t *testing.T) {
	t.Parallel()
	const v = "quoted-canary@mail.example"
	binary := func(k, val string) nats.Header {
		h := nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"1"}, "ce-source": {"/s"}, "ce-type": {"t"}}
		h.Set(k, val)
		return h
	}
	for name, tc := range map[string]struct {
		h    nats.Header
		data string
	}{
		"ce-time":              {binary("ce-time", v), "{}"},
		"ce-specversion":       {nats.Header{"ce-specversion": {v}}, "{}"},
		"content type":         {nats.Header{"content-type": {v}}, "{}"},
		"structured JSON":      {nil, `{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"email":"` + v + `"`},
		"structured attribute": {nil, `{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"` + v + `"}`},
		"structured source":    {nil, `{"specversion":"1.0","id":"1","source":"%` + v + `","type":"t"}`},
		"missing id":           {nil, `{"specversion":"1.0","source":"` + v + `","type":"t"}`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeEvent(tc.h, []byte(tc.data))
			if !errors.Is(err, ErrUndecodable) {
				t.Fatalf("got %v, want ErrUndecodable", err)
			}
			if strings.Contains(err.Error(), "canary") {
				t.Errorf("the error quotes the message: %v", err)
			}
		})
	}
}
