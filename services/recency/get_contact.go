package recency

import (
	"errors"
	"net/http"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

func viewOf(c store.Contact, months int) api.ContactView {
	v := api.ContactView{
		Institution: c.Institution, ID: c.ID, Status: c.Status, Known: c.Created, Role: c.Role,
		Kind: "prospect", InScope: retention.InScope(c), Blockers: retention.Blockers(c),
		Subscriptions: c.Subscriptions, Authorisations: c.Authorisations, Organisations: c.Organisations,
		ErasedBy: c.ErasedBy,
	}
	if c.Customer {
		v.Kind = "customer"
	}
	if v.Blockers == nil {
		v.Blockers = []string{}
	}
	if !c.CreatedAt.IsZero() {
		v.CreatedAt = &c.CreatedAt
	}
	if !c.Recency.IsZero() {
		v.Recency, v.RecencySource = &c.Recency, &c.RecencySource
		from := retention.CrossesAt(c, months)
		v.InactiveFrom = &from
	}
	if c.Balance.Source.EventID != "" {
		v.Balance = &c.Balance
	}
	if c.LegalHold.Source.EventID != "" {
		// The reason is personal (sealed): it is for the right-of-access export only.
		h := c.LegalHold
		h.Reason = ""
		v.LegalHold = &h
	}
	if !c.ErasedAt.IsZero() {
		v.ErasedAt = &c.ErasedAt
	}
	return v
}

// getContact serves the projection of one contact, for a token with the read scope on the
// contact's institution.
func getContact(contacts store.Contacts, cfg config.File) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		inst, id := r.PathValue("inst"), r.PathValue("id")
		if err := httpapi.Require(r.Context(), config.ScopeRead, inst); err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		c, err := contacts.Get(r.Context(), inst, id)
		if errors.Is(err, store.ErrNotFound) {
			httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusNotFound, "no contact "+id+" in institution "+inst))
			return
		}
		if err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		policy, _ := cfg.Institution(inst)
		httpapi.WriteJSON(w, http.StatusOK, viewOf(c, policy.InactivityMonths))
	}
}
