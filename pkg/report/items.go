package report

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// ItemsTable is the table of a run's items, written a page at a time: the columns of each
// page are aligned on their own, so that a large run is never held in memory. Its header is
// written with the first Flush.
type ItemsTable struct {
	tw *tabwriter.Writer
}

// NewItemsTable starts the table on w.
func NewItemsTable(w io.Writer) *ItemsTable {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTACT\tOUTCOME\tREASON\tROLE\tCUSTOMER\tRECENCY\tSOURCE\tRESULT")
	return &ItemsTable{tw: tw}
}

// Row adds one item; a field the item does not have reads as a dash, so that every column
// of a row is there for a reader (and for cut or awk).
func (t *ItemsTable) Row(it api.ItemView) {
	fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.ContactID, it.Outcome, dash(it.Reason), dash(it.Role),
		yesNo(it.Customer), dash(stamp(it.Recency)), dash(it.RecencySource.Type), dash(it.Result))
}

// Flush writes the rows added since the last Flush, aligned.
func (t *ItemsTable) Flush() error {
	return t.tw.Flush()
}

// yesNo is a flag for a reader, not Go's true and false.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// dash keeps an empty field visible, so that the columns stay countable.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Key is the row's contact id.
func (t *ItemsTable) Key(v api.ItemView) string { return v.ContactID }
