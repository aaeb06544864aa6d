package report

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// Destinations is each downstream destination's account of an institution's erasures, one
// line each: what it confirmed, what it has not yet and since when, what matched nothing.
func Destinations(w io.Writer, l api.DestinationList) error {
	if len(l.Destinations) == 0 {
		_, err := fmt.Fprintf(w, "no destination follows %s (lethe.yaml destinations)\n", l.Institution)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DESTINATION\tCONFIRMED\tUNCONFIRMED\tOLDEST UNCONFIRMED\tUNMATCHED")
	for _, d := range l.Destinations {
		name := d.Name
		if !d.Declared {
			name += " (no longer declared)"
		}
		oldest := "—"
		if d.OldestUnconfirmedAt != nil {
			oldest = fmt.Sprintf("%s (%s ago)", stamp(*d.OldestUnconfirmedAt), (time.Duration(d.OldestUnconfirmedAgeSeconds) * time.Second).String())
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\n", name, d.Confirmed, d.Unconfirmed, oldest, d.Unmatched)
	}
	return tw.Flush()
}
