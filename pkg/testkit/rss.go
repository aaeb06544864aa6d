package testkit

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// ResetPeakRSS restarts the kernel's high-water mark of this process's resident memory
// (Linux; elsewhere nothing), so that PeakRSSMB measures what follows and not a benchmark's
// setup.
func ResetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// PeakRSSMB is VmHWM from /proc/self/status in MB (2^20 bytes), or 0 where there is none.
func PeakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return float64(kb) / 1024
		}
	}
	return 0
}

// ReportPeakRSS adds the process's peak resident memory to b's metrics as peak-RSS-MB (make
// bench prints it beside every figure).
func ReportPeakRSS(b *testing.B) {
	if rss := PeakRSSMB(); rss > 0 {
		b.ReportMetric(rss, "peak-RSS-MB")
	}
}
