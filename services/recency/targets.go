package recency

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// The views and names of GET …/targets are pkg/api's, shared with the CLI.
const (
	ChannelEmail       = api.ChannelEmail
	ChannelSMS         = api.ChannelSMS
	ChannelPost        = api.ChannelPost
	ChannelPhone       = api.ChannelPhone
	KindMarketing      = api.KindMarketing
	KindTransactional  = api.KindTransactional
	ConsentExplicit    = api.ConsentExplicit
	ConsentNotGiven    = api.ConsentNotGiven
	ConsentRefused     = api.ConsentRefused
	DefaultTargetsPage = api.DefaultTargetsPage
	MaxTargetsPage     = api.MaxTargetsPage
)

type (
	Target      = api.Target
	TargetsPage = api.TargetsPage
)

// TargetQuery is what a campaign asks for.
type TargetQuery struct {
	Channel             string
	Kind                string
	ExplicitConsentOnly bool
	// CrossingWithin, when set, restricts the list to the renewal campaign's contacts: in
	// scope of retention, not inactive as of AsOf, inactive as of AsOf + CrossingWithin.
	CrossingWithin *config.Period
	AsOf           time.Time
	// InactivityMonths is the institution's period (the renewal threshold).
	InactivityMonths int
}

// HorizonEnd is AsOf + CrossingWithin (zero without a horizon).
func (q TargetQuery) HorizonEnd() time.Time {
	if q.CrossingWithin == nil {
		return time.Time{}
	}
	return AddPeriod(q.AsOf, *q.CrossingWithin)
}

// MarketingConsent is the contact's consent to marketing on channel: refused when it said no
// to marketing in general or on the channel, explicit when it said yes on the channel (or yes
// in general and nothing on the channel), not_given otherwise. With no channel, the general
// marketing authorisation alone decides.
func MarketingConsent(c store.Contact, channel string) string {
	general := c.Authorisations["marketing"].Value
	onChannel := c.Authorisations["marketing."+channel].Value
	switch {
	case general == "no" || onChannel == "no":
		return ConsentRefused
	case onChannel == "yes":
		return ConsentExplicit
	case general == "yes" && (onChannel == "" || onChannel == "unset"):
		return ConsentExplicit
	}
	return ConsentNotGiven
}

// TargetOf says whether c may be reached by the campaign q, and how. Anonymised and deleted
// contacts never are.
func TargetOf(c store.Contact, q TargetQuery) (Target, bool) {
	if c.Status != store.StatusActive && c.Status != "" {
		return Target{}, false
	}
	t := Target{ContactID: c.ID, Role: c.Role}
	if q.Channel != "" || q.Kind == KindMarketing {
		t.Consent = MarketingConsent(c, q.Channel)
	}
	if q.Kind == KindMarketing {
		if t.Consent == ConsentRefused || (q.ExplicitConsentOnly && t.Consent != ConsentExplicit) {
			return Target{}, false
		}
	}
	if q.CrossingWithin != nil {
		if !retention.InScope(c) || c.Recency.IsZero() {
			return Target{}, false
		}
		// The runs' own rule at both ends: not inactive now, inactive at the horizon's end.
		if retention.Inactive(c, q.AsOf, q.InactivityMonths) || !retention.Inactive(c, q.HorizonEnd(), q.InactivityMonths) {
			return Target{}, false
		}
		at := retention.CrossesAt(c, q.InactivityMonths)
		t.CrossesAt = &at
	}
	if !c.Recency.IsZero() {
		r, src := c.Recency, c.RecencySource
		t.Recency, t.RecencySource = &r, &src
	}
	return t, true
}

// ListTargets is the use case behind GET …/targets: the contacts of an institution a campaign
// may reach, found by scanning the projection in id order, never holding the institution in
// memory.
type ListTargets struct {
	contacts store.Contacts
}

// NewListTargets returns the use case over the projection.
func NewListTargets(contacts store.Contacts) *ListTargets { return &ListTargets{contacts: contacts} }

// Each calls fn with every target of institution for q, in contact id order, starting
// strictly after afterID. An error from fn stops the scan and is returned.
func (l *ListTargets) Each(ctx context.Context, institution string, q TargetQuery, afterID string, fn func(Target) error) error {
	return l.contacts.Scan(ctx, institution, afterID, func(c store.Contact) error {
		if t, ok := TargetOf(c, q); ok {
			return fn(t)
		}
		return nil
	})
}

// errPageFull stops a scan once a page (and one more target) is found.
var errPageFull = errors.New("page full")

// Page returns up to limit targets after afterID and the cursor of the next page ("" when
// this one is the last).
func (l *ListTargets) Page(ctx context.Context, institution string, q TargetQuery, afterID string, limit int) ([]Target, string, error) {
	out := make([]Target, 0, min(limit, 64))
	err := l.Each(ctx, institution, q, afterID, func(t Target) error {
		out = append(out, t)
		if len(out) > limit { // one more than asked says whether a next page exists
			return errPageFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return nil, "", err
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	return out, out[limit-1].ContactID, nil
}

// getTargets serves GET /v1/institutions/{inst}/targets for a token with the read scope:
// JSON pages (limit, after), or every target streamed as NDJSON or CSV (Accept).
func getTargets(l *ListTargets, cfg config.File, now func() time.Time, log *slog.Logger) http.HandlerFunc {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		inst := r.PathValue("inst")
		if err := httpapi.Require(r.Context(), config.ScopeRead, inst); err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		policy, _ := cfg.Institution(inst)
		q, err := parseTargetQuery(r, now().UTC(), policy.InactivityMonths)
		if err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		after := r.URL.Query().Get("after")
		if mediaType := httpapi.NegotiateListing(r.Header.Get("Accept")); mediaType != api.ContentTypeJSON {
			streamTargets(w, r, l, inst, q, after, mediaType, log)
			return
		}
		limit, given, err := httpapi.QueryInt(r.URL.Query(), "limit", 1, MaxTargetsPage)
		if err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		if !given {
			limit = DefaultTargetsPage
		}
		targets, next, err := l.Page(r.Context(), inst, q, after, limit)
		if err != nil {
			httpapi.WriteProblem(w, r, err)
			return
		}
		page := TargetsPage{Institution: inst, Channel: q.Channel, Kind: q.Kind, ExplicitConsentOnly: q.ExplicitConsentOnly,
			AsOf: q.AsOf, Targets: targets, Next: next}
		if q.CrossingWithin != nil {
			end := q.HorizonEnd()
			page.CrossingWithin, page.HorizonEnd, page.InactivityMonths = q.CrossingWithin.String(), &end, q.InactivityMonths
		}
		httpapi.WriteJSON(w, http.StatusOK, page)
	}
}

// badParam is a 400 naming one query parameter. Query values are never echoed: a caller may
// have put anything in them.
func badParam(name, why string) *httpapi.Problem {
	p := httpapi.NewProblem(http.StatusBadRequest, name+": "+why)
	p.Errors = []httpapi.InvalidParam{{Pointer: "/" + name, Detail: why}}
	return p
}

func parseTargetQuery(r *http.Request, asOf time.Time, months int) (TargetQuery, error) {
	v := r.URL.Query()
	q := TargetQuery{Channel: v.Get("channel"), Kind: v.Get("kind"), AsOf: asOf, InactivityMonths: months}
	var problems []httpapi.InvalidParam
	bad := func(name, why string) {
		problems = append(problems, httpapi.InvalidParam{Pointer: "/" + name, Detail: why})
	}
	// A parameter is left out or given once with a value: "channel=" or a second "kind"
	// would otherwise silently mean the default or the first.
	for _, name := range []string{"channel", "kind", "explicit_consent_only", "crossing_within", "after"} {
		switch vs, ok := v[name]; {
		case ok && len(vs) > 1:
			bad(name, "must be given once")
		case ok && vs[0] == "" && name != "after":
			bad(name, "must not be empty: leave it out for the default")
		}
	}
	if q.Kind == "" {
		q.Kind = KindMarketing
	}
	switch q.Kind {
	case KindMarketing, KindTransactional:
	default:
		bad("kind", "must be marketing or transactional")
	}
	switch q.Channel {
	case ChannelEmail, ChannelSMS, ChannelPost, ChannelPhone:
	case "": // no channel: the general marketing authorisation decides
	default:
		bad("channel", "must be email, sms, post or phone")
	}
	if s := v.Get("explicit_consent_only"); s != "" {
		b, err := strconv.ParseBool(s)
		switch {
		case err != nil:
			bad("explicit_consent_only", "must be true or false")
		case b && q.Kind == KindTransactional:
			bad("explicit_consent_only", "applies to marketing campaigns only: transactional campaigns are not filtered by marketing consent")
		}
		q.ExplicitConsentOnly = b
	}
	if s := v.Get("crossing_within"); s != "" {
		d, err := config.ParsePeriod(s)
		if err != nil {
			bad("crossing_within", "must be a positive ISO 8601 duration such as P3M or P90D: "+err.Error())
		} else {
			q.CrossingWithin = &d
		}
	}
	if len(problems) > 0 {
		details := make([]string, len(problems))
		for i, p := range problems {
			details[i] = strings.TrimPrefix(p.Pointer, "/") + " " + p.Detail
		}
		p := httpapi.NewProblem(http.StatusBadRequest, strings.Join(details, "; "))
		p.Errors = problems
		return q, p
	}
	return q, nil
}

// targetsCSVHeader names the CSV columns: ids, consent and dates, never a personal value.
var targetsCSVHeader = []string{"contact_id", "role", "consent", "recency", "recency_source_type",
	"recency_source_event_id", "crosses_at"}

// streamTargets writes every target as NDJSON or CSV while the projection is scanned, so an
// institution of millions of contacts is sent in constant memory (httpapi.StreamRows).
func streamTargets(w http.ResponseWriter, r *http.Request, l *ListTargets, inst string, q TargetQuery, after, mediaType string, log *slog.Logger) {
	rows := httpapi.Rows[Target]{Header: targetsCSVHeader, CSV: targetCSVRow, Filename: "targets.csv", Log: log}
	httpapi.StreamRows(w, r, mediaType, rows, func(emit func(Target) error) error {
		return l.Each(r.Context(), inst, q, after, emit)
	})
}

func targetCSVRow(t Target) []string {
	at := func(p *time.Time) string {
		if p == nil {
			return ""
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	var typ, id string
	if t.RecencySource != nil {
		typ, id = t.RecencySource.Type, t.RecencySource.EventID
	}
	return []string{t.ContactID, t.Role, t.Consent, at(t.Recency), typ, id, at(t.CrossesAt)}
}

// AddPeriod returns t + p: calendar months first, clamped to the end of the month as the
// retention period itself is counted (P3M from 31 May is 31 August, P1M from 31 January the
// end of February), then weeks and days, then the clock.
func AddPeriod(t time.Time, p config.Period) time.Time {
	if m := p.Years*12 + p.Months; m != 0 {
		t = retention.AddMonths(t, m)
	}
	if n := p.Weeks*7 + p.Days; n != 0 {
		t = t.AddDate(0, 0, n)
	}
	return t.Add(p.Clock)
}
