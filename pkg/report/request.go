package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// Request is a data subject's request for a person: the contact, the state and what holds
// it, the legal clock, who acted, and once done what the anonymiser erased.
func Request(w io.Writer, req api.RequestView) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if req.ID != "" {
		fmt.Fprintf(tw, "request\t%s (%s)\n", req.ID, dash(req.Kind))
	}
	fmt.Fprintf(tw, "contact\t%s of %s\n", req.ContactID, req.Institution)
	state := req.State
	if req.Blocker != "" && req.State == "blocked" {
		state += " by " + req.Blocker
	}
	fmt.Fprintf(tw, "state\t%s\n", state)
	if !req.ReceivedAt.IsZero() {
		fmt.Fprintf(tw, "received\t%s\n", stamp(req.ReceivedAt))
	}
	if !req.DueAt.IsZero() {
		due := stamp(req.DueAt)
		if req.Overdue {
			due += "  OVERDUE"
		}
		fmt.Fprintf(tw, "due\t%s\n", due)
	}
	if req.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", req.Error)
	}
	if req.DecisionReason != "" {
		fmt.Fprintf(tw, "reason\t%s\n", req.DecisionReason)
	} else if req.DecisionReasonSealed {
		fmt.Fprintf(tw, "reason\t(sealed: shown to a token with the export scope)\n")
	}
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
	if len(req.AwaitingConfirmation) > 0 {
		fmt.Fprintf(tw, "awaiting\tconfirmation from %s\n", strings.Join(req.AwaitingConfirmation, ", "))
	}
	if req.CompletedAt != nil {
		fmt.Fprintf(tw, "completed\t%s\n", stamp(*req.CompletedAt))
	}
	for _, a := range req.Actions {
		line := stamp(a.At) + "  " + a.Action + " by " + a.By
		if a.DueAt != nil {
			line += ", due " + stamp(*a.DueAt)
		}
		fmt.Fprintf(tw, "action\t%s\n", line)
	}
	return tw.Flush()
}
