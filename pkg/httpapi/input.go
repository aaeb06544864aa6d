package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DecodeObject decodes a request body that must be one JSON object into v, the way every
// route with a JSON body reads it: not null, an array or a number (400); no member that is
// null (a member is either given with a value of its type or left out, as the OpenAPI
// document says: 422); no member v does not know (422); nothing after the object (400).
// what names the request in the problem ("the run request"). Its error is a *Problem.
func DecodeObject(data []byte, v any, what string) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil || members == nil {
		return NewProblem(http.StatusBadRequest, "the body must be one JSON object")
	}
	invalid := func(member, detail string) *Problem {
		p := NewProblem(http.StatusUnprocessableEntity, what+" is invalid")
		p.Errors = []InvalidParam{{Pointer: "/" + member, Detail: detail}}
		return p
	}
	for name, raw := range members {
		if string(bytes.TrimSpace(raw)) == "null" {
			return invalid(name, "must not be null: leave the member out instead")
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return invalid(strings.ReplaceAll(typeErr.Field, ".", "/"), "has the wrong JSON type")
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return invalid(strings.Trim(field, `"`), "is not a member of "+what)
		}
		return NewProblem(http.StatusBadRequest, "the body is not valid JSON")
	}
	if dec.More() {
		return NewProblem(http.StatusBadRequest, "the body holds more than one JSON value")
	}
	return nil
}

// QueryInt reads the integer query parameter name: absent is (0, false, nil); given once,
// it must be a whole number between min and max; given empty or more than once it is a 400,
// never a silent choice of one of them.
func QueryInt(q url.Values, name string, min, max int) (int, bool, error) {
	vs, ok := q[name]
	if !ok {
		return 0, false, nil
	}
	bad := func() error {
		p := NewProblem(http.StatusBadRequest, "invalid query parameter "+name)
		p.Errors = []InvalidParam{{Pointer: "/" + name, Detail: "must be given once, as a whole number between " + strconv.Itoa(min) + " and " + strconv.Itoa(max)}}
		return p
	}
	if len(vs) != 1 {
		return 0, false, bad()
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < min || n > max {
		return 0, false, bad()
	}
	return n, true, nil
}
