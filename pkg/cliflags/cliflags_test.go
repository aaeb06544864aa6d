package cliflags

import (
	"io"
	"strings"
	"testing"
)

func TestCommandLineWinsOverEnvironmentOverDefault(t *testing.T) {
	env := map[string]string{"LETHE_NATS_URL": "nats://env", "LETHE_LOG_LEVEL": "debug"}
	fs := NewFlagSet("serve", io.Discard)
	url := fs.String("nats-url", "", "")
	level := fs.String("log-level", "info", "")
	format := fs.String("log-format", "text", "")
	if err := Parse(fs, []string{"--log-level", "warn"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if *url != "nats://env" || *level != "warn" || *format != "text" {
		t.Errorf("nats-url %q, log-level %q, log-format %q; want nats://env, warn, text", *url, *level, *format)
	}
	if !Given(fs, "nats-url", func(k string) string { return env[k] }) || !Given(fs, "log-level", func(string) string { return "" }) {
		t.Error("a flag set by its twin or on the command line is not reported given")
	}
	if Given(fs, "log-format", func(string) string { return "" }) {
		t.Error("a flag left at its default is reported given")
	}
}

func TestABadEnvironmentValueNamesTheVariable(t *testing.T) {
	fs := NewFlagSet("runs list", io.Discard)
	fs.Int("limit", 50, "")
	err := Parse(fs, nil, func(k string) string {
		if k == "LETHE_LIMIT" {
			return "many"
		}
		return ""
	})
	if err == nil || !strings.HasPrefix(err.Error(), "LETHE_LIMIT") {
		t.Fatalf("err = %v, want one naming LETHE_LIMIT", err)
	}
}
