package server

import (
	"context"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// readiness is the body of /readyz (the Readiness schema of the OpenAPI document).
type readiness struct {
	NATS      string `json:"nats"`
	Store     string `json:"store"`
	Consumers string `json:"consumers"`
	// NotRunning names each consumer or loop that does not run, as service/part.
	NotRunning []string `json:"not_running,omitempty"`
}

// readyz is 200 when NATS and the store answer and every consumer and loop of every selected
// service runs; otherwise 503, saying which check failed and what does not run yet.
func readyz(nc *nats.Conn, js jetstream.JetStream, st store.Store, services []selected) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		body := readiness{NATS: "ok", Store: "ok", Consumers: "running"}
		status := http.StatusOK
		if !nc.IsConnected() {
			body.NATS, status = "disconnected", http.StatusServiceUnavailable
		} else if _, err := js.AccountInfo(ctx); err != nil {
			body.NATS, status = "jetstream unavailable", http.StatusServiceUnavailable
		}
		if err := st.Ping(ctx); err != nil {
			body.Store, status = "unreachable", http.StatusServiceUnavailable
		}
		for _, s := range services {
			for _, part := range s.svc.NotRunning() {
				body.NotRunning = append(body.NotRunning, s.name+"/"+part)
			}
		}
		if len(body.NotRunning) > 0 {
			body.Consumers, status = "not running", http.StatusServiceUnavailable
		}
		httpapi.WriteJSON(w, status, body)
	}
}
