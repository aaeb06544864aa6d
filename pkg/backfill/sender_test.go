package backfill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/client"
)

func TestSendRetriesUnavailableHonouringRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		wantWaits  []time.Duration
	}{
		{"Retry-After in seconds", "7", []time.Duration{7 * time.Second, 7 * time.Second}},
		{"Retry-After as a date", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), []time.Duration{maxRetryAfter, maxRetryAfter}},
		{"no Retry-After: back-off", "", []time.Duration{time.Millisecond, 2 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIngest(t, func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool {
				if n <= 2 {
					problem(w, http.StatusServiceUnavailable, tt.retryAfter)
					return true
				}
				return false
			})
			path, ids := writeEvents(t, 5, nil)
			w := &waits{}
			res, _, err := testSend(context.Background(), t, f.srv.URL, path, Config{}, w)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.stored(), ids) || res.Sent != 5 {
				t.Fatalf("stored %v (sent %d), want %v", f.stored(), res.Sent, ids)
			}
			if f.reqs != 3 || !bytes.Equal(f.bodies[0], f.bodies[2]) {
				t.Fatalf("%d requests, want 3 with the same body", f.reqs)
			}
			if got := w.list(); !slices.Equal(got, tt.wantWaits) {
				t.Fatalf("waited %v, want %v", got, tt.wantWaits)
			}
		})
	}
}

func TestSendRetriesNetworkErrors(t *testing.T) {
	f := newFakeIngest(t, func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool {
		if n <= 2 { // the connection drops before any answer
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return true
		}
		return false
	})
	path, ids := writeEvents(t, 5, nil)
	w := &waits{}
	if _, _, err := testSend(context.Background(), t, f.srv.URL, path, Config{}, w); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.stored(), ids) || len(w.list()) != 2 {
		t.Fatalf("stored %v after waits %v, want every event after two back-offs", f.stored(), w.list())
	}
}

func TestSendStopsOnErrorsThatRetryingCannotFix(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		retries  int
		wantReqs int
		contains string
	}{
		{"unauthorised", http.StatusUnauthorized, 5, 1, "401"},
		{"forbidden", http.StatusForbidden, 5, 1, "403"},
		{"still unavailable after the retries", http.StatusServiceUnavailable, 2, 3, "giving up after 3 attempts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIngest(t, func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool {
				problem(w, tt.status, "")
				return true
			})
			path, _ := writeEvents(t, 5, nil)
			_, _, err := testSend(context.Background(), t, f.srv.URL, path, Config{Retries: tt.retries}, nil)
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tt.status || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("err = %v, want the %d problem mentioning %q", err, tt.status, tt.contains)
			}
			if f.reqs != tt.wantReqs {
				t.Fatalf("%d requests, want %d", f.reqs, tt.wantReqs)
			}
			if _, err := os.Stat(path + ".send-progress"); err == nil {
				t.Fatal("a checkpoint was written though nothing was acknowledged")
			}
		})
	}
}

func TestSendSplitsABatchTheServerFindsTooLarge(t *testing.T) {
	f := newFakeIngest(t, func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool {
		if len(ids) > 3 || slices.Contains(ids, "e00007") {
			problem(w, http.StatusRequestEntityTooLarge, "")
			return true
		}
		return false
	})
	path, ids := writeEvents(t, 10, nil)
	res, stderr, err := testSend(context.Background(), t, f.srv.URL, path, Config{KeepGoing: true}, nil)
	if !errors.Is(err, ErrRejected) || res.Rejected != 1 || !strings.Contains(stderr, "line 8: rejected: is larger than the server accepts") {
		t.Fatalf("err = %v, rejected %d, stderr %q: want line 8 rejected as too large", err, res.Rejected, stderr)
	}
	stored := f.stored()
	slices.Sort(stored)
	if want := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "e00007" }); !slices.Equal(stored, want) {
		t.Fatalf("stored %v, want %v", stored, want)
	}
}

func TestSendReportsRejectedEventsByLineAndKeepsGoing(t *testing.T) {
	f := newFakeIngest(t, rejecting)
	bad := map[int]bool{}
	for i := 3; i < 40; i += 7 {
		bad[i] = true
	}
	path, ids := writeEvents(t, 40, bad)
	res, stderr, err := testSend(context.Background(), t, f.srv.URL, path, Config{KeepGoing: true}, nil)
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
	for i := range bad {
		if want := fmt.Sprintf("line %d: rejected: /data/role must be one of", i+1); !strings.Contains(stderr, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "nobody") {
		t.Fatal("a rejected event's value was printed")
	}
	stored := f.stored()
	slices.Sort(stored)
	if !slices.Equal(stored, ids) || res.Sent != int64(len(ids)) || res.Rejected != int64(len(bad)) {
		t.Fatalf("stored %d, sent %d, rejected %d; want %d, %d, %d", len(stored), res.Sent, res.Rejected, len(ids), len(ids), len(bad))
	}
}

func TestSendStopsAtTheFirstRejectedEventAndResumesThereAfterTheFix(t *testing.T) {
	f := newFakeIngest(t, rejecting)
	path, _ := writeEvents(t, 40, map[int]bool{17: true, 24: true})
	res, stderr, err := testSend(context.Background(), t, f.srv.URL, path, Config{Concurrency: 1}, nil)
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "line 18") || !strings.Contains(stderr, "line 18: rejected") {
		t.Fatalf("err = %v, stderr %q: want a stop at line 18", err, stderr)
	}
	first := f.stored()
	if want := idsRange(0, 17); !slices.Equal(first, want) || res.Sent != 17 {
		t.Fatalf("stored %v, want exactly the events before line 18", first)
	}

	// The fix: the two bad lines become valid; a re-run sends from line 18 on, once.
	fixed, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.ReplaceAll(fixed, []byte(`"nobody"`), []byte(`"partner"`)), 0o600); err != nil {
		t.Fatal(err)
	}
	f.answer = nil
	res, _, err = testSend(context.Background(), t, f.srv.URL, path, Config{Concurrency: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := idsRange(0, 40); !slices.Equal(f.stored(), want) || res.Sent != 23 {
		t.Fatalf("after the fix: sent %d, stored %v; want each of %d events once", res.Sent, f.stored(), len(want))
	}
}

// A 413 that names events is their permanent rejection: each is reported by line with the
// server's reason, the others of its batch are sent again without them, and nothing is
// retried or split further.
func TestSendTreatsEventsOverThePayloadLimitAsRejected(t *testing.T) {
	f := newFakeIngest(t, overPayload)
	bad := map[int]bool{4: true, 25: true}
	path, ids := writeEvents(t, 30, bad)
	res, stderr, err := testSend(context.Background(), t, f.srv.URL, path, Config{KeepGoing: true, Concurrency: 1}, nil)
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
	for i := range bad {
		if want := fmt.Sprintf("line %d: rejected: (the event) event \"e%05d\" is 1500000 bytes", i+1, i); !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "retrying") {
		t.Errorf("a 413 was retried:\n%s", stderr)
	}
	stored := f.stored()
	slices.Sort(stored)
	if !slices.Equal(stored, ids) || res.Sent != int64(len(ids)) || res.Rejected != int64(len(bad)) {
		t.Fatalf("stored %d, sent %d, rejected %d; want %d, %d, %d", len(stored), res.Sent, res.Rejected, len(ids), len(ids), len(bad))
	}
	// Three batches of 10, two of them answered 413 once and sent again without their event.
	if f.reqs != 5 {
		t.Errorf("%d requests, want 5: a 413 naming its events is not split or retried", f.reqs)
	}
}

// writeLines writes an NDJSON input of n events like writeEvents, with the lines of broken
// (from 0) not JSON at all, so the sender rejects them itself, before any request.
func writeLines(t *testing.T, n int, bad, broken map[int]bool) string {
	t.Helper()
	path, _ := writeEvents(t, n, bad)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	for i := range broken {
		lines[i] = fmt.Sprintf(`{"id":"e%05d", not json}`+"\n", i)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rejectedLines are the line numbers of the "line N: rejected" reports, in the order printed.
func rejectedLines(stderr string) []int {
	var out []int
	for _, l := range strings.Split(stderr, "\n") {
		var n int
		if _, err := fmt.Sscanf(l, "line %d: rejected", &n); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// Issue 14: the sender rejects line 5 itself before the server has answered for line 2;
// the stop, and the resume, are at line 2 all the same.
func TestSendStopsAtTheFirstRejectedLineNotTheFirstFound(t *testing.T) {
	f := newFakeIngest(t, rejecting)
	path := writeLines(t, 8, map[int]bool{1: true}, map[int]bool{4: true})
	_, stderr, err := testSend(context.Background(), t, f.srv.URL, path, Config{}, nil)
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "on line 2:") {
		t.Fatalf("err = %v, want a stop at line 2, the first rejected", err)
	}
	if got := rejectedLines(stderr); !slices.Equal(got, []int{2, 5}) {
		t.Fatalf("reported lines %v, want [2 5] in input order:\n%s", got, stderr)
	}
	if want := idsRange(0, 1); !slices.Equal(f.stored(), want) {
		t.Fatalf("stored %v, want %v", f.stored(), want)
	}

	// Line 2 fixed, line 5 not: the re-run starts at line 2 and stops at line 5.
	fixed, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.ReplaceAll(fixed, []byte(`"nobody"`), []byte(`"partner"`)), 0o600); err != nil {
		t.Fatal(err)
	}
	res, stderr, err := testSend(context.Background(), t, f.srv.URL, path, Config{}, nil)
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "on line 5:") {
		t.Fatalf("re-run: err = %v, want a stop at line 5", err)
	}
	if !strings.Contains(stderr, "resuming") || res.Sent != 3 {
		t.Fatalf("re-run sent %d, stderr %q: want lines 2–4 sent after resuming", res.Sent, stderr)
	}
	if want := idsRange(0, 4); !slices.Equal(f.stored(), want) {
		t.Fatalf("stored %v, want each of %v once", f.stored(), want)
	}
}

// Issue 14: concurrent batches answered last-first still stop at the earliest rejected line.
func TestSendStopsAtTheFirstRejectedLineWhenBatchesAnswerOutOfOrder(t *testing.T) {
	f := newFakeIngest(t, heldFirst(1))
	path, _ := writeEvents(t, 20, map[int]bool{1: true, 14: true})
	_, stderr, err := testSend(context.Background(), t, f.srv.URL, path, Config{Concurrency: 2}, nil)
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "on line 2:") {
		t.Fatalf("err = %v, want a stop at line 2, the first rejected", err)
	}
	if got := rejectedLines(stderr); !slices.Equal(got, []int{2, 15}) {
		t.Fatalf("reported lines %v, want [2 15]:\n%s", got, stderr)
	}
}

// Issue 14: with --keep-going, rejected lines come out in input order, whether the sender
// or the server rejected them and whichever batch the server answered first.
func TestSendReportsRejectedLinesInInputOrder(t *testing.T) {
	f := newFakeIngest(t, heldFirst(3))
	bad := map[int]bool{2: true, 13: true, 24: true, 35: true}
	path := writeLines(t, 40, bad, map[int]bool{7: true, 18: true, 38: true})
	res, stderr, err := testSend(context.Background(), t, f.srv.URL, path, Config{KeepGoing: true, Concurrency: 4}, nil)
	if !errors.Is(err, ErrRejected) || res.Rejected != 7 {
		t.Fatalf("err = %v, rejected %d, want 7 rejected", err, res.Rejected)
	}
	if got, want := rejectedLines(stderr), []int{3, 8, 14, 19, 25, 36, 39}; !slices.Equal(got, want) {
		t.Fatalf("reported lines %v, want %v:\n%s", got, want, stderr)
	}
}

// heldFirst answers like rejecting, but holds the first batch's first request until n
// requests of the other batches were stored, so that the first batch's answer comes last.
func heldFirst(n int) func(int, http.ResponseWriter, *http.Request, []string) bool {
	stored := make(chan struct{}, n)
	var held atomic.Bool
	return func(k int, w http.ResponseWriter, r *http.Request, ids []string) bool {
		if slices.ContainsFunc(ids, func(id string) bool { return strings.HasSuffix(id, "e00000") }) {
			if held.CompareAndSwap(false, true) {
				for range n {
					select {
					case <-stored:
					case <-r.Context().Done():
						return true
					}
				}
			}
			return rejecting(k, w, r, ids)
		}
		if rejecting(k, w, r, ids) {
			return true
		}
		select {
		case stored <- struct{}{}:
		default:
		}
		return false
	}
}
