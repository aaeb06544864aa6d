package console

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/receipt"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

type contactData struct {
	ID       string
	Found    bool
	Contact  api.ContactView
	Runs     []api.ContactRunItem
	Consents []consentRow
	Subs     []subRow
	// Why says in words why the contact is still here.
	Why string
	// Receipt is an erased contact's signed erasure receipt (GET …/receipt), for its
	// destinations' confirmations; ReceiptError says why it could not be read.
	Receipt      *receipt.Receipt
	ReceiptError string
}

type consentRow struct {
	Name, Value string
	Source      store.Source
}

type subRow struct {
	ID, Status string
	Source     store.Source
}

// contact looks a contact up by id: status, recency and the event that set it, blockers,
// organisations, consents, and the runs that considered it. The projection's view holds no
// personal value; the right-of-access export is a separate, audited download.
func (s *Service) contact(w http.ResponseWriter, r *http.Request, sess *session) {
	inst := r.PathValue("inst")
	id := strings.TrimSpace(r.URL.Query().Get("id"))
	d := contactData{ID: id}
	if id == "" {
		s.render(w, r, http.StatusOK, "contact", view{Title: "Contact lookup", Session: sess, Inst: inst, Nav: "contact", Data: d})
		return
	}
	c := s.api(sess)
	err := c.JSON(r.Context(), http.MethodGet, client.ContactPath(inst, id), nil, &d.Contact)
	switch {
	case client.IsStatus(err, http.StatusNotFound):
		s.render(w, r, http.StatusNotFound, "contact", view{Title: "Contact lookup", Session: sess, Inst: inst, Nav: "contact", Data: d})
		return
	case err != nil:
		s.failAPI(w, r, sess, err)
		return
	}
	d.Found = true
	var runs api.ContactRunsView
	if err := c.JSON(r.Context(), http.MethodGet, client.ContactPath(inst, id)+"/runs", nil, &runs); err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	d.Runs = runs.Items
	for name, a := range d.Contact.Authorisations {
		d.Consents = append(d.Consents, consentRow{Name: name, Value: a.Value, Source: a.Source})
	}
	sort.Slice(d.Consents, func(i, j int) bool { return d.Consents[i].Name < d.Consents[j].Name })
	for sid, sub := range d.Contact.Subscriptions {
		d.Subs = append(d.Subs, subRow{ID: sid, Status: sub.Status, Source: sub.Source})
	}
	sort.Slice(d.Subs, func(i, j int) bool { return d.Subs[i].ID < d.Subs[j].ID })
	d.Why = why(d.Contact, s.now())
	if d.Contact.Status == store.StatusDeleted || d.Contact.Status == store.StatusAnonymised {
		var rc receipt.Receipt
		if err := c.JSON(r.Context(), http.MethodGet, client.ReceiptPath(inst, id), nil, &rc); err != nil {
			d.ReceiptError = "The erasure receipt could not be read: " + apiMessage(err)
		} else {
			d.Receipt = &rc
		}
	}
	s.render(w, r, http.StatusOK, "contact", view{Title: "Contact " + id, Session: sess, Inst: inst, Nav: "contact", Data: d})
}

// receiptDownload downloads an erased contact's signed erasure receipt (read scope, as the
// API's route): ids, dates, field names and signatures, never a personal value.
func (s *Service) receiptDownload(w http.ResponseWriter, r *http.Request, sess *session) {
	inst, id := r.PathValue("inst"), r.PathValue("id")
	s.downloadAs(w, r, sess, client.ReceiptPath(inst, id), "application/json", "erasure-receipt-"+inst+"-"+id+".json")
}

// why answers "why is this contact still here?" from the projection.
func why(c api.ContactView, now time.Time) string {
	switch {
	case c.Status != store.StatusActive && c.Status != "":
		return "It is no longer here: it was " + string(c.Status) + "."
	case !c.Known:
		return "Lethe has events about it but not its creation yet, so no run considers it."
	case !c.InScope:
		return "Its role (" + c.Role + ") is not subject to retention: no run ever erases it."
	case c.Recency == nil:
		return "It has no recency yet."
	}
	src := "its creation"
	if c.RecencySource != nil && c.RecencySource.Type != "" {
		src = c.RecencySource.Type + " (event " + c.RecencySource.EventID + ")"
	}
	active := c.InactiveFrom == nil || c.InactiveFrom.After(now)
	var b strings.Builder
	if active {
		b.WriteString("It is still active: its recency, " + c.Recency.UTC().Format(time.DateOnly) + ", was set by " + src)
		if c.InactiveFrom != nil {
			b.WriteString(", and it becomes inactive on " + c.InactiveFrom.UTC().Format(time.DateOnly))
		}
		b.WriteString(".")
	} else {
		b.WriteString("It is inactive since " + c.InactiveFrom.UTC().Format(time.DateOnly) + " (recency " + c.Recency.UTC().Format(time.DateOnly) + ", set by " + src + ")")
		if len(c.Blockers) > 0 {
			var words []string
			for _, bl := range c.Blockers {
				words = append(words, label(bl))
			}
			b.WriteString(", but a run skips it while it has: " + strings.Join(words, ", ") + ".")
		} else {
			b.WriteString(": the next applied run erases it.")
		}
	}
	return b.String()
}

// export downloads the right-of-access export (decrypted personal data) for a token with
// the export scope. The API audits it before disclosing; the console never shows it in a page.
func (s *Service) export(w http.ResponseWriter, r *http.Request, sess *session) {
	inst, id := r.PathValue("inst"), r.PathValue("id")
	if !sess.may(config.ScopeExport, inst) {
		s.fail(w, r, sess, http.StatusForbidden, "The right-of-access export needs the export scope.")
		return
	}
	resp, err := s.api(sess).Do(r.Context(), client.Request{Method: http.MethodGet, Path: client.ContactPath(inst, id) + "/export", Accept: "application/json"})
	if err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	s.log.Info("console: right-of-access export", "token", sess.tok.Name, "institution", inst, "contact", id)
	secureHeaders(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="right-of-access.json"`)
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, resp.Body)
}
