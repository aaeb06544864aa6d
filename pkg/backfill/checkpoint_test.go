package backfill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/client"
)

// An interrupted send, re-run, stores every event exactly once without help from the
// server's dedupe: the test double has none. One batch hangs until the interruption
// abandons it, so batches after it are acknowledged out of order and must be skipped.
func TestSendResumesAfterAnInterruptionWithoutDuplicates(t *testing.T) {
	const n = 1000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFakeIngest(t, func(_ int, w http.ResponseWriter, r *http.Request, ids []string) bool {
		switch ids[0] {
		case "e00020": // hangs until the client gives up on it
			<-r.Context().Done()
			return true
		case "e00300":
			cancel()
		}
		return false
	})
	path, ids := writeEvents(t, n, nil)
	res1, _, err := testSend(ctx, t, f.srv.URL, path, Config{}, nil)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "re-run") {
		t.Fatalf("first run: err = %v, want interrupted", err)
	}
	first := f.stored()
	if len(first) == 0 || len(first) == n || slices.Contains(first, "e00020") || int64(len(first)) != res1.Sent {
		t.Fatalf("first run stored %d events (sent %d), want some, not e00020", len(first), res1.Sent)
	}
	cp, err := loadCheckpoint(path + ".send-progress")
	if err != nil || cp == nil || cp.Events != 20 || len(cp.Done) == 0 {
		t.Fatalf("checkpoint %+v (%v): want the prefix before e00020 and ranges beyond", cp, err)
	}

	f.answer = nil
	res2, stderr, err := testSend(context.Background(), t, f.srv.URL, path, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := f.stored()
	seen := map[string]int{}
	for _, id := range all {
		seen[id]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("event %s stored %d times", id, seen[id])
		}
	}
	if len(all) != n || res1.Sent+res2.Sent != n || res2.Skipped != int64(len(first)-20) {
		t.Fatalf("stored %d; sent %d + %d; skipped %d: want %d in all", len(all), res1.Sent, res2.Sent, res2.Skipped, n)
	}
	if !strings.Contains(stderr, "resuming "+path+" at line 21") {
		t.Fatalf("stderr %q: want the resume point", stderr)
	}

	// Once complete, a re-run sends nothing; lines appended later are sent alone.
	res3, _, err := testSend(context.Background(), t, f.srv.URL, path, Config{}, nil)
	if err != nil || res3.Sent != 0 {
		t.Fatalf("re-run of a complete send: sent %d, err %v", res3.Sent, err)
	}
	fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintln(fh, `{"specversion":"1.0","id":"appended","source":"test","type":"lethe.contact.created.v1","data":{"role":"individual"}}`)
	fh.Close()
	res4, _, err := testSend(context.Background(), t, f.srv.URL, path, Config{}, nil)
	if err != nil || res4.Sent != 1 || f.stored()[n] != "appended" {
		t.Fatalf("appended line: sent %d, err %v", res4.Sent, err)
	}
}

func TestSendRefusesACheckpointOfAnotherInput(t *testing.T) {
	f := newFakeIngest(t, nil)
	path, _ := writeEvents(t, 30, nil)
	if _, _, err := testSend(context.Background(), t, f.srv.URL, path, Config{}, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(b, []byte("e00029"), []byte("x00029"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := testSend(context.Background(), t, f.srv.URL, path, Config{}, nil)
	if !errors.Is(err, ErrCheckpointMismatch) || !strings.Contains(err.Error(), "--restart") {
		t.Fatalf("err = %v, want a checkpoint mismatch", err)
	}
	res, _, err := testSend(context.Background(), t, f.srv.URL, path, Config{Restart: true}, nil)
	if err != nil || res.Sent != 30 {
		t.Fatalf("--restart: sent %d, err %v", res.Sent, err)
	}
}

func TestSendReadsStandardInputAndResumesItWithState(t *testing.T) {
	f := newFakeIngest(t, nil)
	path, ids := writeEvents(t, 25, nil)
	b, _ := os.ReadFile(path)
	state := filepath.Join(t.TempDir(), "stdin.progress")
	run := func() (string, error) {
		c, _ := client.New(f.srv.URL, "tok")
		in, err := Open("-", state, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		cfg := Config{Batch: 4, MaxBytes: DefaultMaxBytes, Concurrency: 4, Progress: "none", Retries: 10, Timeout: time.Minute}
		res, err := New(cfg, c, io.Discard).Send(context.Background(), in)
		return res.String() + "\n", err
	}
	out, err := run()
	stored := f.stored()
	slices.Sort(stored)
	if err != nil || !slices.Equal(stored, ids) {
		t.Fatalf("stdin: err %v, stored %v", err, f.stored())
	}
	if !regexp.MustCompile(`^sent 25 events in \S+ \(\d+ events/s\), 0 rejected\n$`).MatchString(out) {
		t.Fatalf("summary %q", out)
	}
	if out, err = run(); err != nil || !strings.HasPrefix(out, "sent 0 events") || len(f.stored()) != 25 {
		t.Fatalf("stdin again with --state: %q, %v, stored %d", out, err, len(f.stored()))
	}
}
