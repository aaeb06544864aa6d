package main

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A second lethe serve says at once which directory or port is taken and what to pass instead
// (issue 14: it waited 10 s for "embedded server not ready", or failed on the store's lock with
// "resource temporarily unavailable").
func TestSecondServerSaysWhatIsTakenAndWhatToPass(t *testing.T) {
	dir := t.TempDir()
	first := startServe(t, dir)
	httpAddr := strings.TrimPrefix(first.http, "http://")
	u, err := url.Parse(first.nats)
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := u.Host
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"the same data", []string{"--data", dir, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"},
			[]string{"--data " + dir + " is in use by another lethe serve", "another --data"}},
		{"the NATS port", []string{"--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", natsAddr},
			[]string{"--nats-listen " + natsAddr + ": the port is taken", "--nats-listen 127.0.0.1:0"}},
		{"the HTTP port", []string{"--data", t.TempDir(), "--http", httpAddr, "--nats-listen", "127.0.0.1:0"},
			[]string{"--http " + httpAddr + ": the port is taken", "--http 127.0.0.1:0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			err := run(ctx, append([]string{"serve"}, tc.args...), func(string) string { return "" }, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil {
				t.Fatal("a second server started")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if ctx.Err() != nil {
				t.Errorf("the refusal took %s: it waited instead of saying", time.Since(start))
			}
		})
	}
}
