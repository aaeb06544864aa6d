package console

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/config"
)

// reportPage is how many items a report page lists.
const reportPage = 50

type reportData struct {
	Run      api.RunView
	Outcomes barChart // the chart: outcomes, then skips by reason
	Drift    []driftRow
	Items    []api.ItemView
	Outcome  string
	Reason   string
	Reasons  []string
	Next     string // the next page's URL, "" on the last
	First    string // the first page's URL, "" on the first
	CSV      string
	Apply    applyState
	Progress int // percent of the items that have their result
	Matching int // how many items the filter keeps, by the plan's counts
}

// applyState says what the report offers for applying a simulation.
type applyState struct {
	Appliable bool   // a planned simulation, not a forecast
	Allowed   bool   // and the token holds erase
	AppliedAs string // the apply run's id, once applied
}

// driftRow is one outcome or reason: what the plan said, what happened.
type driftRow struct {
	What              string
	Planned, Happened int
	Differs           bool
}

// report is one run: counts by outcome and reason with their chart, the items filtered by
// outcome and reason a page at a time, the CSV of the same filter, and apply for a planned
// simulation. An apply or execute run shows its progress until it completes, then what
// happened beside the plan: the drift.
func (s *Service) report(w http.ResponseWriter, r *http.Request, sess *session) {
	inst, id := r.PathValue("inst"), r.PathValue("run")
	c := s.api(sess)
	run, err := c.Run(r.Context(), inst, id)
	if err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	q := r.URL.Query()
	d := reportData{Run: run, Outcome: q.Get("outcome"), Reason: q.Get("reason")}
	filter := url.Values{}
	if d.Outcome != "" {
		filter.Set("outcome", d.Outcome)
	}
	if d.Reason != "" {
		filter.Set("reason", d.Reason)
	}
	page := url.Values{"limit": {strconv.Itoa(reportPage)}}
	for k, v := range filter {
		page[k] = v
	}
	if after := q.Get("after"); after != "" {
		page.Set("after", after)
		d.First = runPath(inst, id) + "?" + filter.Encode()
	}
	var items api.ItemsPage
	if err := c.JSON(r.Context(), http.MethodGet, client.RunPath(inst, id)+"/items?"+page.Encode(), nil, &items); err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	d.Items = items.Items
	if items.Next != "" {
		next := url.Values{"after": {items.Next}}
		for k, v := range filter {
			next[k] = v
		}
		d.Next = runPath(inst, id) + "?" + next.Encode()
	}
	d.CSV = runPath(inst, id) + "/items.csv"
	if len(filter) > 0 {
		d.CSV += "?" + filter.Encode()
	}
	d.Outcomes, d.Reasons = outcomeBars(inst, id, run)
	d.Matching = matching(run, d.Outcome, d.Reason)
	if run.Mode != "simulation" {
		d.Drift = drift(run)
		if run.Items > 0 {
			d.Progress = 100 * run.Results / run.Items
		}
	}
	if run.Mode == "simulation" && run.State == "planned" && !run.Forecast {
		d.Apply = applyState{Appliable: true, Allowed: sess.may(config.ScopeErase, inst)}
		if applied, err := c.Run(r.Context(), inst, "apply-"+id); err == nil {
			d.Apply.AppliedAs = applied.ID
		} else if !client.IsStatus(err, http.StatusNotFound) {
			s.failAPI(w, r, sess, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "report", view{Title: "Run " + id, Session: sess, Inst: inst, Nav: "runs", Data: d})
}

// outcomeBars charts a run's counts: each outcome, then each skip reason. A simulation's
// bars link to the items they count; an apply's counts are what happened, which the items'
// filter (by plan) does not select, so they link nowhere.
func outcomeBars(inst, id string, run api.RunView) (barChart, []string) {
	href := func(q string) string {
		if run.Mode != "simulation" {
			return ""
		}
		return runPath(inst, id) + "?" + q
	}
	var bars []bar
	for _, o := range []string{"delete", "anonymise", "skip"} {
		bars = append(bars, bar{Label: label(o), Count: run.Counts[o], Href: href("outcome=" + o)})
	}
	reasons := make([]string, 0, len(run.Reasons))
	for reason := range run.Reasons {
		reasons = append(reasons, reason)
	}
	for reason := range run.PlannedReasons {
		if _, ok := run.Reasons[reason]; !ok {
			reasons = append(reasons, reason)
		}
	}
	sort.Strings(reasons)
	for _, reason := range reasons {
		bars = append(bars, bar{Label: "skip: " + label(reason), Count: run.Reasons[reason],
			Href: href("outcome=skip&reason=" + url.QueryEscape(reason))})
	}
	return layoutBars(bars, 260, 380), reasons
}

// matching is how many of the run's items the filter keeps, from the plan's counts (an
// apply's Counts are what happened; its items are filtered by plan).
func matching(run api.RunView, outcome, reason string) int {
	counts, reasons := run.Counts, run.Reasons
	if run.Planned != nil {
		counts, reasons = run.Planned, run.PlannedReasons
	}
	switch {
	case reason != "" && (outcome == "" || outcome == "skip"):
		return reasons[reason]
	case reason != "":
		return 0
	case outcome != "":
		return counts[outcome]
	}
	return run.Items
}

// drift lines up a completed run's plan and what happened.
func drift(run api.RunView) []driftRow {
	var rows []driftRow
	if run.Planned == nil {
		return nil
	}
	for _, o := range []string{"delete", "anonymise", "skip"} {
		rows = append(rows, driftRow{What: label(o), Planned: run.Planned[o], Happened: run.Counts[o], Differs: run.Planned[o] != run.Counts[o]})
	}
	seen := map[string]bool{}
	var reasons []string
	for _, m := range []map[string]int{run.PlannedReasons, run.Reasons} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				reasons = append(reasons, k)
			}
		}
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		rows = append(rows, driftRow{What: "skip: " + label(k), Planned: run.PlannedReasons[k], Happened: run.Reasons[k],
			Differs: run.PlannedReasons[k] != run.Reasons[k]})
	}
	return rows
}

// itemsCSV downloads the run's items, with the report's filter.
func (s *Service) itemsCSV(w http.ResponseWriter, r *http.Request, sess *session) {
	inst, id := r.PathValue("inst"), r.PathValue("run")
	q := url.Values{}
	for _, k := range []string{"outcome", "reason"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	path := client.RunPath(inst, id) + "/items"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	s.download(w, r, sess, path, id+".csv")
}

type applyData struct {
	Run   api.RunView
	Erase int // deletions and anonymisations planned
	Error string
}

// confirmApply asks for the institution's id before applying a simulation, naming what it
// will do.
func (s *Service) confirmApply(w http.ResponseWriter, r *http.Request, sess *session) {
	s.renderApply(w, r, sess, http.StatusOK, "")
}

func (s *Service) renderApply(w http.ResponseWriter, r *http.Request, sess *session, status int, msg string) {
	inst, id := r.PathValue("inst"), r.PathValue("run")
	if !sess.may(config.ScopeErase, inst) {
		s.fail(w, r, sess, http.StatusForbidden, "Applying a run needs the erase scope.")
		return
	}
	run, err := s.api(sess).Run(r.Context(), inst, id)
	if err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	if run.Mode != "simulation" || run.State != "planned" || run.Forecast {
		s.fail(w, r, sess, http.StatusConflict, "Only a planned simulation as of a date that has come can be applied; this run is a "+
			strings.TrimSpace(map[bool]string{true: "forecast", false: run.Mode}[run.Forecast])+" in state "+run.State+".")
		return
	}
	s.render(w, r, status, "apply", view{Title: "Apply run " + id, Session: sess, Inst: inst, Nav: "runs",
		Data: applyData{Run: run, Erase: run.Counts["delete"] + run.Counts["anonymise"], Error: msg}})
}

// apply applies the simulation once the operator typed the institution's id, then shows the
// apply run, which reports its progress and, once completed, what happened.
func (s *Service) apply(w http.ResponseWriter, r *http.Request, sess *session) {
	inst, id := r.PathValue("inst"), r.PathValue("run")
	if !sess.may(config.ScopeErase, inst) {
		s.fail(w, r, sess, http.StatusForbidden, "Applying a run needs the erase scope.")
		return
	}
	if strings.TrimSpace(r.PostForm.Get("confirm")) != inst {
		s.renderApply(w, r, sess, http.StatusUnprocessableEntity, "Type the institution's id, "+inst+", exactly, to confirm.")
		return
	}
	c := s.api(sess)
	applied, err := c.ApplyRun(r.Context(), inst, id)
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		// Applied already (by another operator, or a double submit): show that run. Any
		// other conflict (a forecast) is the API's to explain.
		if _, gerr := c.Run(r.Context(), inst, "apply-"+id); gerr == nil {
			http.Redirect(w, r, runPath(inst, "apply-"+id), http.StatusSeeOther) //nolint:gosec // runPath stays in the console
			return
		}
	}
	if err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	s.log.Info("console: run applied", "token", sess.tok.Name, "institution", inst, "run", id, "apply", applied.ID)
	http.Redirect(w, r, runPath(inst, applied.ID), http.StatusSeeOther) //nolint:gosec // runPath stays in the console
}
