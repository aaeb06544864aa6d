package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"slices"
	"strings"
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
	// Key is the row's contact id, by which a table that fits in SortedRows is sorted.
	Key(T) string
}

// SortedRows is how many rows a table holds back to show them in natural order (c-2 before
// c-10, as a person reads ids; the API lists them byte by byte). A longer listing is written
// page by page in the API's order, so that it is never held in memory whole.
const SortedRows = 10000

// Pages writes every page that each hands over: as rows of table, or, with a nil table, as one
// JSON array. It returns how many values were written.
func Pages[T any](w io.Writer, table Table[T], each func(page func([]json.RawMessage) error) error) (int, error) {
	arr := NewJSONArray(w)
	n := 0
	var held []T
	streaming := false
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
			n++
			if streaming {
				table.Row(v)
				continue
			}
			if held = append(held, v); len(held) > SortedRows {
				streaming = true // too long to sort: the API's order, from the first row
				for _, h := range held {
					table.Row(h)
				}
				held = nil
			}
		}
		if streaming {
			return table.Flush()
		}
		return nil
	})
	if table == nil {
		if err != nil {
			return arr.Len(), err
		}
		return arr.Len(), arr.Close()
	}
	if err != nil {
		return n, err
	}
	slices.SortStableFunc(held, func(a, b T) int { return NaturalCompare(table.Key(a), table.Key(b)) })
	for _, h := range held {
		table.Row(h)
	}
	return n, table.Flush()
}

// NaturalCompare orders strings as a person reads them: runs of digits by their value
// (c-2 < c-10 < c-100), everything else byte by byte.
func NaturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
