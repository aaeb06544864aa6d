package api

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
)

// Integer is a JSON integer as JSON Schema counts them — 36 and 36.0 alike, since a generated
// client may send either — and never a string or a fraction. It encodes as a plain number.
type Integer int

// UnmarshalJSON takes a JSON number whose value is whole and fits an int.
func (n *Integer) UnmarshalJSON(b []byte) error {
	refuse := &json.UnmarshalTypeError{Value: "number " + string(b), Type: reflect.TypeFor[int]()}
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		refuse.Value = "non-number"
		return refuse
	}
	if i, err := strconv.Atoi(string(b)); err == nil {
		*n = Integer(i)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 {
		return refuse
	}
	*n = Integer(f)
	return nil
}
