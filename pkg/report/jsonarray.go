package report

import (
	"bytes"
	"encoding/json"
	"io"
)

// JSONArray writes JSON values one by one as a single array, so that the pages of a long
// listing become one document for a script without being held in memory.
type JSONArray struct {
	w io.Writer
	n int
}

// NewJSONArray starts an array on w; Close ends it.
func NewJSONArray(w io.Writer) *JSONArray { return &JSONArray{w: w} }

// Add writes one value, compacted, on a line of its own.
func (a *JSONArray) Add(raw json.RawMessage) error {
	b := bytes.NewBufferString(",\n")
	if a.n == 0 {
		b = bytes.NewBufferString("[\n")
	}
	if err := json.Compact(b, raw); err != nil {
		return err
	}
	a.n++
	_, err := a.w.Write(b.Bytes())
	return err
}

// Len is how many values were added.
func (a *JSONArray) Len() int { return a.n }

// Close ends the array ("[]" when nothing was added).
func (a *JSONArray) Close() error {
	end := "\n]\n"
	if a.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(a.w, end)
	return err
}
