package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/backfill"
	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/bus/bustest"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

func TestParseSend(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LETHE_SERVER": "http://lethe:8080", "LETHE_TOKEN": "secret", "LETHE_CONCURRENCY": "8"}
	getenv := func(k string) string { return env[k] }
	c, err := parseSend([]string{"--batch", "500", "history.ndjson", "--keep-going", "--concurrency", "2"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server != "http://lethe:8080" || c.Token != "secret" || c.Input != "history.ndjson" || c.Batch != 500 || !c.KeepGoing || c.Concurrency != 2 {
		t.Fatalf("config %+v", c)
	}
	for _, args := range [][]string{{}, {"a", "b"}, {"--batch", "0", "f"}, {"--nope", "f"}, {"--progress", "loud", "f"}} {
		if _, err := parseSend(args, getenv, io.Discard); err == nil {
			t.Fatalf("%q parsed, want an error", args)
		}
	}
	if _, err := parseSend([]string{"-"}, getenv, io.Discard); err != nil {
		t.Fatalf("- for standard input: %v", err)
	}
}

// ---- end to end, against the real `lethe serve` ----

// serveInProcess runs `lethe serve` in-process on dir, as startServe does, for tests and
// benchmarks alike; it returns the HTTP URL, the NATS URL with the services' credentials and
// the development token.
func serveInProcess(tb testing.TB, dir string) (httpURL, natsURL, token string, stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	found := make(chan [3]string, 1)
	go func() {
		var got [3]string
		res := []*regexp.Regexp{
			regexp.MustCompile(`lethe listening on (http://\S+)`),
			regexp.MustCompile(`NATS listening on (nats://\S+)`),
			regexp.MustCompile(`LETHE_TOKEN=(\S+)`),
		}
		s := bufio.NewScanner(pr)
		sent := false
		for s.Scan() {
			for i, re := range res {
				if m := re.FindStringSubmatch(s.Text()); m != nil {
					got[i] = m[1]
				}
			}
			if !sent && got[0] != "" && got[1] != "" && got[2] != "" {
				found <- got
				sent = true
			}
		}
	}()
	done := make(chan error, 1)
	args := []string{"serve", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--data", dir, "--log-level", "error"}
	go func() {
		done <- run(ctx, args, func(string) string { return "" }, strings.NewReader(""), pw, io.Discard)
	}()
	select {
	case got := <-found:
		httpURL, natsURL, token = got[0], serviceURL(tb, got[1], dir), got[2]
	case err := <-done:
		cancel()
		tb.Fatalf("lethe serve ended before listening: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		tb.Fatal("lethe serve did not start within 2 minutes")
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
			pw.Close()
		})
		return err
	}
	tb.Cleanup(func() { _ = stop() })
	return httpURL, natsURL, token, stop
}

// writeHistory writes n valid events as NDJSON: contacts created with a profile, and
// orders placed by them, as an institution's history would hold.
func writeHistory(tb testing.TB, path string, n int) []string {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	base := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]string, 0, n)
	for i := range n {
		contact := fmt.Sprintf("c-%06d", i/2)
		at := base.Add(time.Duration(i) * time.Minute)
		id := fmt.Sprintf("hist-%07d", i)
		var d events.Data
		if i%2 == 0 {
			d = events.ContactCreated{Role: "individual", CreatedAt: at, Profile: events.Profile{
				Email: events.String(fmt.Sprintf("person%d@example.org", i)), FirstName: events.String("Ada"),
				LastName: events.String("Lovelace"), Phone: events.String("+33123456789"),
				Address: &events.Address{Line1: events.String("1 rue de la Paix"), Postcode: events.String("75002"),
					City: events.String("Paris"), Country: events.String("FR")},
			}}
		} else {
			d = events.OrderPlaced{OrderID: fmt.Sprintf("o-%06d", i), OrderedAt: at, ContactRole: "buyer",
				Items: []events.Item{{ProductID: "p-1", Dated: true, ValidAt: at.Add(30 * 24 * time.Hour),
					Beneficiary: &events.Beneficiary{FirstName: events.String("Ada"), LastName: events.String("Lovelace")}}}}
		}
		e, err := events.New("/backfill/test", "inst-a", contact, d, events.WithID(id), events.WithTime(at))
		if err != nil {
			tb.Fatal(err)
		}
		b, err := events.MarshalStructured(e)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(b)
		w.WriteByte('\n')
		ids = append(ids, id)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return ids
}

// storedIDs reads every event id in LETHE_ACTIVITY, with how often each is there.
func storedIDs(t *testing.T, natsURL string) map[string]int {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js := bustest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := js.Stream(ctx, bus.StreamActivity)
	if err != nil {
		t.Fatal(err)
	}
	total := st.CachedInfo().State.Msgs
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for read := uint64(0); read < total; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			seen[m.Headers().Get("ce-id")]++
			n++
		}
		if n == 0 {
			t.Fatalf("read %d of %d messages, then nothing", read, total)
		}
		read += uint64(n)
	}
	return seen
}

// gatedReader gives the first n bytes, then interrupts the send and fails as an
// interrupted read would.
type gatedReader struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
	ctx    context.Context
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		g.cancel()
		<-g.ctx.Done()
		return 0, g.ctx.Err()
	}
	if int64(len(p)) > g.n {
		p = p[:g.n]
	}
	n, err := g.r.Read(p)
	g.n -= int64(n)
	return n, err
}

var reSummary = regexp.MustCompile(`sent (\d+) events in \S+ \(\d+ events/s\), (\d+) rejected`)

func sentOf(t *testing.T, stdout string) int {
	t.Helper()
	m := reSummary.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no summary line in %q", stdout)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestSendEndToEndInterruptedThenResumedStoresEveryEventOnce(t *testing.T) {
	t.Parallel()
	httpURL, natsURL, token, _ := serveInProcess(t, t.TempDir())
	dir := t.TempDir()
	path := filepath.Join(dir, "history.ndjson")
	ids := writeHistory(t, path, 1000)
	state := filepath.Join(dir, "history.state")
	env := map[string]string{"LETHE_SERVER": httpURL, "LETHE_TOKEN": token}
	getenv := func(k string) string { return env[k] }

	// First run: from standard input, interrupted midway through the file.
	fi, _ := os.Stat(path)
	f, _ := os.Open(path)
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out1, err1 testkit.SyncBuffer
	err := sendCommand(ctx, []string{"--batch", "50", "--progress", "none", "--state", state, "-"}, getenv,
		&gatedReader{r: f, n: fi.Size() / 2, cancel: cancel, ctx: ctx}, &out1, &err1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, stderr %s", err, err1.String())
	}
	sent1 := sentOf(t, out1.String())
	if sent1 == 0 || sent1 >= len(ids) {
		t.Fatalf("interrupted run sent %d of %d", sent1, len(ids))
	}

	// Second run: the file itself, with the same state: it resumes and completes.
	var out2, err2 testkit.SyncBuffer
	if err := sendCommand(context.Background(), []string{"--batch", "50", "--progress", "plain", "--state", state, path}, getenv, nil, &out2, &err2); err != nil {
		t.Fatalf("resumed run: %v\n%s", err, err2.String())
	}
	sent2 := sentOf(t, out2.String())
	if sent1+sent2 != len(ids) {
		t.Fatalf("sent %d then %d: the resumed run re-sent or lost events (want %d in all)", sent1, sent2, len(ids))
	}

	// Third run: nothing left to send.
	var out3 testkit.SyncBuffer
	if err := sendCommand(context.Background(), []string{"--state", state, "--progress", "none", path}, getenv, nil, &out3, io.Discard); err != nil || sentOf(t, out3.String()) != 0 {
		t.Fatalf("re-run of a complete send: %v, %s", err, out3.String())
	}

	seen := storedIDs(t, natsURL)
	if len(seen) != len(ids) {
		t.Fatalf("LETHE_ACTIVITY holds %d distinct events, want %d", len(seen), len(ids))
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("event %s is stored %d times", id, seen[id])
		}
	}
}

func TestSendEndToEndReportsInvalidEventsByLine(t *testing.T) {
	t.Parallel()
	httpURL, natsURL, token, _ := serveInProcess(t, t.TempDir())
	path := filepath.Join(t.TempDir(), "history.ndjson")
	writeHistory(t, path, 50)
	b, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(b), "\n")
	// Line 8 loses its institution, line 21 gets an unknown role: both stay in their batch.
	lines[7] = strings.Replace(lines[7], `"institution":"inst-a"`, `"institution":""`, 1)
	lines[20] = strings.Replace(lines[20], `"role":"individual"`, `"role":"nobody"`, 1)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr testkit.SyncBuffer
	err := sendCommand(context.Background(), []string{"--server", httpURL, "--token", token, "--keep-going", "--batch", "30", "--progress", "none", path},
		func(string) string { return "" }, nil, &stdout, &stderr)
	if !errors.Is(err, backfill.ErrRejected) {
		t.Fatalf("err = %v, want backfill.ErrRejected", err)
	}
	for _, want := range []string{"line 8: rejected: /institution ", "line 21: rejected: /data/role "} {
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "nobody") || strings.Contains(stderr.String(), "example.org") {
		t.Fatalf("stderr shows event values:\n%s", stderr.String())
	}
	if m := reSummary.FindStringSubmatch(stdout.String()); m == nil || m[1] != "48" || m[2] != "2" {
		t.Fatalf("summary %q, want 48 sent and 2 rejected", stdout.String())
	}
	if seen := storedIDs(t, natsURL); len(seen) != 48 || seen["hist-0000007"] != 0 || seen["hist-0000020"] != 0 {
		t.Fatalf("LETHE_ACTIVITY holds %d events, want the 48 valid ones", len(seen))
	}
}

var sendEvents = flag.Int("send.events", 100_000, "events BenchmarkSend100k sends")

// BenchmarkSend100k sends -send.events (100,000) events from a file into a fresh in-process `lethe serve`
// (embedded NATS and store) per iteration, and reports events/s from file to JetStream.
func BenchmarkSend100k(b *testing.B) {
	n := *sendEvents
	path := filepath.Join(b.TempDir(), "history.ndjson")
	writeHistory(b, path, n)
	var elapsed time.Duration
	var perEvent float64
	testkit.ResetPeakRSS()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		httpURL, natsURL, token, stop := serveInProcess(b, b.TempDir())
		var stdout, stderr testkit.SyncBuffer
		b.StartTimer()
		began := time.Now()
		err := sendCommand(context.Background(), []string{"--server", httpURL, "--token", token, "--progress", "none", "--restart", "--state", filepath.Join(b.TempDir(), "state"), path},
			func(string) string { return "" }, nil, &stdout, &stderr)
		elapsed += time.Since(began)
		b.StopTimer()
		if err != nil {
			b.Fatalf("send: %v\n%s", err, stderr.String())
		}
		if m := reSummary.FindStringSubmatch(stdout.String()); m == nil || m[1] != strconv.Itoa(n) {
			b.Fatalf("summary %q, want %d sent", stdout.String(), n)
		}
		perEvent = streamBytesPerEvent(b, natsURL)
		if err := stop(); err != nil {
			b.Fatalf("serve stop: %v", err)
		}
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "events/s")
	// The size of a sealed event as stored: make bench gives the raw reference the same.
	b.ReportMetric(perEvent, "stream-B/event")
	testkit.ReportPeakRSS(b)
}

// streamBytesPerEvent is LETHE_ACTIVITY's stored bytes per message.
func streamBytesPerEvent(tb testing.TB, natsURL string) float64 {
	tb.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	st, err := bustest.JetStream(tb, nc).Stream(context.Background(), bus.StreamActivity)
	if err != nil {
		tb.Fatal(err)
	}
	state := st.CachedInfo().State
	return float64(state.Bytes) / float64(max(state.Msgs, 1))
}
