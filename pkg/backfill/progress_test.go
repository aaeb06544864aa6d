package backfill

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

func TestSendShowsProgressWhileSending(t *testing.T) {
	for _, mode := range []string{"plain", "bar"} {
		t.Run(mode, func(t *testing.T) {
			var stderr testkit.SyncBuffer
			// The server holds the second batch until a progress line with a rate is out.
			f := newFakeIngest(t, func(n int, w http.ResponseWriter, r *http.Request, ids []string) bool {
				if n == 2 {
					deadline := time.Now().Add(20 * time.Second)
					for !strings.Contains(stderr.String(), "events/s") && time.Now().Before(deadline) {
						time.Sleep(10 * time.Millisecond)
					}
				}
				return false
			})
			path, _ := writeEvents(t, 30, nil)
			c, _ := client.New(f.srv.URL, "tok")
			in, _ := Open(path, "", nil)
			defer in.Close()
			s := New(Config{Batch: 10, MaxBytes: DefaultMaxBytes, Concurrency: 1, Progress: mode, Timeout: time.Minute}, c, &stderr)
			s.out.interval = 20 * time.Millisecond
			if _, err := s.Send(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			want := regexp.MustCompile(`sent \d+ events \(\d+ events/s\), 0 rejected`)
			if mode == "bar" {
				want = regexp.MustCompile(`\d+ events, \d+ events/s.*\|`)
			}
			if !want.MatchString(stderr.String()) {
				t.Fatalf("stderr %q lacks %s", stderr.String(), want)
			}
		})
	}
}
