package platform_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform"
)

func TestResolveNamesEveryMissingFieldAndDefaultsTelemetry(t *testing.T) {
	_, err := platform.Deps{Auth: httpapi.NewAuthenticator(nil)}.Resolve("recency",
		platform.NeedJetStream, platform.NeedStore, platform.NeedAuth)
	if !errors.Is(err, platform.ErrMissingDependency) {
		t.Fatalf("err = %v, want ErrMissingDependency", err)
	}
	for _, want := range []string{"recency:", "Deps.JetStream", "Deps.Store"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "Auth") {
		t.Errorf("%q names Auth, which is set", err)
	}

	d, err := platform.Deps{}.Resolve("scheduler")
	if err != nil {
		t.Fatal(err)
	}
	if d.Logger == nil || d.TracerProvider == nil || d.MeterProvider == nil {
		t.Fatalf("telemetry not defaulted: %+v", d)
	}
	d.Logger.Info("discarded") // usable as it is
	d.TracerProvider.Tracer("t")
	d.MeterProvider.Meter("m")

	if _, err := (platform.Deps{}).Resolve("x", platform.Dependency("Mux")); err == nil {
		t.Fatal("an unknown field was accepted as required")
	}
}

func TestReadinessListsWhatDoesNotRunInOrder(t *testing.T) {
	r := platform.NewReadiness("commands", "requests")
	if got := strings.Join(r.NotRunning(), ","); got != "commands,requests" {
		t.Fatalf("before start: %q", got)
	}
	r.Running("requests")
	r.Running("undeclared")
	if got := strings.Join(r.NotRunning(), ","); got != "commands" {
		t.Fatalf("with requests running: %q", got)
	}
	r.Running("commands")
	if got := r.NotRunning(); len(got) != 0 {
		t.Fatalf("all running: %q", got)
	}
	r.Stopped("commands")
	if got := strings.Join(r.NotRunning(), ","); got != "commands" {
		t.Fatalf("after a stop: %q", got)
	}
}
