package server

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A secret mounted as a file (compose's and Kubernetes' secrets) reaches the setting it stands
// for, trimmed of the newline an editor or `echo` adds; given twice, or unreadable, it is
// refused naming the flag.
func TestSecretFilesStandForTheirSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "master_key")
	pw := filepath.Join(dir, "nats_password")
	empty := filepath.Join(dir, "empty")
	for p, v := range map[string]string{key: "a2V5\n", pw: " s3cret\n", empty: "\n"} {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"LETHE_MASTER_KEY_FILE": key, "LETHE_NATS_PASSWORD_FILE": pw}
	c, err := Parse([]string{"--nats-url", "nats://x:4222", "--nats-user", "lethe"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.MasterKey != "a2V5" || c.NATSPassword != "s3cret" {
		t.Errorf("master key %q, NATS password %q; want the files' contents, trimmed", c.MasterKey, c.NATSPassword)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--master-key", "a2V5", "--master-key-file", key}, "--master-key and --master-key-file both given"},
		{[]string{"--master-key-file", filepath.Join(dir, "absent")}, "--master-key-file"},
		{[]string{"--master-key-file", empty}, "is empty"},
		{[]string{"--nats-url", "nats://x:4222", "--nats-user", "lethe", "--nats-password", "p", "--nats-password-file", pw}, "both given"},
	} {
		if _, err := Parse(tc.args, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// EnvTwins is what deploy/validate checks a deployment's variables against: every flag's
// twin, the secret files' included, and nothing invented.
func TestEnvTwinsAreTheFlagsTwins(t *testing.T) {
	t.Parallel()
	twins := EnvTwins()
	for _, want := range []string{"LETHE_HTTP", "LETHE_TARGET", "LETHE_NATS_URL", "LETHE_NATS_PASSWORD_FILE", "LETHE_MASTER_KEY_FILE", "LETHE_MONGO_URI", "LETHE_CONFIG", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if !slices.Contains(twins, want) {
			t.Errorf("EnvTwins() = %v, lacks %s", twins, want)
		}
	}
	if slices.Contains(twins, "LETHE_TOKEN") {
		t.Error("EnvTwins() names LETHE_TOKEN, a client variable serve does not read")
	}
	// Targets is what --target accepts and what all selects, each once.
	all, _ := selectTargets("all")
	got := Targets()
	if len(got) != len(all) || !slices.Contains(got, "ingest") || !slices.Contains(got, "anonymiser") {
		t.Errorf("Targets() = %v; all selects %v", got, all)
	}
	for _, name := range got {
		if sel, err := selectTargets(name); err != nil || !sel[name] || !all[name] {
			t.Errorf("Targets() names %q, which --target refuses or all leaves out: %v", name, err)
		}
	}
}
