package scheduler

import (
	"bytes"
	"encoding/csv"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/receipt"
)

// RegisterOf returns the register of processing activities of institution: the one lethe.yaml
// declares, or the default register.
func (s *Service) RegisterOf(institution string) api.RegisterView {
	in, _ := s.cfg.Institution(institution)
	entries, declared := in.EffectiveRegister()
	v := api.RegisterView{Institution: institution, Declared: declared, InactivityMonths: in.InactivityMonths,
		Entries: make([]api.RegisterEntryView, 0, len(entries))}
	if s.receiptKey != nil {
		k := receipt.PublicKeyOf(s.receiptKey)
		v.ReceiptKey = &api.ReceiptKeyView{Algorithm: k.Algorithm, KeyID: k.KeyID, PublicKey: k.Key}
	}
	for _, e := range entries {
		cat, _ := config.CategoryNamed(e.Category)
		v.Entries = append(v.Entries, api.RegisterEntryView{
			Category: e.Category, Description: cat.Description, Fields: slices.Clone(cat.Fields),
			Purpose: e.Purpose, LegalBasis: e.LegalBasis, Recipients: slices.Clone(e.Recipients),
			Retention: api.RetentionView{AfterLastActivity: e.Retention.AfterLastActivity,
				AfterCollection: e.Retention.AfterCollection, UntilEvent: e.Retention.UntilEvent},
			RetentionText: e.RetentionText(), EnforcedBy: e.Enforcement(),
		})
	}
	return v
}

func (s *Service) getRegister(w http.ResponseWriter, r *http.Request) {
	inst := r.PathValue("inst")
	if err := httpapi.Require(r.Context(), config.ScopeRead, inst); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	w.Header().Set("Vary", "Accept")
	format, ok := negotiateRegister(r.Header.Get("Accept"))
	if !ok {
		httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusNotAcceptable,
			"the register is served as application/json, text/markdown or text/csv"))
		return
	}
	v := s.RegisterOf(inst)
	switch format {
	case api.ContentTypeMarkdown:
		w.Header().Set("Content-Type", api.ContentTypeMarkdown+"; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(RegisterMarkdown(v))
	case api.ContentTypeCSV:
		w.Header().Set("Content-Type", api.ContentTypeCSV+"; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+inst+`-register.csv"`)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(RegisterCSV(v))
	default:
		httpapi.WriteJSON(w, http.StatusOK, v)
	}
}

// negotiateRegister picks the register's format from Accept: the highest q, then an exact
// type over a wildcard, then the first named. JSON when the header is absent; ok is false
// when it accepts none of the three.
func negotiateRegister(accept string) (format string, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return api.ContentTypeJSON, true
	}
	bestQ, bestExact := 0.0, false
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil || q < 0 || q > 1 {
				continue
			}
		}
		var f string
		switch mt {
		case api.ContentTypeJSON, "*/*", "application/*":
			f = api.ContentTypeJSON
		case api.ContentTypeMarkdown, "text/x-markdown", "text/*":
			f = api.ContentTypeMarkdown
		case api.ContentTypeCSV:
			f = api.ContentTypeCSV
		default:
			continue
		}
		exact := !strings.Contains(mt, "*")
		if q > bestQ || (q == bestQ && exact && !bestExact) {
			format, bestQ, bestExact = f, q, exact
		}
	}
	return format, format != "" && bestQ > 0
}

// RegisterMarkdown renders the register as a Markdown document with one table.
func RegisterMarkdown(v api.RegisterView) []byte {
	var b bytes.Buffer
	b.WriteString("# Register of processing activities — " + mdCell(v.Institution) + "\n\n")
	if v.Declared {
		b.WriteString("Declared in lethe.yaml. ")
	} else {
		b.WriteString("Default register: lethe.yaml declares none for this institution. ")
	}
	b.WriteString("Contacts inactive for " + strconv.Itoa(v.InactivityMonths) + " months are erased by the inactivity runs.\n\n")
	if k := v.ReceiptKey; k != nil {
		b.WriteString("Erasure receipts are signed with " + mdCell(k.Algorithm) + " key " + mdCell(k.KeyID) + ", public key `" + mdCell(k.PublicKey) +
			"` (also at GET /v1/receipts/key): `lethe receipt verify` checks them.\n\n")
	}
	b.WriteString("| Category | Data | Purpose | Legal basis | Recipients | Retention | Enforced by |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, e := range v.Entries {
		cells := []string{e.Category, e.Description, e.Purpose, config.LegalBasisText(e.LegalBasis),
			strings.Join(e.Recipients, ", "), e.RetentionText, e.EnforcedBy}
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + mdCell(c) + " |")
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// mdCell keeps a value inside its table cell and out of the Markdown syntax: no line
// breaks, pipes escaped, and HTML shown rather than rendered.
var mdEscaper = strings.NewReplacer("\\", "\\\\", "|", "\\|", "\r\n", " ", "\n", " ", "\r", " ",
	"<", "&lt;", ">", "&gt;", "&", "&amp;")

func mdCell(s string) string {
	s = strings.TrimSpace(mdEscaper.Replace(s))
	if s == "" {
		return "—"
	}
	return s
}

// registerCSVHeader names the CSV export's columns.
var registerCSVHeader = []string{"category", "description", "purpose", "legal_basis", "recipients",
	"retention_clock", "retention_value", "retention", "enforced_by", "fields"}

// RegisterCSV renders the register as CSV (RFC 4180), one row per processing activity;
// list values are joined with "; ".
func RegisterCSV(v api.RegisterView) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(registerCSVHeader)
	for _, e := range v.Entries {
		clock, value := ClockOf(e.Retention)
		row := []string{e.Category, e.Description, e.Purpose, e.LegalBasis, strings.Join(e.Recipients, "; "),
			clock, value, e.RetentionText, e.EnforcedBy, strings.Join(e.Fields, "; ")}
		for i := range row {
			row[i] = csvCell(row[i])
		}
		_ = w.Write(row)
	}
	w.Flush()
	return b.Bytes()
}

// ClockOf returns the clock of a retention and its value.
func ClockOf(r api.RetentionView) (clock, value string) {
	switch {
	case r.AfterLastActivity != "":
		return config.ClockAfterLastActivity, r.AfterLastActivity
	case r.AfterCollection != "":
		return config.ClockAfterCollection, r.AfterCollection
	case r.UntilEvent != "":
		return config.ClockUntilEvent, r.UntilEvent
	}
	return "", ""
}

// csvCell defuses a value a spreadsheet would run as a formula (OWASP's CSV injection
// advice): the register's texts come from lethe.yaml, and the CSV is meant to be opened.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
