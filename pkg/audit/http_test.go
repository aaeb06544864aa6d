package audit_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
)

func get(t *testing.T, h http.Handler, method string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, "/v1/audit/verify", nil))
	return w
}

func TestVerifyHandler(t *testing.T) {
	t.Parallel()
	s := backendtest.Pebble(t)
	ctx := context.Background()
	h := audit.VerifyHandler(s.Audit())
	log := audit.New(s.Audit())
	var head store.AuditEntry
	for n := 1; n <= 3; n++ {
		var err error
		if head, err = log.Record(ctx, outcome(n)); err != nil {
			t.Fatal(err)
		}
	}

	w := get(t, h, http.MethodGet)
	var rep audit.Report
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("intact chain: %d %s %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Intact || rep.Entries != 3 || rep.FirstSeq != 1 || rep.HeadSeq != 3 || rep.HeadHash != head.Hash || rep.Broken != nil {
		t.Fatalf("report = %+v", rep)
	}

	forged := outcome(4)
	forged.Seq, forged.PrevHash, forged.At = 4, head.Hash, head.At
	forged.Hash = strings.Repeat("f", 64)
	if err := s.Audit().Append(ctx, forged); err != nil {
		t.Fatal(err)
	}
	w = get(t, h, http.MethodGet)
	var p struct {
		Type, Title, Detail, Instance, Reason string
		Status                                int
		Seq                                   int64
		Report                                audit.Report
	}
	if w.Code != http.StatusConflict || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("broken chain: %d %s %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != 409 || p.Seq != 4 || p.Type != audit.ProblemBroken || !strings.Contains(p.Detail, "seq 4") ||
		p.Instance != "/v1/audit/verify" || p.Report.Intact || p.Report.Broken == nil || p.Report.Broken.Seq != 4 || p.Report.Entries != 4 {
		t.Fatalf("problem = %+v", p)
	}

	if w := get(t, h, http.MethodPost); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") == "" {
		t.Fatalf("POST: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}

	// A store that cannot be read: a 500 that names no internals.
	_ = s.Close(ctx)
	w = get(t, h, http.MethodGet)
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "pebble") {
		t.Fatalf("closed store: %d %s", w.Code, w.Body)
	}
}
