package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/config"
)

type runsData struct {
	Runs   []api.RunView
	Today  string
	Policy int // the institution's inactivity period, in months
	Form   runForm
}

type runForm struct {
	AsOf, Months, Error string
}

// runs lists the institution's runs, newest first, with the form that starts a simulation.
func (s *Service) runs(w http.ResponseWriter, r *http.Request, sess *session) {
	s.renderRuns(w, r, sess, http.StatusOK, runForm{})
}

func (s *Service) renderRuns(w http.ResponseWriter, r *http.Request, sess *session, status int, form runForm) {
	inst := r.PathValue("inst")
	list, err := s.api(sess).Runs(r.Context(), inst, 100)
	if err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	s.render(w, r, status, "runs", view{Title: "Runs", Session: sess, Inst: inst, Nav: "runs",
		Data: runsData{Runs: list.Runs, Today: s.now().UTC().Format(time.DateOnly), Policy: policyMonths(s.cfg, inst), Form: form}})
}

// startRun starts a simulation as of the chosen day (today: now) with the chosen period
// (empty: the policy's), then shows its report. A day after today makes a forecast.
func (s *Service) startRun(w http.ResponseWriter, r *http.Request, sess *session) {
	inst := r.PathValue("inst")
	if !sess.may(config.ScopeAdmin, inst) {
		s.fail(w, r, sess, http.StatusForbidden, "Starting a simulation needs the admin scope.")
		return
	}
	form := runForm{AsOf: strings.TrimSpace(r.PostForm.Get("as_of")), Months: strings.TrimSpace(r.PostForm.Get("inactivity_months"))}
	mode := "simulation"
	body := api.RunStart{Mode: &mode}
	today := s.now().UTC().Format(time.DateOnly)
	if form.AsOf != "" && form.AsOf != today {
		d, err := time.Parse(time.DateOnly, form.AsOf)
		if err != nil {
			form.Error = "The as-of date must be a day, such as " + today + "."
			s.renderRuns(w, r, sess, http.StatusUnprocessableEntity, form)
			return
		}
		at := d.Format(time.RFC3339)
		body.AsOf = &at
	}
	if form.Months != "" {
		n, err := strconv.Atoi(form.Months)
		if err != nil || n < 1 || n > 1200 {
			form.Error = "The inactivity period is a whole number of months, from 1 to 1200."
			s.renderRuns(w, r, sess, http.StatusUnprocessableEntity, form)
			return
		}
		m := api.Integer(n)
		body.InactivityMonths = &m
	}
	run, err := s.api(sess).StartRun(r.Context(), inst, body)
	if err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	http.Redirect(w, r, runPath(inst, run.ID), http.StatusSeeOther) //nolint:gosec // runPath stays in the console
}

// policyMonths is the institution's inactivity period from lethe.yaml (the default for
// an institution it does not declare).
func policyMonths(cfg config.File, inst string) int {
	p, _ := cfg.Institution(inst)
	return p.InactivityMonths
}

// runPath is a run's report: always under /ui/i/<inst>/ (inst is checked by the institution
// middleware), so a redirect to it never leaves the console.
func runPath(inst, run string) string { return "/ui/i/" + inst + "/runs/" + url.PathEscape(run) }
