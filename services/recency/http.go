package recency

import (
	"net/http"
	"time"
)

// Register adds the reads of the projection to mux, behind bearer-token authentication:
//
//	GET /v1/institutions/{inst}/contacts/{id}          the contact as the projection holds it (read scope)
//	GET /v1/institutions/{inst}/contacts/{id}/export   right of access: everything held, decrypted (export scope)
//	GET /v1/institutions/{inst}/summary                the institution at a glance: statuses, recency histogram, overdue, crossing (read scope)
//	GET /v1/institutions/{inst}/targets                renewal before expiry: reachable contacts near the threshold (read scope)
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("GET /v1/institutions/{inst}/contacts/{id}", s.auth.Authenticate(getContact(s.store.Contacts(), s.cfg)))
	mux.Handle("GET /v1/institutions/{inst}/contacts/{id}/export", s.auth.Authenticate(getExport(s.export)))
	mux.Handle("GET /v1/institutions/{inst}/summary", s.auth.Authenticate(getSummary(s.summary, s.cfg, time.Now)))
	mux.Handle("GET /v1/institutions/{inst}/targets", s.auth.Authenticate(getTargets(s.targets, s.cfg, time.Now, s.log)))
}
