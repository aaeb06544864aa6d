package report

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/atomicfile"
)

// ListingFormats are the --format values of a listing and the media type each asks of the
// server: csv and ndjson are streamed in one answer, json and the table follow the pages.
var ListingFormats = map[string]string{
	"table":  api.ContentTypeJSON,
	"json":   api.ContentTypeJSON,
	"csv":    api.ContentTypeCSV,
	"ndjson": api.ContentTypeNDJSON,
}

// Listing is a long listing of the API — a run's items, a campaign's targets — as the CLI
// writes it: in Format, to standard output or into Output complete or not at all (mode
// 0600, never a partial file), never held in memory whole.
type Listing[T any] struct {
	Format string // a key of ListingFormats
	Output string // a file, or "" for standard output
	What   string // what the rows are, for the closing line: "items of run r-1"
	// Export streams the listing in a media type and returns how many lines it wrote.
	Export func(w io.Writer, mediaType string) (int, error)
	// EachPage hands over the JSON pages in order.
	EachPage func(page func([]json.RawMessage) error) error
	// Table is the table of the "table" format.
	Table func(io.Writer) Table[T]
}

// Write writes the listing; into a file, it then says on stdout how many rows it wrote.
func (l Listing[T]) Write(stdout io.Writer) error {
	rows := func(w io.Writer) (int, error) {
		switch l.Format {
		case "csv", "ndjson":
			n, err := l.Export(w, ListingFormats[l.Format])
			if l.Format == "csv" && n > 0 {
				n-- // the header
			}
			return n, err
		case "table":
			return Pages(w, l.Table(w), l.EachPage)
		}
		return Pages[T](w, nil, l.EachPage)
	}
	if l.Output == "" {
		_, err := rows(stdout)
		return err
	}
	var n int
	if err := atomicfile.Replace(l.Output, func(w io.Writer) (err error) {
		n, err = rows(w)
		return err
	}); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "wrote %d %s to %s\n", n, l.What, l.Output)
	return err
}
