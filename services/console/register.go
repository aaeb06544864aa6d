package console

import (
	"net/http"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/config"
)

// register shows the register of processing activities as a table.
func (s *Service) register(w http.ResponseWriter, r *http.Request, sess *session) {
	inst := r.PathValue("inst")
	var reg api.RegisterView
	if err := s.api(sess).JSON(r.Context(), http.MethodGet, client.RegisterPath(inst), nil, &reg); err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "register", view{Title: "Register of processing", Session: sess, Inst: inst, Nav: "register", Data: reg})
}

// audit verifies the audit hash chain (admin scope): intact, or the first broken entry.
func (s *Service) audit(w http.ResponseWriter, r *http.Request, sess *session) {
	if !sess.may(config.ScopeAdmin, "") {
		s.fail(w, r, sess, http.StatusForbidden, "Verifying the audit chain needs the admin scope.")
		return
	}
	rep, err := s.api(sess).VerifyAudit(r.Context())
	if err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	inst := r.URL.Query().Get("inst") // for the navigation back, when it is one the token reads
	if !events.ValidInstitution(inst) || !sess.may(config.ScopeRead, inst) {
		inst = ""
	}
	s.render(w, r, http.StatusOK, "audit", view{Title: "Audit chain", Session: sess, Inst: inst, Nav: "audit", Data: rep})
}
