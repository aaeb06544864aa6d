package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
)

func TestNegotiateListingTakesTheFirstFormatNamed(t *testing.T) {
	t.Parallel()
	for accept, want := range map[string]string{
		"":                                       api.ContentTypeJSON,
		"application/json":                       api.ContentTypeJSON,
		"*/*":                                    api.ContentTypeJSON,
		"text/html":                              api.ContentTypeJSON,
		"not a media type":                       api.ContentTypeJSON,
		"text/csv":                               api.ContentTypeCSV,
		"text/csv; charset=utf-8":                api.ContentTypeCSV,
		"application/x-ndjson":                   api.ContentTypeNDJSON,
		"application/ndjson":                     api.ContentTypeNDJSON,
		"application/jsonl":                      api.ContentTypeNDJSON,
		"text/html, text/csv":                    api.ContentTypeCSV,
		"text/csv;q=0.1, application/json":       api.ContentTypeCSV, // q values are not weighed
		"application/json, application/x-ndjson": api.ContentTypeJSON,
		"*/*, text/csv":                          api.ContentTypeJSON,
	} {
		if got := httpapi.NegotiateListing(accept); got != want {
			t.Errorf("NegotiateListing(%q) = %s, want %s", accept, got, want)
		}
	}
}

type row struct {
	ID string `json:"id"`
	N  int    `json:"n"`
}

var testRows = httpapi.Rows[row]{
	Header:   []string{"id", "n"},
	CSV:      func(r row) []string { return []string{r.ID, strconv.Itoa(r.N)} },
	Filename: "rows.csv",
}

// flushRecorder records, at each flush, how many lines the client had received.
type flushRecorder struct {
	*httptest.ResponseRecorder
	linesAtFlush []int
}

func (f *flushRecorder) Flush() {
	f.linesAtFlush = append(f.linesAtFlush, bytes.Count(f.Body.Bytes(), []byte("\n")))
	f.ResponseRecorder.Flush()
}

func emitN(n int) func(emit func(row) error) error {
	return func(emit func(row) error) error {
		for i := range n {
			if err := emit(row{ID: fmt.Sprintf("c-%04d", i), N: i}); err != nil {
				return err
			}
		}
		return nil
	}
}

// Both streams flush every FlushEvery rows and at the end, whatever the pages rows come in.
func TestStreamRowsFlushesEveryFlushEveryRowsAndAtTheEnd(t *testing.T) {
	t.Parallel()
	const n = 2*httpapi.FlushEvery + 7
	for _, tc := range []struct {
		mediaType string
		header    int // lines before the first row
		first     string
	}{
		{api.ContentTypeNDJSON, 0, `{"id":"c-0000","n":0}`},
		{api.ContentTypeCSV, 1, "id,n"},
	} {
		t.Run(tc.mediaType, func(t *testing.T) {
			w := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
			httpapi.StreamRows(w, httptest.NewRequest(http.MethodGet, "/rows", nil), tc.mediaType, testRows, emitN(n))
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != tc.mediaType+"; charset=utf-8" {
				t.Fatalf("%d %q", w.Code, w.Header().Get("Content-Type"))
			}
			want := []int{tc.header + httpapi.FlushEvery, tc.header + 2*httpapi.FlushEvery, tc.header + n}
			if fmt.Sprint(w.linesAtFlush) != fmt.Sprint(want) {
				t.Errorf("lines at each flush %v, want %v", w.linesAtFlush, want)
			}
			lines := strings.Split(strings.TrimSuffix(w.Body.String(), "\n"), "\n")
			if len(lines) != tc.header+n || lines[0] != tc.first {
				t.Errorf("%d lines starting %q, want %d starting %q", len(lines), lines[0], tc.header+n, tc.first)
			}
			disposition := w.Header().Get("Content-Disposition")
			if (tc.mediaType == api.ContentTypeCSV) != (disposition == `attachment; filename="rows.csv"`) {
				t.Errorf("Content-Disposition %q", disposition)
			}
		})
	}
}

func TestStreamRowsEncodesWhatJSONSays(t *testing.T) {
	t.Parallel()
	rows := testRows
	rows.JSON = func(r row) any { return map[string]string{"contact_id": r.ID} }
	w := httptest.NewRecorder()
	httpapi.StreamRows(w, httptest.NewRequest(http.MethodGet, "/rows", nil), api.ContentTypeNDJSON, rows, emitN(2))
	if got := w.Body.String(); got != "{\"contact_id\":\"c-0000\"}\n{\"contact_id\":\"c-0001\"}\n" {
		t.Fatalf("body %q", got)
	}
}

// A writer that cannot flush still gets every row, once the handler returns.
func TestStreamRowsWithoutFlusher(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	w := struct{ http.ResponseWriter }{rec} // hides the recorder's Flush
	httpapi.StreamRows(w, httptest.NewRequest(http.MethodGet, "/rows", nil), api.ContentTypeCSV, testRows, emitN(httpapi.FlushEvery+1))
	if got := strings.Count(rec.Body.String(), "\n"); got != httpapi.FlushEvery+2 {
		t.Fatalf("%d lines, want the header and %d rows", got, httpapi.FlushEvery+1)
	}
}

// A failure after the status is sent cuts the response, and is logged unless the client went
// away.
func TestStreamRowsAbortsOnAFailureMidway(t *testing.T) {
	t.Parallel()
	for _, gone := range []bool{false, true} {
		var logs bytes.Buffer
		rows := testRows
		rows.Log = slog.New(slog.NewTextHandler(&logs, nil))
		ctx, cancel := context.WithCancel(context.Background())
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/institutions/inst-a/rows", nil)
		failing := func(emit func(row) error) error {
			if err := emitN(3)(emit); err != nil {
				return err
			}
			if gone {
				cancel()
				return ctx.Err()
			}
			return errors.New("store unavailable")
		}
		aborted := func() (a bool) {
			defer func() {
				err, _ := recover().(error)
				a = errors.Is(err, http.ErrAbortHandler)
			}()
			httpapi.StreamRows(httptest.NewRecorder(), r, api.ContentTypeNDJSON, rows, failing)
			return false
		}()
		cancel()
		if !aborted {
			t.Errorf("client gone %v: the response was not aborted", gone)
		}
		logged := logs.String()
		if gone && logged != "" {
			t.Errorf("a client that went away was logged: %s", logged)
		}
		if !gone && (!strings.Contains(logged, "listing stream interrupted") || !strings.Contains(logged, "sent=3") ||
			!strings.Contains(logged, "path=/v1/institutions/inst-a/rows") || !strings.Contains(logged, "store unavailable")) {
			t.Errorf("log %q, want the interruption with the path, the rows sent and the error", logged)
		}
	}
}
