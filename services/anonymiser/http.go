package anonymiser

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// maxErasureBody bounds the optional JSON body of an erasure request.
const maxErasureBody = 16 << 10

// Register adds the anonymiser's routes to mux, behind the Deps' authenticator:
//
//	POST /v1/institutions/{inst}/contacts/{id}/erasure   on-demand erasure (erase scope); 202 with the request
//	POST /v1/institutions/{inst}/contacts/{id}/access    an access request on the legal clock (export scope); 202
//	GET  /v1/institutions/{inst}/requests                requests by deadline: state, kind, due_within, overdue (read or erase)
//	GET  /v1/requests/{id}                               the request's state, deadline and outcome (read or erase scope)
//	POST /v1/requests/{id}/extend|refuse|retry           a person's action on a request (erase scope)
//	GET  /v1/audit/verify                                the audit trail's hash chain checked (admin scope)
//	GET  /v1/audit/entries/{seq}                         one entry's seq, time and hashes (admin scope; receipt checks)
//	GET  /v1/institutions/{inst}/destinations            each destination's confirmed and unconfirmed outcomes (read scope)
//	GET  /v1/institutions/{inst}/contacts/{id}/receipt   an erased contact's signed receipt (read scope)
//	GET  /v1/receipts/key                                the public key receipts verify with (no token: it is public)
//
// The request routes are in requests_http.go.
func (s *Service) Register(mux *http.ServeMux) {
	auth := s.auth
	mux.Handle("GET /v1/audit/entries/{seq}", auth.Authenticate(adminOnly(http.HandlerFunc(s.getAuditEntry))))
	mux.Handle("GET /v1/institutions/{inst}/destinations", auth.Authenticate(http.HandlerFunc(s.getDestinations)))
	mux.Handle("GET /v1/institutions/{inst}/contacts/{id}/receipt", auth.Authenticate(http.HandlerFunc(s.getReceipt)))
	mux.HandleFunc("GET /v1/receipts/key", func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, s.ReceiptKey())
	})
	mux.Handle("POST /v1/institutions/{inst}/contacts/{id}/erasure", auth.Authenticate(http.HandlerFunc(s.postErasure)))
	mux.Handle("POST /v1/institutions/{inst}/contacts/{id}/access", auth.Authenticate(http.HandlerFunc(s.postAccess)))
	mux.Handle("GET /v1/institutions/{inst}/requests", auth.Authenticate(http.HandlerFunc(s.listRequests)))
	mux.Handle("GET /v1/requests/{id}", auth.Authenticate(http.HandlerFunc(s.getRequest)))
	mux.Handle("POST /v1/requests/{id}/extend", auth.Authenticate(http.HandlerFunc(s.postExtend)))
	mux.Handle("POST /v1/requests/{id}/refuse", auth.Authenticate(http.HandlerFunc(s.postRefuse)))
	mux.Handle("POST /v1/requests/{id}/retry", auth.Authenticate(http.HandlerFunc(s.postRetry)))
	mux.Handle("GET /v1/audit/verify", auth.Authenticate(adminOnly(audit.VerifyHandler(s.trail))))
}

func (s *Service) postErasure(w http.ResponseWriter, r *http.Request) {
	inst, contact := r.PathValue("inst"), r.PathValue("id")
	if err := httpapi.Require(r.Context(), config.ScopeErase, inst); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	// The body is optional: {"reason": "..."}. The reason is checked, never stored: it is free
	// text and may name the person.
	body, err := httpapi.ReadBody(w, r, maxErasureBody)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	if len(bytes.TrimSpace(body)) > 0 {
		var in api.ErasureStart
		if err := httpapi.DecodeObject(body, &in, "the erasure request"); err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
	}
	if p := pathIDs(inst, contact); p != nil {
		httpapi.WriteProblem(w, r, p)
		return
	}
	// An erasure of a contact Lethe does not hold, or has erased already, would be recorded
	// and then skipped as not in scope, which reads as if something had been done: say so
	// before any request is created.
	if p := s.erasable(r, inst, contact); p != nil {
		httpapi.WriteProblem(w, r, p)
		return
	}
	by := ""
	if p, ok := httpapi.PrincipalFrom(r.Context()); ok {
		by = "token:" + p.Name
	}
	req, err := s.RequestErasure(r.Context(), store.Request{ID: newRequestID(), Institution: inst, ContactID: contact,
		Origin: store.OriginAPI, RequestedBy: by})
	if err != nil {
		if req.ID != "" { // recorded but not published: say so on the request, and ask to retry
			_, _ = s.changeRequest(r.Context(), req, "lethe", store.RequestFailed, func(q *store.Request) bool {
				q.State, q.Error = store.RequestFailed, "the erasure command could not be queued; retry it"
				return true
			})
		}
		s.log.ErrorContext(r.Context(), "erasure request failed", "institution", inst, "error", err)
		p := httpapi.NewProblem(http.StatusServiceUnavailable, "the erasure could not be queued; retry later")
		p.RetryAfter = 5
		httpapi.WriteProblem(w, r, p)
		return
	}
	w.Header().Set("Location", "/v1/requests/"+req.ID)
	httpapi.WriteJSON(w, http.StatusAccepted, s.viewRequest(r.Context(), req))
}

// pathIDs checks the ids of a contact route. Both ids go into a NATS subject and the store's
// keys: a dot or a wildcard in the institution (possible with a token for every institution)
// would address other subjects.
func pathIDs(inst, contact string) *httpapi.Problem {
	var bad []httpapi.InvalidParam
	if !events.ValidInstitution(inst) {
		bad = append(bad, httpapi.InvalidParam{Pointer: "/path/inst", Detail: "the institution id must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -"})
	}
	if !events.ValidContactID(contact) {
		bad = append(bad, httpapi.InvalidParam{Pointer: "/path/id", Detail: "the contact id must be 1 to 256 printable characters without whitespace or /"})
	}
	if len(bad) > 0 {
		p := httpapi.NewProblem(http.StatusBadRequest, "invalid ids in the path")
		p.Errors = bad
		return p
	}
	return nil
}

// erasable returns nil when the contact can be erased, else the problem to answer: 404 for a
// contact the store does not hold, 409 with its state for one anonymised or deleted already,
// 503 when the store cannot say.
func (s *Service) erasable(r *http.Request, inst, contact string) *httpapi.Problem {
	c, err := s.contacts.Get(r.Context(), inst, contact)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return httpapi.NewProblem(http.StatusNotFound, "no contact "+contact+" in institution "+inst+": nothing to erase")
	case err != nil:
		s.log.ErrorContext(r.Context(), "erasure: read contact", "institution", inst, "error", err)
		p := httpapi.NewProblem(http.StatusServiceUnavailable, "the store is unavailable; retry later")
		p.RetryAfter = 5
		return p
	case c.Status == store.StatusAnonymised || c.Status == store.StatusDeleted:
		detail := "contact " + contact + " of " + inst + " is already " + string(c.Status)
		if !c.ErasedAt.IsZero() {
			detail += " (since " + c.ErasedAt.UTC().Format(time.RFC3339) + ")"
		}
		p := httpapi.NewProblem(http.StatusConflict, detail+": nothing to erase")
		p.State = string(c.Status)
		return p
	}
	return nil
}

// adminOnly lets through callers with the admin scope (on any institution: the audit trail is
// the whole installation's and shows ids and hashes only).
func adminOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := httpapi.Require(r.Context(), config.ScopeAdmin, ""); err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Service) getDestinations(w http.ResponseWriter, r *http.Request) {
	inst := r.PathValue("inst")
	if err := httpapi.Require(r.Context(), config.ScopeRead, inst); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	views, err := s.Destinations(r.Context(), inst)
	if err != nil {
		s.unavailable(w, r, "destinations", err)
		return
	}
	if views == nil {
		views = []api.DestinationView{}
	}
	httpapi.WriteJSON(w, http.StatusOK, api.DestinationList{Institution: inst, Destinations: views})
}

// getReceipt needs the read scope: a receipt holds ids, dates and field names, no personal
// value — what the contact's projection and its request already show a reader — and whoever
// hands it to a data subject or an auditor needs no power to erase or to export.
func (s *Service) getReceipt(w http.ResponseWriter, r *http.Request) {
	inst, contact := r.PathValue("inst"), r.PathValue("id")
	if err := httpapi.Require(r.Context(), config.ScopeRead, inst); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	if !events.ValidContactID(contact) {
		p := httpapi.NewProblem(http.StatusBadRequest, "invalid contact id in the path")
		p.Errors = []httpapi.InvalidParam{{Pointer: "/path/id", Detail: "the contact id must be 1 to 256 printable characters without whitespace or /"}}
		httpapi.WriteProblem(w, r, p)
		return
	}
	rc, err := s.IssueReceipt(r.Context(), inst, contact)
	switch {
	case errors.Is(err, store.ErrNotFound):
		httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusNotFound, "no contact "+contact+" in institution "+inst))
	case errors.Is(err, ErrNotErased):
		p := httpapi.NewProblem(http.StatusConflict, "contact "+contact+" of "+inst+" is not erased: there is no receipt to give")
		p.State = string(store.StatusActive)
		httpapi.WriteProblem(w, r, p)
	case errors.Is(err, ErrNoAuditEntry):
		httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusGone, "the erasure's audit entry was purged past the audit retention: no receipt can be anchored any more"))
	case err != nil:
		s.unavailable(w, r, "receipt", err)
	default:
		httpapi.WriteJSON(w, http.StatusOK, rc)
	}
}

func (s *Service) getAuditEntry(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		p := httpapi.NewProblem(http.StatusBadRequest, "invalid seq in the path")
		p.Errors = []httpapi.InvalidParam{{Pointer: "/path/seq", Detail: "a sequence number is a positive integer"}}
		httpapi.WriteProblem(w, r, p)
		return
	}
	var found *store.AuditEntry
	errStop := errors.New("stop")
	err = s.trail.Scan(r.Context(), seq-1, func(e store.AuditEntry) error {
		if e.Seq == seq {
			found = &e
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		s.unavailable(w, r, "audit entry", err)
		return
	}
	if found == nil {
		httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusNotFound, "no audit entry at seq "+strconv.FormatInt(seq, 10)+" (never written, or purged)"))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, api.AuditEntryView{Seq: found.Seq, At: found.At.UTC(), PrevHash: found.PrevHash, Hash: found.Hash})
}
