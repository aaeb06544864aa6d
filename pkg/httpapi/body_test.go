package httpapi_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/httpapi"
)

func TestReadBodyAnswersProblems(t *testing.T) {
	const limit = 64
	for _, tc := range []struct {
		name          string
		body          io.Reader
		contentLength int64
		status        int // 0: read
	}{
		{"within the limit", strings.NewReader("[1,2,3]"), 7, 0},
		{"declared over the limit", strings.NewReader("x"), limit + 1, http.StatusRequestEntityTooLarge},
		{"over the limit, length undeclared", bytes.NewReader(make([]byte, limit+1)), -1, http.StatusRequestEntityTooLarge},
		{"broken", io.MultiReader(strings.NewReader("[1,"), errReader{}), -1, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/x", tc.body)
			r.ContentLength = tc.contentLength
			b, err := httpapi.ReadBody(httptest.NewRecorder(), r, limit)
			var p *httpapi.Problem
			switch {
			case tc.status == 0 && (err != nil || string(b) != "[1,2,3]"):
				t.Fatalf("= %q %v", b, err)
			case tc.status != 0 && (!errors.As(err, &p) || p.Status != tc.status):
				t.Fatalf("error %v, want a %d problem", err, tc.status)
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// BenchmarkReadBodyDeclaredLarge: a body that declares 10 MiB and carries 1 KiB costs what
// was read (about a few KiB per op), not the declared length.
func BenchmarkReadBodyDeclaredLarge(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1<<10)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/x", bytes.NewReader(body))
		r.ContentLength = 10 << 20
		_, _ = httpapi.ReadBody(httptest.NewRecorder(), r, 16<<20)
	}
}
