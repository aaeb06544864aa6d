package bus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/bus"
)

// The sync policy is what makes "an acknowledged event is durable" true or not, so the test
// reads it back from the running server's varz (what its monitoring endpoint shows), not from
// the options handed over.
func TestStartEmbeddedAppliesTheSyncPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		sync         bus.SyncPolicy
		wantAlways   bool
		wantInterval time.Duration
	}{
		{"zero value is lethe's default of 1s, not NATS's 2m", bus.SyncPolicy{}, false, time.Second},
		{"always", bus.SyncPolicy{Always: true}, true, 0},
		{"interval", bus.SyncPolicy{Interval: 250 * time.Millisecond}, false, 250 * time.Millisecond},
		{"the NATS default, when asked for", bus.SyncPolicy{Interval: 2 * time.Minute}, false, 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: t.TempDir(), Port: -1, Sync: tc.sync, ReadyTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
			v, err := s.Varz(nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg := v.JetStream.Config
			if cfg == nil {
				t.Fatal("varz has no JetStream config")
			}
			if cfg.SyncAlways != tc.wantAlways {
				t.Errorf("varz sync_always = %v, want %v", cfg.SyncAlways, tc.wantAlways)
			}
			// With always, the server keeps its background interval too; only the flag matters.
			if !tc.wantAlways && cfg.SyncInterval != tc.wantInterval {
				t.Errorf("varz sync_interval = %v, want %v", cfg.SyncInterval, tc.wantInterval)
			}
		})
	}
}

func TestParseSyncPolicy(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bus.SyncPolicy{
		"always": {Always: true}, "ALWAYS": {Always: true}, "1s": {Interval: time.Second},
		"200ms": {Interval: 200 * time.Millisecond}, " 2m ": {Interval: 2 * time.Minute},
	} {
		got, err := bus.ParseSyncPolicy(in)
		if err != nil || got != want {
			t.Errorf("ParseSyncPolicy(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if again, err := bus.ParseSyncPolicy(got.String()); err != nil || again != got {
			t.Errorf("%q does not read back its String %q: %+v, %v", in, got.String(), again, err)
		}
	}
	for _, in := range []string{"", "never", "0", "0s", "-1s", "1", "5 seconds"} {
		_, err := bus.ParseSyncPolicy(in)
		if !errors.Is(err, bus.ErrInvalidConfig) {
			t.Errorf("ParseSyncPolicy(%q) = %v, want ErrInvalidConfig", in, err)
		}
	}
	if _, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: t.TempDir(), Sync: bus.SyncPolicy{Interval: -time.Second}}); !errors.Is(err, bus.ErrInvalidConfig) {
		t.Errorf("StartEmbedded with a negative interval = %v, want ErrInvalidConfig", err)
	}
}
