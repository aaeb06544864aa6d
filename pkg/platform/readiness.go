package platform

import (
	"slices"
	"sync"
)

// Readiness says which parts of a service run: the consumers and loops it declares when it
// is built, each marked running once it has started and stopped when it ends. `lethe serve`
// answers /readyz 503 while a part of a selected service does not run, and names it, so a
// probe never sends traffic to a process whose consumers are still starting.
type Readiness struct {
	mu      sync.Mutex
	parts   []string
	running map[string]bool
}

// NewReadiness declares the parts, none of them running yet.
func NewReadiness(parts ...string) *Readiness {
	return &Readiness{parts: slices.Clone(parts), running: make(map[string]bool, len(parts))}
}

// Running marks part as running. A part that was not declared is ignored: it was never
// waited for.
func (r *Readiness) Running(part string) { r.set(part, true) }

// Stopped marks part as no longer running.
func (r *Readiness) Stopped(part string) { r.set(part, false) }

func (r *Readiness) set(part string, running bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Contains(r.parts, part) {
		r.running[part] = running
	}
}

// NotRunning lists the declared parts that do not run, in the order declared; it is empty
// once all run.
func (r *Readiness) NotRunning() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.parts {
		if !r.running[p] {
			out = append(out, p)
		}
	}
	return out
}
