package anonymiser

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// maxRequestBody bounds the JSON body of an action on a request.
const maxRequestBody = 16 << 10

// viewRequest is a request as the API shows it. The decision reason is opened only for a
// caller with the export scope on the institution (reasons are personal).
func (s *Service) viewRequest(ctx context.Context, r store.Request) api.RequestView {
	r = withDue(r)
	v := api.RequestView{ID: r.ID, Institution: r.Institution, ContactID: r.ContactID, Kind: r.Kind, Origin: r.Origin,
		RequestedBy: r.RequestedBy, State: r.State, Blocker: r.Blocker, Error: r.Error, Attempt: r.Attempt,
		Outcome: r.Outcome, Reason: r.Reason, ErasedFields: r.ErasedFields,
		ReceivedAt: r.CreatedAt, CreatedAt: r.CreatedAt, DueAt: r.DueAt, Overdue: r.Open() && retention.Overdue(r.DueAt, s.now()),
		Actions: []api.RequestAct{}, Href: "/v1/requests/" + r.ID}
	if !r.CompletedAt.IsZero() {
		v.CompletedAt = &r.CompletedAt
	}
	if r.Open() && (r.Outcome == OutcomeAnonymised || r.Outcome == OutcomeDeleted) {
		// Best effort: a store that cannot say leaves the list out, the state still says open.
		if left, err := s.Unconfirmed(ctx, r.Institution, r.ContactID, "request:"+r.ID); err == nil {
			v.AwaitingConfirmation = left
		}
	}
	for _, a := range r.Actions {
		act := api.RequestAct{At: a.At, By: a.By, Action: a.Action}
		if !a.DueAt.IsZero() {
			due := a.DueAt
			act.DueAt = &due
		}
		v.Actions = append(v.Actions, act)
	}
	if r.SealedReason != "" {
		v.DecisionReasonSealed = true
		if httpapi.Require(ctx, config.ScopeExport, r.Institution) == nil {
			if reason, err := s.sealer.Open(ctx, r.Institution, r.ContactID, ReasonField, r.SealedReason); err == nil {
				v.DecisionReason = reason
			}
		}
	}
	return v
}

func (s *Service) postAccess(w http.ResponseWriter, r *http.Request) {
	inst, contact := r.PathValue("inst"), r.PathValue("id")
	if err := httpapi.Require(r.Context(), config.ScopeExport, inst); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	if _, err := httpapi.ReadBody(w, r, maxRequestBody); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	if p := pathIDs(inst, contact); p != nil {
		httpapi.WriteProblem(w, r, p)
		return
	}
	if _, err := s.contacts.Get(r.Context(), inst, contact); errors.Is(err, store.ErrNotFound) {
		httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusNotFound, "no contact "+contact+" in institution "+inst))
		return
	} else if err != nil {
		s.unavailable(w, r, "access request: read contact", err)
		return
	}
	req, err := s.RequestAccess(r.Context(), newRequestID(), inst, contact, principalName(r.Context()))
	if err != nil {
		s.unavailable(w, r, "access request", err)
		return
	}
	w.Header().Set("Location", "/v1/requests/"+req.ID)
	httpapi.WriteJSON(w, http.StatusAccepted, s.viewRequest(r.Context(), req))
}

// requestFilters are the query parameters of GET …/requests.
var requestFilters = []string{"state", "kind", "due_within", "overdue"}

var allStates = []string{store.RequestReceived, store.RequestInProgress, store.RequestBlocked, store.RequestExtended,
	store.RequestCompleted, store.RequestRefused, store.RequestFailed}

func (s *Service) listRequests(w http.ResponseWriter, r *http.Request) {
	inst := r.PathValue("inst")
	if httpapi.Require(r.Context(), config.ScopeRead, inst) != nil {
		if err := httpapi.Require(r.Context(), config.ScopeErase, inst); err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
	}
	q := r.URL.Query()
	var bad []httpapi.InvalidParam
	for name, vs := range q {
		switch {
		case !slices.Contains(requestFilters, name):
			bad = append(bad, httpapi.InvalidParam{Pointer: "/" + name, Detail: "unknown parameter; the filters are state, kind, due_within and overdue"})
		case len(vs) > 1:
			bad = append(bad, httpapi.InvalidParam{Pointer: "/" + name, Detail: "must be given once"})
		case vs[0] == "":
			bad = append(bad, httpapi.InvalidParam{Pointer: "/" + name, Detail: "must not be empty: leave it out"})
		}
	}
	f := store.RequestFilter{Institution: inst, Kind: q.Get("kind")}
	if s := q.Get("state"); s != "" {
		for st := range strings.SplitSeq(s, ",") {
			if !slices.Contains(allStates, st) {
				bad = append(bad, httpapi.InvalidParam{Pointer: "/state", Detail: "must be one or more (comma-separated) of " + strings.Join(allStates, ", ")})
				break
			}
			f.States = append(f.States, st)
		}
	}
	switch f.Kind {
	case "", store.KindErasure, store.KindAccess:
	default:
		bad = append(bad, httpapi.InvalidParam{Pointer: "/kind", Detail: "must be erasure or access"})
	}
	now := s.now()
	var horizon time.Time
	if s := q.Get("due_within"); s != "" {
		p, err := config.ParsePeriod(s)
		if err != nil {
			bad = append(bad, httpapi.InvalidParam{Pointer: "/due_within", Detail: "must be a positive ISO 8601 duration such as P7D: " + err.Error()})
		} else {
			horizon = p.After(now)
		}
	}
	overdue := false
	if s := q.Get("overdue"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			bad = append(bad, httpapi.InvalidParam{Pointer: "/overdue", Detail: "must be true or false"})
		}
		overdue = b
	}
	if len(bad) > 0 {
		p := httpapi.NewProblem(http.StatusBadRequest, "invalid filters: "+bad[0].Pointer[1:]+" "+bad[0].Detail)
		p.Errors = bad
		httpapi.WriteProblem(w, r, p)
		return
	}
	rs, err := s.requests.List(r.Context(), f)
	if err != nil {
		s.unavailable(w, r, "list requests", err)
		return
	}
	out := api.RequestList{Items: []api.RequestView{}}
	for _, req := range rs {
		req = withDue(req)
		// due_within and overdue concern requests still to answer.
		if (!horizon.IsZero() || overdue) && !req.Open() {
			continue
		}
		if !horizon.IsZero() && req.DueAt.After(horizon) {
			continue
		}
		if overdue && !retention.Overdue(req.DueAt, now) {
			continue
		}
		out.Items = append(out.Items, s.viewRequest(r.Context(), req))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// visibleRequest reads the request of the path for a caller holding scope on its
// institution (any of scopes); a request of an institution the caller may not see is
// answered as an unknown id, so that ids of other institutions cannot be probed.
func (s *Service) visibleRequest(w http.ResponseWriter, r *http.Request, scopes ...string) (store.Request, bool) {
	req, err := s.requests.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusNotFound, "no request with this id"))
		return store.Request{}, false
	}
	if err != nil {
		s.unavailable(w, r, "read request", err)
		return store.Request{}, false
	}
	for _, scope := range scopes {
		if httpapi.Require(r.Context(), scope, req.Institution) == nil {
			return req, true
		}
	}
	if httpapi.Require(r.Context(), config.ScopeRead, req.Institution) == nil {
		httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusForbidden, "this action needs the "+scopes[0]+" scope on "+req.Institution))
		return store.Request{}, false
	}
	httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusNotFound, "no request with this id"))
	return store.Request{}, false
}

func (s *Service) getRequest(w http.ResponseWriter, r *http.Request) {
	req, ok := s.visibleRequest(w, r, config.ScopeRead, config.ScopeErase)
	if !ok {
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s.viewRequest(r.Context(), req))
}

func (s *Service) postExtend(w http.ResponseWriter, r *http.Request) {
	req, ok := s.visibleRequest(w, r, config.ScopeErase)
	if !ok {
		return
	}
	var in api.RequestExtend
	if !decodeAction(w, r, &in, "the extension") {
		return
	}
	due, err := time.Parse(time.RFC3339, in.DueAt)
	if err != nil {
		httpapi.WriteProblem(w, r, invalid("/due_at", "must be an RFC 3339 date, no later than three months after receipt"))
		return
	}
	out, err := s.Extend(r.Context(), req.ID, due, in.Reason, principalName(r.Context()))
	s.answerAction(w, r, out, err)
}

func (s *Service) postRefuse(w http.ResponseWriter, r *http.Request) {
	req, ok := s.visibleRequest(w, r, config.ScopeErase)
	if !ok {
		return
	}
	var in api.RequestRefuse
	if !decodeAction(w, r, &in, "the refusal") {
		return
	}
	out, err := s.Refuse(r.Context(), req.ID, in.Reason, principalName(r.Context()))
	s.answerAction(w, r, out, err)
}

func (s *Service) postRetry(w http.ResponseWriter, r *http.Request) {
	req, ok := s.visibleRequest(w, r, config.ScopeErase)
	if !ok {
		return
	}
	if _, err := httpapi.ReadBody(w, r, maxRequestBody); err != nil {
		httpapi.WriteProblem(w, r, err)
		return
	}
	out, err := s.Retry(r.Context(), req.ID, principalName(r.Context()))
	s.answerAction(w, r, out, err)
}

func decodeAction(w http.ResponseWriter, r *http.Request, v any, what string) bool {
	body, err := httpapi.ReadBody(w, r, maxRequestBody)
	if err == nil {
		err = httpapi.DecodeObject(body, v, what)
	}
	if err != nil {
		httpapi.WriteProblem(w, r, err)
		return false
	}
	return true
}

// answerAction writes the request after an action, or the problem the action met.
func (s *Service) answerAction(w http.ResponseWriter, r *http.Request, out store.Request, err error) {
	switch {
	case err == nil:
		httpapi.WriteJSON(w, http.StatusOK, s.viewRequest(r.Context(), out))
	case errors.Is(err, ErrReasonRequired):
		httpapi.WriteProblem(w, r, invalid("/reason", err.Error()))
	case errors.Is(err, retention.ErrExtension):
		httpapi.WriteProblem(w, r, invalid("/due_at", err.Error()))
	case errors.Is(err, ErrRequestNotFound):
		httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusNotFound, "no request with this id"))
	case errors.Is(err, ErrRequestClosed), errors.Is(err, ErrRequestState):
		p := httpapi.NewProblem(http.StatusConflict, err.Error())
		p.State = out.State
		httpapi.WriteProblem(w, r, p)
	case errors.Is(err, seal.ErrKeyDestroyed), errors.Is(err, store.ErrKeyDestroyed):
		httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusConflict, "the contact is erased: no reason can be recorded for it any more"))
	default:
		s.unavailable(w, r, "request action", err)
	}
}

func invalid(pointer, detail string) *httpapi.Problem {
	p := httpapi.NewProblem(http.StatusUnprocessableEntity, strings.TrimPrefix(pointer, "/")+": "+detail)
	p.Errors = []httpapi.InvalidParam{{Pointer: pointer, Detail: detail}}
	return p
}

func (s *Service) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.ErrorContext(r.Context(), what, "error", err)
	p := httpapi.NewProblem(http.StatusServiceUnavailable, "the store or the bus is unavailable; retry later")
	p.RetryAfter = 5
	httpapi.WriteProblem(w, r, p)
}

// principalName is who acts: "token:<name>" of the caller's token.
func principalName(ctx context.Context) string {
	if p, ok := httpapi.PrincipalFrom(ctx); ok {
		return "token:" + p.Name
	}
	return ""
}
