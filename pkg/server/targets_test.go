package server

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/platform"
)

// One rule for every service: New with nothing required set fails with platform's error,
// naming the service and each required field, and never panics; telemetry is never
// required.
func TestEveryServiceNamesItsMissingDependencies(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"ingest":     {"Deps.JetStream", "Deps.Sealer", "Deps.Auth"},
		"recency":    {"Deps.JetStream", "Deps.Store", "Deps.Sealer", "Deps.Auth"},
		"scheduler":  {"Deps.JetStream", "Deps.Store", "Deps.Auth"},
		"anonymiser": {"Deps.JetStream", "Deps.Store", "Deps.Sealer", "Deps.Auth"},
		"console":    {"Deps.Auth"},
	}
	for _, tg := range targets {
		_, err := tg.build(platform.Deps{}, Config{})
		if !errors.Is(err, platform.ErrMissingDependency) || !strings.HasPrefix(err.Error(), tg.name+": ") {
			t.Errorf("%s.New(Deps{}) = %v, want platform.ErrMissingDependency under the service's name", tg.name, err)
			continue
		}
		for _, field := range want[tg.name] {
			if !strings.Contains(err.Error(), field) {
				t.Errorf("%s: %q does not name %s", tg.name, err, field)
			}
		}
		for _, optional := range []string{"Logger", "TracerProvider", "MeterProvider"} {
			if strings.Contains(err.Error(), optional) {
				t.Errorf("%s: %q requires %s, which has a default", tg.name, err, optional)
			}
		}
	}
}

// A console without the API in its process must be told where the API is; with it, or with
// --console-api, it starts.
func TestConsoleTargetNeedsTheAPI(t *testing.T) {
	t.Parallel()
	env := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--target", "all"}, true},
		{[]string{"--target", "console"}, false},
		{[]string{"--target", "console,scheduler"}, false},
		{[]string{"--target", "console,recency,scheduler,anonymiser"}, true},
		{[]string{"--target", "console", "--console-api", "http://gateway:8080"}, true},
		{[]string{"--target", "ingest"}, true},
	} {
		_, err := Parse(tc.args, env, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("lethe serve %v: %v, want ok=%v", tc.args, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--console-api") {
			t.Errorf("lethe serve %v: %q does not name --console-api", tc.args, err)
		}
	}
}

// An unknown --target is refused with the list of what it can name, every target in it.
func TestUnknownTargetNamesEveryTarget(t *testing.T) {
	_, err := selectTargets("ingest,nope")
	if err == nil {
		t.Fatal("selectTargets accepted an unknown target")
	}
	for _, name := range Targets() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%v does not name the target %s", err, name)
		}
	}
}
