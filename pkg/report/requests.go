package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// Requests is the table of `lethe requests list`: one request a line, by deadline, what it
// waits on and whether it is late. Ids, states and dates only.
func Requests(w io.Writer, rs []api.RequestView) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUEST\tKIND\tCONTACT\tSTATE\tBLOCKER\tRECEIVED\tDUE\tOVERDUE\tOUTCOME")
	for _, r := range rs {
		overdue := ""
		if r.Overdue {
			overdue = "OVERDUE"
		}
		outcome := r.Outcome
		if len(r.AwaitingConfirmation) > 0 {
			outcome += ", awaiting " + strings.Join(r.AwaitingConfirmation, ", ")
		}
		if r.Error != "" {
			outcome = "error: " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.ContactID, r.State, dash(r.Blocker),
			stamp(r.ReceivedAt), stamp(r.DueAt), overdue, dash(outcome))
	}
	return tw.Flush()
}
