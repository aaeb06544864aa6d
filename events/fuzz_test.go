package events

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
)

// FuzzDecode: arbitrary bytes through the SDK's JSON reader, then Validate and Decode.
// Nothing may panic, Validate and Decode must agree, and whatever they accept must
// re-marshal, parse back and still validate.
func FuzzDecode(f *testing.F) {
	for _, raw := range golden(f) {
		f.Add(raw)
	}
	f.Add([]byte(`{"specversion":"1.0","data":{"items":[{"dated":true}]}}`))
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"s","type":"lethe.payment.recorded.v1","time":"2024-01-01T00:00:00Z","subject":"c","institution":"i","data":{"amount":1e2,"currency":"EUR","paid_at":"2024-01-01T00:00:00Z"}}`))
	// Attributes the SDK accepts around data the contract refuses: DecodeValidated's problems too.
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"s","type":"lethe.payment.recorded.v1","subject":"c","institution":"i","data":{"amount":"x"}}`))
	f.Add([]byte(`{"specversion":"1.0","id":"","source":"s","type":"lethe.nope.v1","subject":"","institution":"I I","data":{}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var e event.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return
		}
		verr := Validate(e)
		d, derr := Decode(e)
		if (verr == nil) != (derr == nil) {
			t.Fatalf("Validate %v, Decode %v", verr, derr)
		}
		if e.Validate() == nil { // what the bus hands over: DecodeValidated must say what Decode says
			vd, vderr := DecodeValidated(e)
			if !reflect.DeepEqual(vd, d) || !reflect.DeepEqual(vderr, derr) {
				t.Fatalf("DecodeValidated (%#v, %v) differs from Decode (%#v, %v)", vd, vderr, d, derr)
			}
		}
		if verr != nil {
			return
		}
		if d == nil || d.EventType() != e.Type() {
			t.Fatalf("decoded %T for %s", d, e.Type())
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("accepted event does not re-marshal: %v", err)
		}
		e2, err := ParseStructured(b)
		if err != nil {
			t.Fatalf("re-marshalled event does not parse: %v\n%s", err, b)
		}
		if err := Validate(e2); err != nil {
			t.Fatalf("re-marshalled event does not validate: %v\n%s", err, b)
		}
		// The typed data re-encodes to data that validates too (what Seal does).
		if err := SetData(&e2, d); err != nil {
			t.Fatal(err)
		}
		if err := Validate(e2); err != nil {
			t.Fatalf("re-encoded data does not validate: %v\n%s", err, e2.DataEncoded)
		}
	})
}

// FuzzScanner holds the data scanner to encoding/json: same verdict on validity, and the
// same decoded string for any JSON string.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`{"a":[1,-0.5e+3,true,null,"x\u00e9\ud83d\ude00"]}`, `"\ud800"`, "\"\xff\"",
		`01`, `{"a":1,}`, `[1 2]`, `"\u12"`, ` {} `, `1e`, `-`, `"a\/b"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON %v, json.Valid %v for %q", got, want, b)
		}
		var want string
		if json.Unmarshal(b, &want) != nil {
			return
		}
		s := scanner{b: bytes.TrimLeft(b, " \t\r\n")}
		if s.kind() != kString {
			t.Fatalf("kind %v for string %q", s.kind(), b)
		}
		if got := s.str(); got != want || s.bad() {
			t.Fatalf("decoded %q, encoding/json %q (bad %v)", got, want, s.bad())
		}
	})
}

// FuzzParseBatch: no panic, and a batch that parses re-marshals to the same count.
func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"specversion":"1.0","id":"a"},42]`))
	for _, raw := range golden(f) {
		f.Add(append(append([]byte("["), raw...), ']'))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := ParseBatch(b)
		if err != nil {
			if be, ok := err.(*BatchError); ok {
				_ = be.Problems()
			}
			return
		}
		out, err := MarshalBatch(es)
		if err != nil {
			return // the SDK's reader accepts a few values its writer refuses; parse-only is fine
		}
		es2, err := ParseBatch(out)
		if err != nil || len(es2) != len(es) {
			t.Fatalf("re-parse: %d vs %d, %v", len(es2), len(es), err)
		}
	})
}
