package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
)

// The campaign's query reaches the server as its parameters, each once, on every page; the
// pages are followed by `after` until the last, and a stream is asked for with Accept.
func TestTargetsSendTheQueryAndFollowThePages(t *testing.T) {
	want := "channel=sms&crossing_within=P3M&explicit_consent_only=true&kind=marketing"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		after, limit := q.Get("after"), q.Get("limit")
		q.Del("after")
		q.Del("limit")
		if r.URL.Path != "/v1/institutions/inst-a/targets" || q.Encode() != want {
			problem(w, http.StatusBadRequest, api.InvalidParam{Pointer: "/channel", Detail: "query " + r.URL.RawQuery})
			return
		}
		switch r.Header.Get("Accept") {
		case api.ContentTypeCSV:
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			_, _ = w.Write([]byte("contact_id,role\nc-1,individual\nc-2,individual\n"))
			return
		case api.ContentTypeNDJSON:
			problem(w, http.StatusForbidden) // the server's words, below
			return
		}
		if limit != "1" {
			problem(w, http.StatusBadRequest, api.InvalidParam{Pointer: "/limit", Detail: "want 1, got " + limit})
			return
		}
		next := map[string]string{"": "c-1", "c-1": "c-2", "c-2": ""}[after]
		_ = json.NewEncoder(w).Encode(map[string]any{"institution": "inst-a", "kind": "marketing",
			"targets": []map[string]string{{"contact_id": "after-" + after}}, "next": next})
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, "tok")
	q := client.TargetsQuery{Channel: "sms", Kind: "marketing", ExplicitConsentOnly: true, CrossingWithin: "P3M"}

	var seen []string
	err := c.EachTargetsPage(context.Background(), "inst-a", q, 1, time.Second, func(ts []json.RawMessage) error {
		for _, raw := range ts {
			var tg struct {
				ContactID string `json:"contact_id"`
			}
			if err := json.Unmarshal(raw, &tg); err != nil {
				return err
			}
			seen = append(seen, tg.ContactID)
		}
		return nil
	})
	if err != nil || strings.Join(seen, ",") != "after-,after-c-1,after-c-2" {
		t.Fatalf("pages %v, %v; want three", seen, client.Detailed(err))
	}

	var buf bytes.Buffer
	n, err := c.ExportTargets(context.Background(), "inst-a", q, api.ContentTypeCSV, &buf)
	if err != nil || n != 3 || !strings.HasPrefix(buf.String(), "contact_id,role\n") {
		t.Fatalf("CSV = %d lines %q, %v; want the header and two rows", n, buf.String(), client.Detailed(err))
	}
	_, err = c.ExportTargets(context.Background(), "inst-a", q, api.ContentTypeNDJSON, &buf)
	if !client.IsStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "as the test says") {
		t.Fatalf("NDJSON refused: err = %v, want the server's 403 in its words", err)
	}
}

// An empty query sends no parameter: the server's defaults apply.
func TestTargetsQueryLeavesOutWhatIsNotAsked(t *testing.T) {
	if v := (client.TargetsQuery{}).Values(); len(v) != 0 {
		t.Fatalf("empty query = %v, want no parameter", v)
	}
	if got := (client.TargetsQuery{Kind: "transactional"}).Values().Encode(); got != "kind=transactional" {
		t.Fatalf("query = %q", got)
	}
}
