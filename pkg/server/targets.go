package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/lethe-gdpr/lethe/pkg/platform"
	"github.com/lethe-gdpr/lethe/services/anonymiser"
	"github.com/lethe-gdpr/lethe/services/console"
	"github.com/lethe-gdpr/lethe/services/ingest"
	"github.com/lethe-gdpr/lethe/services/recency"
	"github.com/lethe-gdpr/lethe/services/scheduler"
)

// service is the shape of every target: built by New, its routes registered, then run;
// NotRunning names its consumers and loops that do not run (yet), for /readyz.
type service interface {
	Register(mux *http.ServeMux)
	Run(ctx context.Context) error
	NotRunning() []string
}

// The services `--target` can name, in start-up order.
var targets = []struct {
	name  string
	build func(platform.Deps, Config) (service, error)
}{
	{"ingest", func(d platform.Deps, _ Config) (service, error) { return ingest.New(d) }},
	{"recency", func(d platform.Deps, _ Config) (service, error) { return recency.New(d) }},
	{"scheduler", func(d platform.Deps, _ Config) (service, error) { return scheduler.New(d) }},
	{"anonymiser", func(d platform.Deps, _ Config) (service, error) { return anonymiser.New(d) }},
	// The console calls the API: on this process's own mux, or at --console-api when the
	// API runs in other processes (the gateway's URL).
	{"console", func(d platform.Deps, c Config) (service, error) {
		var opts []console.Option
		if c.ConsoleAPI != "" {
			opts = append(opts, console.WithAPI(c.ConsoleAPI))
		}
		if c.ConsoleSecureCookies {
			opts = append(opts, console.WithSecureCookies())
		}
		return console.New(d, opts...)
	}},
}

// selected is one service `lethe serve` runs, under its target's name.
type selected struct {
	name string
	svc  service
}

func selectTargets(spec string) (map[string]bool, error) {
	sel := map[string]bool{}
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		if name == "all" {
			for _, t := range targets {
				sel[t.name] = true
			}
			continue
		}
		if !slices.Contains(Targets(), name) {
			return nil, fmt.Errorf("--target: unknown target %q (all, %s)", name, strings.Join(Targets(), ", "))
		}
		sel[name] = true
	}
	return sel, nil
}
