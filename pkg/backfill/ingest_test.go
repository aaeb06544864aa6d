package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

// The test double of ingest's HTTP contract that the sending tests run against, and the
// helpers around it.

type fakeIngest struct {
	t      *testing.T
	mu     sync.Mutex
	ids    []string // stored, in order of storing
	bodies [][]byte
	reqs   int
	// answer decides, per request (from 1), what to do; nil stores and answers 202.
	answer func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool
	srv    *httptest.Server
}

func newFakeIngest(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool) *fakeIngest {
	f := &fakeIngest{t: t, answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/events" || r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer tok" ||
			r.Header.Get("Content-Type") != "application/cloudevents-batch+json" {
			http.Error(w, "wrong request", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var evs []struct {
			ID   string `json:"id"`
			Data struct {
				Role string `json:"role"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &evs); err != nil {
			http.Error(w, "not a batch", http.StatusBadRequest)
			return
		}
		ids := make([]string, len(evs))
		for i, e := range evs {
			ids[i] = e.ID
			if e.Data.Role == "nobody" {
				ids[i] = "bad:" + e.ID // the test double's notion of an invalid event
			}
		}
		f.mu.Lock()
		f.reqs++
		n := f.reqs
		f.bodies = append(f.bodies, body)
		f.mu.Unlock()
		if f.answer != nil && f.answer(n, w, r, ids) {
			return
		}
		f.mu.Lock()
		f.ids = append(f.ids, ids...)
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"accepted":%d}`, len(ids))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIngest) stored() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ids)
}

func problem(w http.ResponseWriter, status int, retryAfter string, errs ...api.InvalidParam) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": "as the test says", "errors": errs})
}

func writeEvents(t *testing.T, n int, bad map[int]bool) (string, []string) {
	t.Helper()
	var b strings.Builder
	var ids []string
	for i := range n {
		id := fmt.Sprintf("e%05d", i)
		role := "individual"
		if bad[i] {
			role = "nobody"
		} else {
			ids = append(ids, id)
		}
		fmt.Fprintf(&b, `{"specversion":"1.0","id":"%s","source":"test","type":"lethe.contact.created.v1","data":{"role":"%s"}}`+"\n", id, role)
	}
	path := filepath.Join(t.TempDir(), "history.ndjson")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, ids
}

type waits struct {
	mu  sync.Mutex
	got []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.got = append(w.got, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) list() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.got)
}

// testSend runs a send of path against url the way the command does, with retries that
// record their waits instead of waiting.
func testSend(ctx context.Context, t *testing.T, url, path string, cfg Config, w *waits) (Result, string, error) {
	t.Helper()
	def := Config{Batch: 10, MaxBytes: DefaultMaxBytes, Concurrency: 4, Progress: "none", Retries: 5, Timeout: 30 * time.Second}
	if cfg.Batch != 0 {
		def.Batch = cfg.Batch
	}
	if cfg.Concurrency != 0 {
		def.Concurrency = cfg.Concurrency
	}
	if cfg.Retries != 0 {
		def.Retries = cfg.Retries
	}
	if cfg.Progress != "" {
		def.Progress = cfg.Progress
	}
	def.KeepGoing, def.Restart = cfg.KeepGoing, cfg.Restart
	c, err := client.New(url, "tok")
	if err != nil {
		t.Fatal(err)
	}
	in, err := Open(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var stderr testkit.SyncBuffer
	s := New(def, c, &stderr)
	if w == nil {
		w = &waits{}
	}
	s.sleep = w.sleep
	s.backoff = func(n int) time.Duration { return time.Duration(n+1) * time.Millisecond }
	s.grace = 200 * time.Millisecond
	res, err := s.Send(ctx, in)
	return res, stderr.String(), err
}

// rejecting answers like ingest: a 400 naming by index every event whose role is "nobody".
func rejecting(n int, w http.ResponseWriter, r *http.Request, ids []string) bool {
	var bad []api.InvalidParam
	for i, id := range ids {
		if strings.HasPrefix(id, "bad:") {
			bad = append(bad, api.InvalidParam{Index: &i, Pointer: "/data/role", Detail: "must be one of individual, relay, …"})
		}
	}
	if len(bad) > 0 {
		problem(w, http.StatusBadRequest, "", bad...)
		return true
	}
	return false
}

// overPayload answers like ingest for an event over the bus's payload limit: 413 naming by
// index every such event (here, the test double's "bad" ones), the batch rejected whole.
func overPayload(_ int, w http.ResponseWriter, _ *http.Request, ids []string) bool {
	var bad []api.InvalidParam
	for i, id := range ids {
		if strings.HasPrefix(id, "bad:") {
			bad = append(bad, api.InvalidParam{Index: &i, Pointer: "", Detail: fmt.Sprintf("event %q is 1500000 bytes sealed and encoded, over the bus's limit", strings.TrimPrefix(id, "bad:"))})
		}
	}
	if len(bad) > 0 {
		problem(w, http.StatusRequestEntityTooLarge, "", bad...)
		return true
	}
	return false
}

func idsRange(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("e%05d", i))
	}
	return out
}
