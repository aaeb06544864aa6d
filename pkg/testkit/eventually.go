package testkit

import (
	"cmp"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// DefaultWait is how long Eventually waits unless LETHE_TEST_WAIT says otherwise: generous,
// because the suite shares two cores with a MongoDB and other test binaries, and a test should
// fail on behaviour, never on load. A wait that ends well costs only what it waited.
const DefaultWait = time.Minute

// Interval is the pause between two checks of Eventually.
const Interval = 10 * time.Millisecond

// waitFromEnv reads LETHE_TEST_WAIT once: a larger run (make chaos) sets it for every wait
// at once, so there is still one deadline rule.
var waitFromEnv = sync.OnceValues(func() (time.Duration, error) {
	v := os.Getenv("LETHE_TEST_WAIT")
	if v == "" {
		return DefaultWait, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("LETHE_TEST_WAIT=%q: want a positive duration such as 5m", v)
	}
	return d, nil
})

// Wait is how long Eventually waits: LETHE_TEST_WAIT if set, else DefaultWait.
func Wait(t testing.TB) time.Duration {
	t.Helper()
	d, err := waitFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Eventually calls check every Interval until it returns nil. If Wait passes first, it fails
// the test with what it waited for and check's last error, so a timeout says what was seen
// instead of only that time ran out. check runs on the test's goroutine and may itself call
// t.Fatal for what no waiting can mend.
func Eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	eventually(t, Wait(t), what, check)
}

func eventually(t testing.TB, wait time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", wait, what, err)
		}
		time.Sleep(Interval)
	}
}

// Equal is nil when got equals want, else an error that names both, for the checks of
// Eventually that wait for a count or a state: "dead letters: 2, want 1".
func Equal[V comparable](what string, got, want V) error {
	if got == want {
		return nil
	}
	return fmt.Errorf("%s: %v, want %v", what, got, want)
}

// AtLeast is nil once got reaches want, else an error that names both.
func AtLeast[V cmp.Ordered](what string, got, want V) error {
	if got >= want {
		return nil
	}
	return fmt.Errorf("%s: %v, want at least %v", what, got, want)
}
