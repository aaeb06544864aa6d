package report

import (
	"cmp"
	"encoding/json"
	"io"
	"slices"
	"strings"
)

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
