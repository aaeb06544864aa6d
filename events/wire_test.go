package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
)

// sameEvent compares attributes, extensions and data.
func sameEvent(t *testing.T, a, b event.Event) {
	t.Helper()
	if a.ID() != b.ID() || a.Type() != b.Type() || a.Source() != b.Source() || a.Subject() != b.Subject() ||
		!a.Time().Equal(b.Time()) || !reflect.DeepEqual(a.Extensions(), b.Extensions()) {
		t.Errorf("attributes differ:\n%v\n%v", a, b)
	}
	if !bytes.Equal(compact(t, a.Data()), compact(t, b.Data())) {
		t.Errorf("data differs:\n%s\n%s", a.Data(), b.Data())
	}
}

func compact(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestStructuredRoundTrip(t *testing.T) {
	for name, raw := range golden(t) {
		t.Run(name, func(t *testing.T) {
			e, err := ParseStructured(raw)
			if err != nil {
				t.Fatal(err)
			}
			b, err := MarshalStructured(e)
			if err != nil {
				t.Fatal(err)
			}
			e2, err := ParseStructured(b)
			if err != nil {
				t.Fatal(err)
			}
			sameEvent(t, e, e2)
		})
	}
}

func TestParseStructuredErrors(t *testing.T) {
	tests := []struct {
		raw     string
		pointer string
	}{
		{`{"specversion":"1.0",`, ""},
		{`[1]`, ""},
		{`{"id":"e1"}`, "/specversion"},
		{`{"specversion":"1.0","time":"yesterday"}`, "/time"},
		{`{"specversion":"1.0","id":7}`, "/id"},
		{`{"specversion":"1.0","bad_name":"x"}`, "/bad_name"},
		{`{"specversion":"1.0","institution":{"a":1}}`, "/institution"},
	}
	for _, tt := range tests {
		_, err := ParseStructured([]byte(tt.raw))
		if err == nil {
			t.Errorf("%s accepted", tt.raw)
			continue
		}
		if ps := problems(t, err); ps[0].Pointer != tt.pointer {
			t.Errorf("%s: got %+v, want pointer %q", tt.raw, ps, tt.pointer)
		}
	}
}

func goldenBatch(t *testing.T) ([]byte, int) {
	var parts [][]byte
	for _, raw := range golden(t) {
		parts = append(parts, raw)
	}
	return append(append([]byte("[\n"), bytes.Join(parts, []byte(",\n"))...), "\n]"...), len(parts)
}

func TestBatchRoundTrip(t *testing.T) {
	raw, n := goldenBatch(t)
	es, err := ParseBatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != n {
		t.Fatalf("parsed %d of %d", len(es), n)
	}
	if err := ValidateBatch(es); err != nil {
		t.Fatal(err)
	}
	b, err := MarshalBatch(es)
	if err != nil {
		t.Fatal(err)
	}
	es2, err := ParseBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		sameEvent(t, es[i], es2[i])
	}
	if es, err := ParseBatch([]byte(" [ ] ")); err != nil || len(es) != 0 {
		t.Errorf("empty batch: %v %v", es, err)
	}
}

func TestBatchErrorsByIndex(t *testing.T) {
	good := string(golden(t)["lethe.payment.recorded.v1.eur"])
	badData := strings.Replace(good, `"EUR"`, `"euro"`, 1)
	noInst := strings.Replace(good, `"institution"`, `"tenant"`, 1)

	// Parse errors by index.
	_, err := ParseBatch([]byte(`[` + good + `, 42, ` + good + `, {"id":"x"}]`))
	var be *BatchError
	if !errors.As(err, &be) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v", err)
	}
	if len(be.Errors) != 2 || be.Errors[0].Index != 1 || be.Errors[1].Index != 3 {
		t.Errorf("got %+v", be.Errors)
	}

	// Validation errors by index, flattened into pointers into the batch.
	es, err := ParseBatch([]byte(`[` + good + `,` + badData + `,` + good + `,` + noInst + `]`))
	if err != nil {
		t.Fatal(err)
	}
	err = ValidateBatch(es)
	if !errors.As(err, &be) {
		t.Fatalf("got %v", err)
	}
	want := []Problem{{"/1/data/currency", reasonCurrency}, {"/3/institution", "is required: the tenant id"}}
	if got := be.Problems(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}

	// Not an array; a broken element ends the scan at its index.
	if _, err := ParseBatch([]byte(good)); err == nil || problems(t, err)[0].Pointer != "" {
		t.Errorf("an object is not a batch: %v", err)
	}
	_, err = ParseBatch([]byte(`[` + good + `,` + good + `, {"id": ]`))
	if !errors.As(err, &be) || len(be.Errors) != 1 || be.Errors[0].Index != 2 {
		t.Errorf("got %v", err)
	}
	_, err = ParseBatch([]byte(`[` + good + `] x`))
	if !errors.As(err, &be) {
		t.Errorf("trailing garbage: %v", err)
	}
}

func TestBinaryModeOverHTTPHeaders(t *testing.T) {
	e := goldenEvent(t, "lethe.contact.created.v1.full")
	e.SetExtension("note", `café "quoted" 100%`)
	h := http.Header{}
	body, err := WriteBinary(e, h.Set)
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("Ce-Id") != e.ID() || h.Get("Ce-Institution") != "inst-a" || h.Get("Content-Type") != "application/json" ||
		h.Get("Ce-Note") != "caf%C3%A9%20%22quoted%22%20100%25" {
		t.Errorf("headers: %v", h)
	}
	got, err := ReadBinary(h, body)
	if err != nil {
		t.Fatal(err)
	}
	sameEvent(t, e, got)
	if err := Validate(got); err != nil {
		t.Error(err)
	}
}

func TestBinaryModeOverNATSHeaders(t *testing.T) {
	e := goldenEvent(t, "lethe.order.placed.v1.buyer")
	// nats.Header is a map[string][]string whose Set keeps the key as given.
	h := map[string][]string{}
	body, err := WriteBinary(e, func(k, v string) { h[k] = []string{v} })
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ce-specversion", "ce-id", "ce-source", "ce-type", "ce-subject", "ce-time", "ce-institution", "ce-organisation", "content-type"} {
		if len(h[k]) != 1 {
			t.Errorf("missing header %s in %v", k, h)
		}
	}
	got, err := ReadBinary(h, body)
	if err != nil {
		t.Fatal(err)
	}
	sameEvent(t, e, got)
	if _, err := Decode(got); err != nil {
		t.Error(err)
	}
}

func TestReadBinaryErrors(t *testing.T) {
	base := func() map[string][]string {
		return map[string][]string{"Ce-Specversion": {"1.0"}, "Ce-Id": {"e1"}, "Ce-Source": {"urn:x"},
			"Ce-Type": {TypeWaitlistJoined}, "Ce-Time": {"2024-01-01T00:00:00Z"}, "Ce-Subject": {"c1"},
			"Ce-Institution": {"inst-a"}, "Content-Type": {"application/json"}}
	}
	tests := []struct {
		name    string
		edit    func(map[string][]string)
		body    string
		pointer string
	}{
		{"no specversion", func(h map[string][]string) { delete(h, "Ce-Specversion") }, `{}`, "/specversion"},
		{"bad time", func(h map[string][]string) { h["Ce-Time"] = []string{"soon"} }, `{}`, "/time"},
		{"bad escape", func(h map[string][]string) { h["Ce-Subject"] = []string{"c%zz"} }, `{}`, "/subject"},
		{"bad extension name", func(h map[string][]string) { h["Ce-Bad_Name"] = []string{"x"} }, `{}`, "/bad_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := base()
			tt.edit(h)
			_, err := ReadBinary(h, []byte(tt.body))
			if ps := problems(t, err); ps[0].Pointer != tt.pointer {
				t.Errorf("got %+v", ps)
			}
		})
	}
	// Parsing succeeds; the body is checked by Validate like any data.
	e, err := ReadBinary(base(), []byte(`{"waitlist_id":"w1","joined_at":"2024-01-01T00:00:00Z"} trailing`))
	if err != nil {
		t.Fatal(err)
	}
	if ps := problems(t, Validate(e)); ps[len(ps)-1].Pointer != "/data" {
		t.Errorf("got %+v", ps)
	}
	e, _ = ReadBinary(base(), []byte(`{"waitlist_id":"w1","joined_at":"2024-01-01T00:00:00Z"}`))
	if err := Validate(e); err != nil {
		t.Error(err)
	}
}
