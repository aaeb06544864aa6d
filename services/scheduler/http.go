package scheduler

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// Register adds the run and register routes to mux, each behind the Deps' authenticator:
//
//	POST /v1/institutions/{inst}/runs               start a run (admin; execute: erase)
//	GET  /v1/institutions/{inst}/runs               the institution's runs, newest first (read)
//	GET  /v1/institutions/{inst}/runs/{run}         one run: state, counts by outcome and reason (read)
//	GET  /v1/institutions/{inst}/runs/{run}/items   its items: JSON pages, or every item as CSV or NDJSON (read)
//	POST /v1/institutions/{inst}/runs/{run}/apply   execute a simulation's plan (erase)
//	GET  /v1/institutions/{inst}/contacts/{id}/runs the runs that considered one contact, and what happened (read)
//	GET  /v1/institutions/{inst}/register           the register of processing: JSON, Markdown or CSV (read)
func (s *Service) Register(mux *http.ServeMux) {
	auth := s.auth
	mux.Handle("POST /v1/institutions/{inst}/runs", auth.Authenticate(http.HandlerFunc(s.postRun)))
	mux.Handle("GET /v1/institutions/{inst}/runs", auth.Authenticate(http.HandlerFunc(s.getRuns)))
	mux.Handle("GET /v1/institutions/{inst}/runs/{run}", auth.Authenticate(http.HandlerFunc(s.getRun)))
	mux.Handle("GET /v1/institutions/{inst}/runs/{run}/items", auth.Authenticate(http.HandlerFunc(s.getItems)))
	mux.Handle("POST /v1/institutions/{inst}/runs/{run}/apply", auth.Authenticate(http.HandlerFunc(s.postApply)))
	mux.Handle("GET /v1/institutions/{inst}/contacts/{id}/runs", auth.Authenticate(http.HandlerFunc(s.getContactRuns)))
	mux.Handle("GET /v1/institutions/{inst}/register", auth.Authenticate(http.HandlerFunc(s.getRegister)))
}

// listedRun is a run's view in a listing: one record that cannot be shown (a date outside
// what JSON holds, stored before dates were bounded) is listed by its ids and an error,
// and never breaks the listing of the others.
func listedRun(r store.Run) api.RunView {
	v := viewRun(r)
	if _, err := json.Marshal(v); err == nil {
		return v
	}
	return api.RunView{ID: r.ID, Institution: r.Institution, Mode: r.Mode, State: r.State,
		Counts: map[string]int{}, Reasons: map[string]int{}, Error: "this run's record holds a date that cannot be shown"}
}

func viewRun(r store.Run) api.RunView {
	v := api.RunView{
		ID: r.ID, Institution: r.Institution, Mode: r.Mode, State: r.State,
		AsOf: r.AsOf, InactivityMonths: r.InactivityMonths, Trigger: r.Trigger,
		SourceRun: r.SourceRun, RequestedBy: r.RequestedBy,
		Counts: r.Counts, Reasons: r.Reasons, Cursor: r.Cursor, Error: r.Error,
		Forecast: r.Forecast, Planned: r.Planned, PlannedReasons: r.PlannedReasons, Results: r.Results,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if v.State == store.RunPublishing {
		v.State = store.RunExecuting
	}
	plan := r.Counts
	if r.Planned != nil {
		plan = r.Planned
	}
	for _, n := range plan {
		v.Items += n
	}
	if r.State == store.RunCompleted && r.Mode != store.ModeSimulation && r.Results == 0 {
		v.Results = v.Items // completed before results were counted
	}
	if r.InactivityMonths > 0 {
		v.Threshold = thresholdOf(r)
	}
	if v.Counts == nil {
		v.Counts = map[string]int{}
	}
	if v.Reasons == nil {
		v.Reasons = map[string]int{}
	}
	if !r.FinishedAt.IsZero() {
		v.FinishedAt = &r.FinishedAt
	}
	return v
}

func viewItem(it store.RunItem) api.ItemView {
	v := api.ItemView{
		ContactID: it.ContactID, Outcome: it.Outcome, Reason: it.Reason, Role: it.Role,
		Customer: it.Customer, Recency: it.Recency, RecencySource: it.RecencySource, Result: it.Result,
	}
	if !it.ResultAt.IsZero() {
		v.ResultAt = &it.ResultAt
	}
	return v
}

// serverSpan starts the span of a request that starts a run: the run's own span is its
// child, so the run's trace begins with the request.
func (s *Service) serverSpan(r *http.Request, route string) (*http.Request, trace.Span) {
	ctx, span := s.tracer.Start(r.Context(), route, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", r.Method),
		attribute.String("http.route", strings.TrimPrefix(route, r.Method+" ")),
		attribute.String("lethe.institution", r.PathValue("inst")),
	))
	return r.WithContext(ctx), span
}

func (s *Service) postRun(w http.ResponseWriter, r *http.Request) {
	r, span := s.serverSpan(r, "POST /v1/institutions/{inst}/runs")
	defer span.End()
	inst := r.PathValue("inst")
	// Either scope lets the request in this far; the mode then says which one it needs.
	if err := httpapi.Require(r.Context(), config.ScopeAdmin, inst); err != nil {
		if httpapi.Require(r.Context(), config.ScopeErase, inst) != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
	}
	var body api.RunStart
	if err := s.decodeBody(w, r, &body); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	req := RunRequest{Institution: inst, Trigger: TriggerAPI}
	var bad []httpapi.InvalidParam
	if body.Mode != nil {
		req.Mode = *body.Mode
		if req.Mode == "" { // given empty is not left out: it would silently mean simulation
			bad = append(bad, httpapi.InvalidParam{Pointer: "/mode", Detail: `must be "simulation" or "execute"; leave it out for a simulation`})
		}
	}
	scope := config.ScopeAdmin
	if req.Mode == store.ModeExecute {
		// Erasing is kept apart from starting simulations (docs/contract.md, "HTTP API": scopes).
		scope = config.ScopeErase
	}
	if err := httpapi.Require(r.Context(), scope, inst); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	if body.InactivityMonths != nil {
		months := int(*body.InactivityMonths)
		if months == 0 {
			bad = append(bad, httpapi.InvalidParam{Pointer: "/inactivity_months", Detail: "must be at least 1; leave it out for the institution's policy"})
		}
		req.InactivityMonths = months
	}
	if body.AsOf != nil {
		t, err := time.Parse(time.RFC3339Nano, *body.AsOf)
		switch {
		case err != nil:
			bad = append(bad, httpapi.InvalidParam{Pointer: "/as_of", Detail: "must be an RFC 3339 date-time"})
		case t.Before(EarliestAsOf):
			// Checked here too: 0001-01-01T00:00:00Z is Go's zero time, which RunRequest
			// reads as "now".
			bad = append(bad, httpapi.InvalidParam{Pointer: "/as_of", Detail: "must be on or after 1900-01-01"})
		}
		req.AsOf = t
	}
	if p, ok := httpapi.PrincipalFrom(r.Context()); ok {
		req.RequestedBy = "token:" + p.Name
	}
	var run store.Run
	var err error
	if len(bad) == 0 {
		run, err = s.StartRun(r.Context(), req)
	} else {
		_, err = s.newRun(req, "") // to name every invalid field at once
	}
	var inv *InvalidError
	if errors.As(err, &inv) {
		for _, f := range inv.Fields {
			if !slices.ContainsFunc(bad, func(b httpapi.InvalidParam) bool { return b.Pointer == f.Pointer }) {
				bad = append(bad, httpapi.InvalidParam{Pointer: f.Pointer, Detail: f.Detail})
			}
		}
	}
	if len(bad) > 0 {
		p := httpapi.NewProblem(invalidStatus(bad), "the run request is invalid")
		p.Errors = bad
		httpapi.WriteProblem(w, r, p)
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	span.SetAttributes(attribute.String("lethe.run_id", run.ID), attribute.String("lethe.run_mode", run.Mode))
	status := http.StatusAccepted
	if run.Mode == store.ModeSimulation {
		// A simulation changes nothing and its report is what the caller wants: answer once it
		// is planned. If the caller goes away, the run goes on.
		if done, werr := s.Wait(r.Context(), run.Institution, run.ID); werr == nil {
			run = done
		}
		status = http.StatusCreated
	}
	w.Header().Set("Location", runPath(run))
	httpapi.WriteJSON(w, status, viewRun(run))
}

func (s *Service) postApply(w http.ResponseWriter, r *http.Request) {
	r, span := s.serverSpan(r, "POST /v1/institutions/{inst}/runs/{run}/apply")
	defer span.End()
	inst, id := r.PathValue("inst"), r.PathValue("run")
	span.SetAttributes(attribute.String("lethe.simulation_id", id))
	if err := httpapi.Require(r.Context(), config.ScopeErase, inst); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	req := ApplyRequest{Institution: inst, Simulation: id}
	if p, ok := httpapi.PrincipalFrom(r.Context()); ok {
		req.RequestedBy = "token:" + p.Name
	}
	run, err := s.ApplyRun(r.Context(), req)
	if errors.Is(err, ErrAlreadyApplied) && run.ID != "" {
		w.Header().Set("Location", runPath(run))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	span.SetAttributes(attribute.String("lethe.run_id", run.ID))
	w.Header().Set("Location", runPath(run))
	httpapi.WriteJSON(w, http.StatusAccepted, viewRun(run))
}

func (s *Service) getRuns(w http.ResponseWriter, r *http.Request) {
	inst := r.PathValue("inst")
	if err := httpapi.Require(r.Context(), config.ScopeRead, inst); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	limit, err := pageSize(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	runs, err := s.ListRuns(r.Context(), inst, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := api.RunsList{Runs: make([]api.RunView, 0, len(runs))}
	for _, run := range runs {
		out.Runs = append(out.Runs, listedRun(run))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

func (s *Service) getRun(w http.ResponseWriter, r *http.Request) {
	inst, id := r.PathValue("inst"), r.PathValue("run")
	if err := httpapi.Require(r.Context(), config.ScopeRead, inst); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	run, err := s.GetRun(r.Context(), inst, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, viewRun(run))
}

func (s *Service) getContactRuns(w http.ResponseWriter, r *http.Request) {
	inst, id := r.PathValue("inst"), r.PathValue("id")
	if err := httpapi.Require(r.Context(), config.ScopeRead, inst); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	runs, err := s.ContactRuns(r.Context(), inst, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v := api.ContactRunsView{Institution: inst, ContactID: id, Items: make([]api.ContactRunItem, 0, len(runs))}
	for _, cr := range runs {
		v.Items = append(v.Items, api.ContactRunItem{RunID: cr.Run.ID, Mode: cr.Run.Mode, RunState: cr.Run.State,
			AsOf: cr.Run.AsOf, CreatedAt: cr.Run.CreatedAt, ItemView: viewItem(cr.Item)})
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}

func (s *Service) getItems(w http.ResponseWriter, r *http.Request) {
	inst, id := r.PathValue("inst"), r.PathValue("run")
	if err := httpapi.Require(r.Context(), config.ScopeRead, inst); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	f, err := itemFilter(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	if mediaType := httpapi.NegotiateListing(r.Header.Get("Accept")); mediaType != api.ContentTypeJSON {
		s.streamItems(w, r, inst, id, mediaType, f)
		return
	}
	limit, err := pageSize(r)
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	if limit == 0 {
		limit = api.DefaultPageSize
	}
	items, next, err := s.Items(r.Context(), inst, id, r.URL.Query().Get("after"), limit, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page := api.ItemsPage{Items: make([]api.ItemView, 0, len(items)), Next: next}
	for _, it := range items {
		page.Items = append(page.Items, viewItem(it))
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
}

// csvHeader names the export's columns: ids, outcomes and dates only, never a personal value.
var csvHeader = []string{"contact_id", "outcome", "reason", "role", "customer", "recency",
	"recency_source_type", "recency_source_event_id", "recency_source_at", "result", "result_at"}

// streamItems writes every item of the run as it is read, a store page at a time, so an
// export of millions of items holds one page in memory (httpapi.StreamRows).
func (s *Service) streamItems(w http.ResponseWriter, r *http.Request, inst, id, mediaType string, f ItemFilter) {
	if _, err := s.GetRun(r.Context(), inst, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	rows := httpapi.Rows[store.RunItem]{Header: csvHeader, CSV: csvRow,
		JSON: func(it store.RunItem) any { return viewItem(it) }, Filename: id + ".csv", Log: s.log}
	httpapi.StreamRows(w, r, mediaType, rows, func(emit func(store.RunItem) error) error {
		return s.EachItem(r.Context(), inst, id, func(page []store.RunItem) error {
			for _, it := range page {
				if !f.Keeps(it) {
					continue
				}
				if err := emit(it); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func csvRow(it store.RunItem) []string {
	at := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return []string{it.ContactID, it.Outcome, it.Reason, it.Role, strconv.FormatBool(it.Customer), at(it.Recency),
		it.RecencySource.Type, it.RecencySource.EventID, at(it.RecencySource.At), it.Result, at(it.ResultAt)}
}

// itemFilter reads the items' outcome and reason filters: each left out or given once with a
// value; an outcome is one of a run's.
func itemFilter(r *http.Request) (ItemFilter, error) {
	q := r.URL.Query()
	var f ItemFilter
	var problems []httpapi.InvalidParam
	for _, name := range []string{"outcome", "reason"} {
		vs, ok := q[name]
		switch {
		case !ok:
			continue
		case len(vs) > 1:
			problems = append(problems, httpapi.InvalidParam{Pointer: "/" + name, Detail: "must be given once"})
		case vs[0] == "":
			problems = append(problems, httpapi.InvalidParam{Pointer: "/" + name, Detail: "must not be empty: leave it out for every item"})
		}
	}
	f.Outcome, f.Reason = q.Get("outcome"), q.Get("reason")
	switch f.Outcome {
	case "", store.OutcomeDelete, store.OutcomeAnonymise, store.OutcomeSkip:
	default:
		problems = append(problems, httpapi.InvalidParam{Pointer: "/outcome", Detail: "must be delete, anonymise or skip"})
	}
	if len(problems) > 0 {
		p := httpapi.NewProblem(http.StatusBadRequest, "invalid query")
		p.Errors = problems
		return ItemFilter{}, p
	}
	return f, nil
}

func pageSize(r *http.Request) (int, error) {
	n, _, err := httpapi.QueryInt(r.URL.Query(), "limit", 1, api.MaxPageSize)
	return n, err
}

// decodeBody reads an optional JSON body, bounded by the configured size (413 beyond).
func (s *Service) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	limit := s.cfg.MaxBodyBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	data, err := httpapi.ReadBody(w, r, limit)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	return httpapi.DecodeObject(data, v, "the run request")
}

// writeError maps the use cases' errors to problems; their messages carry ids only.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		var bad []httpapi.InvalidParam
		for _, f := range inv.Fields {
			bad = append(bad, httpapi.InvalidParam{Pointer: f.Pointer, Detail: f.Detail})
		}
		p := httpapi.NewProblem(invalidStatus(bad), "the run request is invalid")
		p.Errors = bad
		httpapi.WriteProblem(w, r, p)
	case errors.Is(err, ErrRunNotFound):
		httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusNotFound, "no run "+r.PathValue("run")+" in institution "+r.PathValue("inst")))
	case errors.Is(err, ErrAlreadyApplied), errors.Is(err, ErrNotApplicable):
		httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusConflict, strings.TrimPrefix(err.Error(), "scheduler: ")))
	case errors.Is(err, ErrClosed):
		p := httpapi.NewProblem(http.StatusServiceUnavailable, "the scheduler is shutting down")
		p.RetryAfter = 5
		httpapi.WriteProblem(w, r, p)
	default:
		s.log.Error("scheduler request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		httpapi.WriteProblem(w, r, err)
	}
}

// invalidStatus: a date that is not one, or one a run may not use, is 400 (docs/contract.md, "HTTP API"); other
// invalid fields of a well-formed request are 422.
func invalidStatus(bad []httpapi.InvalidParam) int {
	for _, b := range bad {
		if b.Pointer == "/as_of" {
			return http.StatusBadRequest
		}
	}
	return http.StatusUnprocessableEntity
}

func thresholdOf(r store.Run) time.Time { return retention.Threshold(r.AsOf, r.InactivityMonths) }

func runPath(run store.Run) string {
	return "/v1/institutions/" + run.Institution + "/runs/" + run.ID
}
