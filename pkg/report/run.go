package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Run is a run for a person: what it is, its state, and its counts.
func Run(w io.Writer, run api.RunView) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	line("run", run.ID)
	line("institution", run.Institution)
	mode := run.Mode
	if run.SourceRun != "" {
		mode += " of " + run.SourceRun
	}
	line("mode", mode)
	line("state", run.State)
	line("error", run.Error)
	line("as of", stamp(run.AsOf))
	if run.InactivityMonths > 0 {
		line("inactivity", fmt.Sprintf("%d months: recency before %s", run.InactivityMonths, stamp(run.Threshold)))
	}
	by := run.Trigger
	if run.RequestedBy != "" {
		by += ", " + run.RequestedBy
	}
	line("started by", by)
	line("created", stamp(run.CreatedAt))
	if run.FinishedAt != nil {
		line("finished", stamp(*run.FinishedAt))
	}
	if run.Forecast {
		line("forecast", "a look ahead as of a future date: it cannot be applied")
	}
	if run.Mode != store.ModeSimulation {
		line("results", fmt.Sprintf("%d of %d items", run.Results, run.Items))
	}
	fmt.Fprintln(tw)
	// An apply or execute run that is completed says what happened beside what was planned;
	// while it executes, its counts are the plan's.
	drift := run.Planned != nil && run.State == store.RunCompleted
	if drift {
		fmt.Fprintf(tw, "outcome\tcontacts\tplanned\n")
	} else {
		fmt.Fprintf(tw, "outcome\tcontacts\n")
	}
	row := func(label string, n, planned int) {
		if drift {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", label, n, planned)
		} else {
			fmt.Fprintf(tw, "%s\t%d\n", label, n)
		}
	}
	total, plannedTotal := 0, 0
	outcomes := []string{store.OutcomeDelete, store.OutcomeAnonymise, store.OutcomeSkip}
	for _, o := range slices.Sorted(maps.Keys(run.Counts)) {
		if !slices.Contains(outcomes, o) {
			outcomes = append(outcomes, o)
		}
	}
	for _, o := range outcomes {
		row(o, run.Counts[o], run.Planned[o])
		total += run.Counts[o]
		plannedTotal += run.Planned[o]
		if o == store.OutcomeSkip {
			reasons := maps.Clone(run.Reasons)
			if reasons == nil {
				reasons = map[string]int{}
			}
			for r := range run.PlannedReasons {
				reasons[r] += 0
			}
			for _, r := range slices.Sorted(maps.Keys(reasons)) {
				row("  "+r, run.Reasons[r], run.PlannedReasons[r])
			}
		}
	}
	row("total", total, plannedTotal)
	return tw.Flush()
}

// Runs is the table of an institution's runs, one line each with its counts by outcome.
func Runs(w io.Writer, runs []api.RunView) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tMODE\tSTATE\tAS OF\tDELETE\tANONYMISE\tSKIP\tCREATED")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", r.ID, r.Mode, r.State, stamp(r.AsOf),
			r.Counts[store.OutcomeDelete], r.Counts[store.OutcomeAnonymise], r.Counts[store.OutcomeSkip], stamp(r.CreatedAt))
	}
	return tw.Flush()
}
