package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// Request is an erasure request for a person: the contact, the state, and once done what the
// anonymiser erased.
func Request(w io.Writer, req api.RequestView) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "contact\t%s of %s\n", req.ContactID, req.Institution)
	fmt.Fprintf(tw, "state\t%s\n", req.State)
	if req.Outcome != "" {
		outcome := req.Outcome
		if req.Reason != "" {
			outcome += " (" + req.Reason + ")"
		}
		fmt.Fprintf(tw, "outcome\t%s\n", outcome)
	}
	if len(req.ErasedFields) > 0 {
		fmt.Fprintf(tw, "erased\t%s\n", strings.Join(req.ErasedFields, ", "))
	}
	if req.CompletedAt != nil {
		fmt.Fprintf(tw, "completed\t%s\n", stamp(*req.CompletedAt))
	}
	return tw.Flush()
}
