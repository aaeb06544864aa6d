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

// Table is a table written a page at a time (ItemsTable, TargetsTable).
type Table[T any] interface {
	Row(T)
	Flush() error
}

// Pages writes every page that each hands over: as rows of table, flushed page by page, or,
// with a nil table, as one JSON array. It returns how many values were written.
func Pages[T any](w io.Writer, table Table[T], each func(page func([]json.RawMessage) error) error) (int, error) {
	arr := NewJSONArray(w)
	n := 0
	err := each(func(page []json.RawMessage) error {
		for _, raw := range page {
			if table == nil {
				if err := arr.Add(raw); err != nil {
					return err
				}
				continue
			}
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			table.Row(v)
			n++
		}
		if table == nil {
			return nil
		}
		return table.Flush()
	})
	if table != nil || err != nil {
		return n + arr.Len(), err
	}
	return arr.Len(), arr.Close()
}
