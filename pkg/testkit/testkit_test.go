package testkit

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder stands for the testing.TB of a test that fails or skips, and records how.
type recorder struct {
	testing.TB
	fatal, skipped string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

// record runs fn as a test body of its own goroutine, as the testing package does, so that
// Fatal and Skip end fn alone.
func record(t *testing.T, fn func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}

func TestEventuallyReportsTheLastError(t *testing.T) {
	t.Parallel()
	n := 0
	r := record(t, func(tb testing.TB) {
		eventually(tb, 50*time.Millisecond, "the answer", func() error {
			n++
			return fmt.Errorf("attempt %d: not yet", n)
		})
	})
	if n < 2 {
		t.Errorf("checked %d times in 50ms, want a poll", n)
	}
	want := fmt.Sprintf("timed out after 50ms waiting for the answer: attempt %d: not yet", n)
	if r.fatal != want {
		t.Errorf("failure %q, want %q", r.fatal, want)
	}
}

func TestEventuallyReturnsOnceTheCheckPasses(t *testing.T) {
	t.Parallel()
	n := 0
	r := record(t, func(tb testing.TB) {
		Eventually(tb, "the third check", func() error {
			if n++; n < 3 {
				return errors.New("not yet")
			}
			return nil
		})
	})
	if r.fatal != "" || n != 3 {
		t.Errorf("after %d checks: failure %q, want none after 3", n, r.fatal)
	}
}

func TestSyncBufferTakesConcurrentWrites(t *testing.T) {
	t.Parallel()
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x\n"))
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "x\n"); got != 800 {
		t.Fatalf("%d lines, want 800", got)
	}
}

// Without MONGODB_URI a Mongo test skips on a laptop and fails in CI, whatever CI's value
// says "true" in (not parallel: it sets the environment).
func TestMongoURISkipsOnlyOutsideCI(t *testing.T) {
	for _, tc := range []struct {
		ci, uri string
		want    string // "uri", "skip" or "fail"
	}{
		{ci: "", want: "skip"},
		{ci: "false", want: "skip"},
		{ci: "0", want: "skip"},
		{ci: "true", want: "fail"},
		{ci: "1", want: "fail"},
		{ci: "woodpecker", want: "fail"},
		{ci: "true", uri: "mongodb://127.0.0.1:27017", want: "uri"},
	} {
		t.Setenv("CI", tc.ci)
		t.Setenv("MONGODB_URI", tc.uri)
		var got string
		r := record(t, func(tb testing.TB) { got = MongoURI(tb) })
		switch {
		case tc.want == "uri" && got != tc.uri,
			tc.want == "skip" && (r.skipped == "" || r.fatal != ""),
			tc.want == "fail" && (r.fatal == "" || r.skipped != ""):
			t.Errorf("CI=%q MONGODB_URI=%q: uri %q, skipped %q, failed %q; want %s", tc.ci, tc.uri, got, r.skipped, r.fatal, tc.want)
		}
	}
}

func TestChecksNameWhatTheySaw(t *testing.T) {
	t.Parallel()
	if err := Equal("dead letters", 1, 1); err != nil {
		t.Errorf("Equal(1, 1) = %v", err)
	}
	if err := Equal("dead letters", uint64(2), 1); err == nil || err.Error() != "dead letters: 2, want 1" {
		t.Errorf("Equal(2, 1) = %v", err)
	}
	if err := AtLeast("subscriptions", 3, 2); err != nil {
		t.Errorf("AtLeast(3, 2) = %v", err)
	}
	if err := AtLeast("subscriptions", 1, 2); err == nil || err.Error() != "subscriptions: 1, want at least 2" {
		t.Errorf("AtLeast(1, 2) = %v", err)
	}
}
