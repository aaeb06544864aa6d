package recency_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/services/recency"
)

// targetsOf reads every target of a query, following the JSON pages.
func (s *apiStack) targetsOf(q url.Values, limit int) []recency.Target {
	s.t.Helper()
	var all []recency.Target
	after := ""
	for range 1000 {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		if limit > 0 {
			v.Set("limit", strconv.Itoa(limit))
		}
		if after != "" {
			v.Set("after", after)
		}
		var page recency.TargetsPage
		if code := s.getJSON(tokenRead, "/v1/institutions/"+instA+"/targets?"+v.Encode(), &page); code != http.StatusOK {
			s.t.Fatalf("targets %s = %d", v.Encode(), code)
		}
		if limit > 0 && len(page.Targets) > limit {
			s.t.Fatalf("a page of limit %d holds %d targets", limit, len(page.Targets))
		}
		all = append(all, page.Targets...)
		if page.Next == "" {
			return all
		}
		after = page.Next
	}
	s.t.Fatal("the pages never end")
	return nil
}

func ids(ts []recency.Target) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.ContactID)
	}
	return out
}

func query(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestTargetsObeyConsent(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newAPIStack(t, st)
		base := time.Now().UTC().Truncate(time.Second).AddDate(0, -6, 0)
		later := base.AddDate(0, 0, 1)
		mk := func(id string, auth map[string]string) []events.Data {
			out := []events.Data{created(base, events.Profile{Email: events.String(id + "@example.org")})}
			if auth != nil {
				out = append(out, consent(later, auth))
			}
			return out
		}
		contacts := map[string][]events.Data{
			"t-general-no":        mk("t-general-no", map[string]string{"marketing": "no"}),
			"t-general-no-chan":   mk("t-general-no-chan", map[string]string{"marketing": "no", "marketing.email": "yes"}),
			"t-email-no":          mk("t-email-no", map[string]string{"marketing": "yes", "marketing.email": "no"}),
			"t-never":             mk("t-never", nil),
			"t-unset":             mk("t-unset", map[string]string{"marketing": "unset", "partners": "yes"}),
			"t-email-yes":         mk("t-email-yes", map[string]string{"marketing.email": "yes"}),
			"t-general-yes":       mk("t-general-yes", map[string]string{"marketing": "yes"}),
			"t-general-yes-unset": mk("t-general-yes-unset", map[string]string{"marketing": "yes", "marketing.email": "unset"}),
			"t-sms-no":            mk("t-sms-no", map[string]string{"marketing.sms": "no"}),
			"t-anonymised":        mk("t-anonymised", map[string]string{"marketing": "yes"}),
			"t-deleted":           mk("t-deleted", map[string]string{"marketing": "yes"}),
		}
		var evs []event.Event
		for id, ds := range contacts {
			for _, d := range ds {
				evs = append(evs, ev(t, id, d))
			}
		}
		s.send(evs...)
		// Another institution's contact is never listed.
		if _, err := st.Contacts().Put(context.Background(), store.Contact{Institution: instB, ID: "t-other-inst",
			Status: store.StatusActive, Created: true, Role: "individual", CreatedAt: base, Recency: base}); err != nil {
			t.Fatal(err)
		}
		s.mark("t-anonymised", func(c *store.Contact) { c.Status = store.StatusAnonymised; c.Profile = nil })
		s.mark("t-deleted", func(c *store.Contact) { c.Status = store.StatusDeleted; c.Profile = nil })

		for _, tc := range []struct {
			name    string
			q       url.Values
			want    []string
			consent map[string]string
		}{
			{
				name: "marketing by e-mail excludes general and channel refusals",
				q:    query("channel", "email", "kind", "marketing"),
				want: []string{"t-email-yes", "t-general-yes", "t-general-yes-unset", "t-never", "t-sms-no", "t-unset"},
				consent: map[string]string{"t-email-yes": "explicit", "t-general-yes": "explicit", "t-general-yes-unset": "explicit",
					"t-never": "not_given", "t-sms-no": "not_given", "t-unset": "not_given"},
			},
			{
				// No channel: the general marketing authorisation alone decides (the OpenAPI
				// document never required one; the server did).
				name: "marketing without a channel follows the general authorisation",
				q:    query("kind", "marketing"),
				want: []string{"t-email-no", "t-email-yes", "t-general-yes", "t-general-yes-unset", "t-never", "t-sms-no", "t-unset"},
				consent: map[string]string{"t-email-no": "explicit", "t-email-yes": "not_given", "t-general-yes": "explicit",
					"t-general-yes-unset": "explicit", "t-never": "not_given", "t-sms-no": "not_given", "t-unset": "not_given"},
			},
			{
				name: "marketing is the default kind",
				q:    query("channel", "email"),
				want: []string{"t-email-yes", "t-general-yes", "t-general-yes-unset", "t-never", "t-sms-no", "t-unset"},
			},
			{
				name: "explicit consent only drops those who never said yes",
				q:    query("channel", "email", "kind", "marketing", "explicit_consent_only", "true"),
				want: []string{"t-email-yes", "t-general-yes", "t-general-yes-unset"},
			},
			{
				name:    "a refusal on one channel does not exclude from another",
				q:       query("channel", "sms", "kind", "marketing"),
				want:    []string{"t-email-no", "t-email-yes", "t-general-yes", "t-general-yes-unset", "t-never", "t-unset"},
				consent: map[string]string{"t-email-no": "explicit", "t-email-yes": "not_given"},
			},
			{
				name: "explicit on sms: general yes with sms unset counts, a yes on e-mail does not",
				q:    query("channel", "sms", "explicit_consent_only", "true"),
				want: []string{"t-email-no", "t-general-yes", "t-general-yes-unset"},
			},
			{
				name: "transactional campaigns are not filtered by marketing consent",
				q:    query("channel", "email", "kind", "transactional"),
				want: []string{"t-email-no", "t-email-yes", "t-general-no", "t-general-no-chan", "t-general-yes", "t-general-yes-unset", "t-never", "t-sms-no", "t-unset"},
				consent: map[string]string{"t-general-no": "refused", "t-email-no": "refused", "t-general-no-chan": "refused",
					"t-email-yes": "explicit"},
			},
			{
				name: "transactional without a channel",
				q:    query("kind", "transactional"),
				want: []string{"t-email-no", "t-email-yes", "t-general-no", "t-general-no-chan", "t-general-yes", "t-general-yes-unset", "t-never", "t-sms-no", "t-unset"},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := s.targetsOf(tc.q, 0)
				if !slices.Equal(ids(got), tc.want) {
					t.Fatalf("targets = %v\nwant      %v", ids(got), tc.want)
				}
				for _, tg := range got {
					if want, ok := tc.consent[tg.ContactID]; ok && tg.Consent != want {
						t.Errorf("%s consent = %q, want %q", tg.ContactID, tg.Consent, want)
					}
					if tg.Recency == nil || tg.RecencySource == nil || tg.CrossesAt != nil {
						t.Errorf("%s = %+v: want recency and its source, no crossing date without crossing_within", tg.ContactID, tg)
					}
				}
				// Pages of two give the same list, in the same order.
				if paged := s.targetsOf(tc.q, 2); !slices.Equal(ids(paged), tc.want) {
					t.Errorf("paged targets = %v", ids(paged))
				}
				// So do the streams.
				if nd := s.ndjsonTargets(tc.q); !slices.Equal(ids(nd), tc.want) {
					t.Errorf("NDJSON targets = %v", ids(nd))
				}
				if cs := s.csvTargets(tc.q); !slices.Equal(cs, tc.want) {
					t.Errorf("CSV targets = %v", cs)
				}
			})
		}
		assertNoPersonalTargets(t, s)
	})
}

func (s *apiStack) ndjsonTargets(q url.Values) []recency.Target {
	s.t.Helper()
	code, hdr, body := s.get(tokenRead, "/v1/institutions/"+instA+"/targets?"+q.Encode(), "application/x-ndjson")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/x-ndjson") {
		s.t.Fatalf("NDJSON targets = %d %s", code, hdr.Get("Content-Type"))
	}
	var out []recency.Target
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var tg recency.Target
		if err := json.Unmarshal(sc.Bytes(), &tg); err != nil {
			s.t.Fatalf("NDJSON line %q: %v", sc.Text(), err)
		}
		out = append(out, tg)
	}
	return out
}

func (s *apiStack) csvTargets(q url.Values) []string {
	s.t.Helper()
	code, hdr, body := s.get(tokenRead, "/v1/institutions/"+instA+"/targets?"+q.Encode(), "text/csv")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		s.t.Fatalf("CSV targets = %d %s", code, hdr.Get("Content-Type"))
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(rows) == 0 || rows[0][0] != "contact_id" {
		s.t.Fatalf("CSV = %q %v", body, err)
	}
	var out []string
	for _, r := range rows[1:] {
		out = append(out, r[0])
	}
	return out
}

func assertNoPersonalTargets(t *testing.T, s *apiStack) {
	t.Helper()
	for _, accept := range []string{"application/json", "application/x-ndjson", "text/csv"} {
		_, _, body := s.get(tokenRead, "/v1/institutions/"+instA+"/targets?kind=transactional", accept)
		if bytes.Contains(body, []byte("@example.org")) || bytes.Contains(body, []byte("sealed:")) {
			t.Errorf("targets as %s carry profile values: %s", accept, body)
		}
	}
}

func TestTargetsRefusals(t *testing.T) {
	t.Parallel()
	s := newAPIStack(t, backendtest.Pebble(t))
	for _, tc := range []struct {
		name, token, q string
		want           int
		pointer        string
	}{
		{"no token", "", "channel=email", http.StatusUnauthorized, ""},
		{"another institution", tokenReadB, "channel=email", http.StatusForbidden, ""},
		{"ingest scope only", tokenIngest, "channel=email", http.StatusForbidden, ""},
		{"limit given twice", tokenRead, "channel=email&limit=1&limit=2", http.StatusBadRequest, "/limit"},
		{"limit empty", tokenRead, "channel=email&limit=", http.StatusBadRequest, "/limit"},
		{"channel empty", tokenRead, "channel=", http.StatusBadRequest, "/channel"},
		{"kind given twice", tokenRead, "kind=marketing&kind=transactional", http.StatusBadRequest, "/kind"},
		{"unknown channel", tokenRead, "channel=pigeon", http.StatusBadRequest, "/channel"},
		{"unknown kind", tokenRead, "channel=email&kind=spam", http.StatusBadRequest, "/kind"},
		{"explicit consent is for marketing", tokenRead, "kind=transactional&explicit_consent_only=true", http.StatusBadRequest, "/explicit_consent_only"},
		{"explicit consent is a boolean", tokenRead, "channel=email&explicit_consent_only=perhaps", http.StatusBadRequest, "/explicit_consent_only"},
		{"horizon is an ISO 8601 duration", tokenRead, "channel=email&crossing_within=3%20months", http.StatusBadRequest, "/crossing_within"},
		{"horizon is positive", tokenRead, "channel=email&crossing_within=P0D", http.StatusBadRequest, "/crossing_within"},
		{"limit is bounded", tokenRead, "channel=email&limit=100000", http.StatusBadRequest, "/limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := s.get(tc.token, "/v1/institutions/"+instA+"/targets?"+tc.q, "")
			if code != tc.want || !strings.HasPrefix(hdr.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("= %d %s, want %d problem", code, body, tc.want)
			}
			if tc.pointer != "" && !bytes.Contains(body, []byte(`"pointer":"`+tc.pointer+`"`)) {
				t.Errorf("problem %s does not point at %s", body, tc.pointer)
			}
		})
	}
}

func TestRenewalListsContactsCrossingWithinTheHorizon(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newAPIStack(t, st)
		now := time.Now().UTC().Truncate(time.Second)
		// Recency = creation date; the threshold is 36 months. Margins of days keep the
		// cases away from the horizon's edges whatever the day of the month.
		threshold := retention.AddMonths(now, -months)
		recencies := map[string]time.Time{
			"r-soon":     threshold.AddDate(0, 0, 20), // crosses in ~20 days
			"r-clicker":  threshold.AddDate(0, 0, 25), // crosses in ~25 days, then clicks
			"r-60d":      threshold.AddDate(0, 0, 60), // crosses in ~60 days
			"r-later":    threshold.AddDate(0, 6, 0),  // crosses in ~6 months
			"r-crossed":  threshold.AddDate(0, 0, -3), // already inactive: a run would take it now
			"r-struct":   threshold.AddDate(0, 0, 20), // a structure: never in scope
			"r-refused":  threshold.AddDate(0, 0, 20), // refused marketing: not reachable
			"r-explicit": threshold.AddDate(0, 0, 45), // said yes by e-mail
			"r-anon":     threshold.AddDate(0, 0, 20), // anonymised by hand
		}
		var all []event.Event
		for id, at := range recencies {
			c := created(at, events.Profile{Email: events.String(id + "@example.org")})
			if id == "r-struct" {
				c.Role = events.RoleStructure
			}
			evs := []event.Event{ev(t, id, c)}
			switch id {
			case "r-refused":
				// A refusal leaves no "yes": it does not move recency.
				evs = append(evs, ev(t, id, consent(at.AddDate(0, 0, 1), map[string]string{"marketing": "no"})))
			case "r-explicit":
				// The consent is its only activity, given when it was created: recency stays at.
				evs = append(evs, ev(t, id, consent(at, map[string]string{"marketing.email": "yes"})))
			}
			all = append(all, evs...)
		}
		s.send(all...)
		s.mark("r-anon", func(c *store.Contact) { c.Status = store.StatusAnonymised })

		check := func(q url.Values, want []string) []recency.Target {
			t.Helper()
			got := s.targetsOf(q, 0)
			if !slices.Equal(ids(got), want) {
				t.Fatalf("%s: targets = %v, want %v", q.Encode(), ids(got), want)
			}
			for _, tg := range got {
				wantAt := retention.AddMonths(recencies[tg.ContactID], months)
				if tg.CrossesAt == nil || !tg.CrossesAt.Equal(wantAt) {
					t.Errorf("%s crosses_at = %v, want %v", tg.ContactID, tg.CrossesAt, wantAt)
				}
				if !tg.CrossesAt.After(now) {
					t.Errorf("%s crosses at %v, not after now", tg.ContactID, tg.CrossesAt)
				}
			}
			return got
		}
		check(query("channel", "email", "crossing_within", "P3M"), []string{"r-60d", "r-clicker", "r-explicit", "r-soon"})
		check(query("channel", "email", "crossing_within", "P90D"), []string{"r-60d", "r-clicker", "r-explicit", "r-soon"})
		check(query("channel", "email", "crossing_within", "P1M"), []string{"r-clicker", "r-soon"})
		check(query("channel", "email", "crossing_within", "P1Y"), []string{"r-60d", "r-clicker", "r-explicit", "r-later", "r-soon"})
		check(query("channel", "email", "crossing_within", "P3M", "explicit_consent_only", "true"), []string{"r-explicit"})
		check(query("kind", "transactional", "crossing_within", "P3M"), []string{"r-60d", "r-clicker", "r-explicit", "r-refused", "r-soon"})

		var page recency.TargetsPage
		if code := s.getJSON(tokenRead, "/v1/institutions/"+instA+"/targets?channel=email&crossing_within=P3M", &page); code != http.StatusOK {
			t.Fatal(code)
		}
		if page.CrossingWithin != "P3M" || page.InactivityMonths != months || page.HorizonEnd == nil ||
			!page.HorizonEnd.Equal(retention.AddMonths(page.AsOf, 3)) {
			t.Errorf("page header = %+v", page)
		}

		// The renewal campaign's click refreshes recency: the contact leaves the list.
		s.send(ev(t, "r-clicker", &events.CampaignLinkClicked{CampaignID: "renewal", LinkID: "keep-in-touch", ClickedAt: now}))
		if c := s.contact("r-clicker"); !c.Recency.Equal(now) || c.RecencySource.Type != events.TypeCampaignLinkClicked {
			t.Fatalf("after the click recency = %v set by %s", c.Recency, c.RecencySource.Type)
		}
		check(query("channel", "email", "crossing_within", "P3M"), []string{"r-60d", "r-explicit", "r-soon"})
		if nd := s.ndjsonTargets(query("channel", "email", "crossing_within", "P3M")); !slices.Equal(ids(nd), []string{"r-60d", "r-explicit", "r-soon"}) {
			t.Errorf("NDJSON renewal = %v", ids(nd))
		}
	})
}

// The renewal horizon is counted like the retention period: calendar months clamped to the
// end of the month, then days.
func TestAddPeriod(t *testing.T) {
	t.Parallel()
	from := time.Date(2025, 5, 31, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"P3M", time.Date(2025, 8, 31, 12, 0, 0, 0, time.UTC)},
		{"P1M", time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)}, // clamped, not 1 July
		{"P9M", time.Date(2026, 2, 28, 12, 0, 0, 0, time.UTC)},
		{"P90D", time.Date(2025, 8, 29, 12, 0, 0, 0, time.UTC)},
		{"P1Y2M10D", time.Date(2026, 8, 10, 12, 0, 0, 0, time.UTC)},
		{"P2W", time.Date(2025, 6, 14, 12, 0, 0, 0, time.UTC)},
		{"PT36H", time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)},
	} {
		p, err := config.ParsePeriod(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := recency.AddPeriod(from, p); !got.Equal(tc.want) {
			t.Errorf("%s from %v = %v, want %v", tc.in, from, got, tc.want)
		}
	}
}
