package backfill

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// meter shows progress on stderr: a bar with events/s on a terminal, a plain line every few
// seconds otherwise; reports of rejected events go through it so they do not tear the bar.
type meter struct {
	w        io.Writer
	mu       sync.Mutex
	bar      *progressbar.ProgressBar
	mode     string
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}
}

func (m *meter) start(mode string, tty func(io.Writer) bool, size, base int64, tr *tracker) {
	if mode == "auto" {
		mode = "plain"
		if tty(m.w) {
			mode = "bar"
		}
	}
	m.mode = mode
	if mode == "none" {
		return
	}
	if m.interval == 0 {
		m.interval = 5 * time.Second
		if mode == "bar" {
			m.interval = 250 * time.Millisecond
		}
	}
	if mode == "bar" {
		total := int64(-1)
		if size >= 0 {
			total = size
		}
		m.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(m.w),
			progressbar.OptionSetDescription("sending"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			// No spinner goroutine: it would draw concurrently with println's Clear.
			progressbar.OptionSetSpinnerChangeInterval(0),
		)
		_ = m.bar.Set64(base)
	}
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	go m.loop(tr, base)
}

func (m *meter) loop(tr *tracker, base int64) {
	defer close(m.done)
	t := time.NewTicker(m.interval)
	defer t.Stop()
	type sample struct {
		at time.Time
		n  int64
	}
	window := []sample{{time.Now(), 0}}
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			n := tr.sent.Load()
			window = append(window, sample{now, n})
			for len(window) > 2 && now.Sub(window[1].at) >= 5*time.Second {
				window = window[1:]
			}
			rate := float64(n-window[0].n) / now.Sub(window[0].at).Seconds()
			m.mu.Lock()
			if m.bar != nil {
				m.bar.Describe(fmt.Sprintf("%d events, %.0f events/s", n, rate))
				_ = m.bar.Set64(base + tr.bytes.Load())
			} else {
				fmt.Fprintf(m.w, "sent %d events (%.0f events/s), %d rejected\n", n, rate, tr.rejected.Load())
			}
			m.mu.Unlock()
		}
	}
}

func (m *meter) println(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bar != nil {
		_ = m.bar.Clear()
	}
	fmt.Fprintln(m.w, s)
}

func (m *meter) finish() {
	if m.stop == nil {
		return
	}
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bar != nil {
		_ = m.bar.Clear()
		m.bar = nil
	}
}

// isTerminal says whether w is a terminal, where the bar is drawn.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
