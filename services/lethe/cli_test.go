package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// The client flags may stand before the command, as `lethe --server URL runs …` (issue 14:
// it was refused); any other flag there is refused naming it.
func TestGlobalFlagsBeforeTheCommand(t *testing.T) {
	s := startServe(t, t.TempDir())
	for _, args := range [][]string{
		{"--server", s.http, "--token", s.token, "runs", "list", "inst-g"},
		{"--server=" + s.http, "--token=" + s.token, "runs", "list", "inst-g"},
		{"--server", s.http, "runs", "list", "--token", s.token, "inst-g"},
		{"--token", s.token, "register", "--server", s.http, "inst-g"},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil {
			t.Errorf("lethe %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
	}
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"--wait", "runs", "list", "inst-g"}, func(string) string { return "" }, strings.NewReader(""), &bytes.Buffer{}, &errOut)
	if !errors.Is(err, errUsage) || !strings.Contains(errOut.String(), "--wait before the command") {
		t.Errorf("--wait before the command: %v %q", err, errOut.String())
	}
}

// --inactivity-months 0 used to mean "the policy" silently; leaving the flag out does.
func TestInactivityMonthsZeroIsRefusedNamingTheFlag(t *testing.T) {
	for _, v := range []string{"0", "-3", "1201"} {
		var errOut bytes.Buffer
		err := run(context.Background(), []string{"runs", "start", "--server", "http://127.0.0.1:1", "--token", "t", "--inactivity-months", v, "inst-a"},
			func(string) string { return "" }, strings.NewReader(""), &bytes.Buffer{}, &errOut)
		if err == nil || !strings.Contains(err.Error(), "--inactivity-months") {
			t.Errorf("--inactivity-months %s: %v", v, err)
		}
	}
	err := run(context.Background(), []string{"runs", "start", "--server", "http://127.0.0.1:1", "--token", "t", "inst-a"},
		func(k string) string { return map[string]string{"LETHE_INACTIVITY_MONTHS": "0"}[k] }, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--inactivity-months") {
		t.Errorf("LETHE_INACTIVITY_MONTHS=0: %v", err)
	}
}
