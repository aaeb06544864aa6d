package report

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// TargetsTable is the table of a campaign's targets, written a page at a time like
// ItemsTable: ids, consent and dates, never a personal value.
type TargetsTable struct {
	tw *tabwriter.Writer
}

// NewTargetsTable starts the table on w.
func NewTargetsTable(w io.Writer) *TargetsTable {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTACT\tROLE\tCONSENT\tRECENCY\tSOURCE\tCROSSES")
	return &TargetsTable{tw: tw}
}

// Row adds one target.
func (t *TargetsTable) Row(tg api.Target) {
	source := ""
	if tg.RecencySource != nil {
		source = tg.RecencySource.Type
	}
	fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\n", tg.ContactID, dash(tg.Role), dash(tg.Consent),
		dash(stampOf(tg.Recency)), dash(source), dash(stampOf(tg.CrossesAt)))
}

// Flush writes the rows added since the last Flush, aligned.
func (t *TargetsTable) Flush() error { return t.tw.Flush() }

func stampOf(t *time.Time) string {
	if t == nil {
		return ""
	}
	return stamp(*t)
}

// Key is the row's contact id.
func (t *TargetsTable) Key(v api.Target) string { return v.ContactID }
