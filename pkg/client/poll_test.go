package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
)

// A wait rides out a server that is briefly unavailable, and returns once the run is finished.
func TestWaitRunRidesOutTemporaryFailures(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			problem(w, http.StatusServiceUnavailable)
		case 2:
			_ = json.NewEncoder(w).Encode(api.RunView{ID: "run-1", State: "planning"})
		default:
			_ = json.NewEncoder(w).Encode(api.RunView{ID: "run-1", State: "completed"})
		}
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, "tok")
	run, err := c.WaitRun(context.Background(), "inst-a", "run-1", time.Second)
	if err != nil || run.State != "completed" || calls.Load() != 3 {
		t.Fatalf("WaitRun = %+v, %v after %d requests; want the completed run after 3", run, err, calls.Load())
	}
}

// A refusal ends a wait at once, with the server's reason.
func TestWaitRequestStopsAtARefusal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, "tok")
	_, err := c.WaitRequest(context.Background(), "req_1", time.Second)
	if !client.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("WaitRequest = %v, want the 404", err)
	}
}

// Following the pages of a run's items ends on the last page, and refuses a server that
// hands the same page again rather than looping for ever.
func TestEachItemsPageFollowsTheCursor(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after := r.URL.Query().Get("after")
		next := map[string]string{"": "c-1", "c-1": "c-2", "c-2": ""}[after]
		if strings.HasSuffix(r.URL.Path, "/run-loop/items") {
			next = "c-1"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": []api.ItemView{{ContactID: "after-" + after}}, "next": next})
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, "tok")
	var seen []string
	err := c.EachItemsPage(context.Background(), "inst-a", "run-1", 1, time.Second, func(items []json.RawMessage) error {
		for _, raw := range items {
			var it api.ItemView
			if err := json.Unmarshal(raw, &it); err != nil {
				return err
			}
			seen = append(seen, it.ContactID)
		}
		return nil
	})
	if err != nil || strings.Join(seen, ",") != "after-,after-c-1,after-c-2" {
		t.Fatalf("pages %v, %v; want three", seen, err)
	}
	err = c.EachItemsPage(context.Background(), "inst-a", "run-loop", 1, time.Second, func([]json.RawMessage) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a repeated page: %v, want an error", err)
	}
}
