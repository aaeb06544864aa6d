package httpapi

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// NegotiateListing picks the representation of a listing route (run items, campaign
// targets) from Accept: api.ContentTypeCSV, api.ContentTypeNDJSON (also asked for as
// application/ndjson or application/jsonl) or api.ContentTypeJSON, JSON pages, whichever it
// names first, q values not weighed; JSON when it names none of them.
func NegotiateListing(accept string) string {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case api.ContentTypeCSV:
			return api.ContentTypeCSV
		case api.ContentTypeNDJSON, "application/ndjson", "application/jsonl":
			return api.ContentTypeNDJSON
		case api.ContentTypeJSON, "*/*":
			return api.ContentTypeJSON
		}
	}
	return api.ContentTypeJSON
}

// FlushEvery is how many rows a stream sends between two flushes to the client: rows arrive
// as they are found, without a flush per row, whatever the size of the store's pages.
const FlushEvery = 500

// streamBuffer bounds what a stream holds between flushes, whatever the rows' size.
const streamBuffer = 32 << 10

// Rows says how a listing streams its rows of type T.
type Rows[T any] struct {
	// Header names the CSV columns and CSV gives one row's values in that order: ids, codes and
	// dates, never a personal value.
	Header []string
	CSV    func(T) []string
	// JSON is what one row encodes to as an NDJSON line; nil encodes the row itself.
	JSON func(T) any
	// Filename names the CSV attachment (Content-Disposition).
	Filename string
	// Log records a stream cut short by anything but the client going away; nil discards.
	Log *slog.Logger
}

// StreamRows answers 200 with every row that each emits, as mediaType (api.ContentTypeNDJSON
// or api.ContentTypeCSV, whose first line is the header), in constant memory: through a bounded
// buffer, flushed every FlushEvery rows and at the end. each returns emit's error when it
// gets one. An error once the status is sent can only cut the response: StreamRows aborts it
// (http.ErrAbortHandler), so that the client sees a broken transfer rather than a short
// listing it would take for complete.
func StreamRows[T any](w http.ResponseWriter, r *http.Request, mediaType string, rows Rows[T], each func(emit func(T) error) error) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", mediaType+"; charset=utf-8")
	if mediaType == api.ContentTypeCSV {
		w.Header().Set("Content-Disposition", `attachment; filename="`+rows.Filename+`"`)
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, streamBuffer)
	var cw *csv.Writer
	enc := json.NewEncoder(bw)
	if mediaType == api.ContentTypeCSV {
		cw = csv.NewWriter(bw)
	}
	write := func(row T) error {
		if cw != nil {
			return cw.Write(rows.CSV(row))
		}
		if rows.JSON != nil {
			return enc.Encode(rows.JSON(row))
		}
		return enc.Encode(row)
	}
	flush := func() error {
		if cw != nil {
			if cw.Flush(); cw.Error() != nil {
				return cw.Error()
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		// A writer that cannot flush sends what it holds when the handler returns.
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	var err error
	if cw != nil {
		err = cw.Write(rows.Header)
	}
	sent := 0
	if err == nil {
		err = each(func(row T) error {
			if err := write(row); err != nil {
				return err
			}
			if sent++; sent%FlushEvery == 0 {
				return flush()
			}
			return nil
		})
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		if r.Context().Err() == nil && rows.Log != nil {
			rows.Log.Error("listing stream interrupted", "path", r.URL.Path, "sent", sent, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}
