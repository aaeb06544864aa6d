package recency_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/audit"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/seal"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
	"github.com/lethe-gdpr/lethe/services/recency"
)

// The personal values the tests send; none may appear anywhere but in a decrypted export.
var personal = map[string]string{
	"email":            "ada.lovelace@example.org",
	"first_name":       "Augusta-Ada",
	"last_name":        "Lovelace-Byron",
	"phone":            "+33 6 12 34 56 78",
	"birth_date":       "1815-12-10",
	"remark":           "prefers the balcony, seat 12",
	"address.line1":    "12 St James's Square",
	"address.postcode": "SW1Y 4JH",
	"address.city":     "Westminster",
	"custom.loyalty":   "gold-4411",
}

// Personal values outside the profile: a legal hold's reason and a criterion's value.
const (
	holdReason     = "dispute-118 with Mrs Lovelace-King"
	criterionValue = "luthier, plays the viola"
)

// beneficiaries of the order's two tickets.
var beneficiaries = [][2]string{{"Annabella", "Milbanke"}, {"Charles", "Babbage"}}

// clearValues identify nobody and stay clear.
var clearValues = map[string]string{"company": "Analytical Engines Ltd", "address.country": "GB"}

func fullProfile() events.Profile {
	return events.Profile{
		Email: events.String(personal["email"]), FirstName: events.String(personal["first_name"]),
		LastName: events.String(personal["last_name"]), Phone: events.String(personal["phone"]),
		Company: events.String(clearValues["company"]), BirthDate: events.String(personal["birth_date"]),
		Remark: events.String(personal["remark"]),
		Address: &events.Address{Line1: events.String(personal["address.line1"]), Postcode: events.String(personal["address.postcode"]),
			City: events.String(personal["address.city"]), Country: events.String(clearValues["address.country"])},
		Custom: map[string]*string{"loyalty": events.String(personal["custom.loyalty"])},
	}
}

// sendFullContact gives the contact one event of every kind the export must show.
func sendFullContact(t *testing.T, s *apiStack, id string, base time.Time) {
	t.Helper()
	day := func(n int) time.Time { return base.AddDate(0, 0, n) }
	order := &events.OrderPlaced{OrderID: "o-1", OrderedAt: day(2), ContactRole: events.ContactRoleBuyer, Items: []events.Item{
		{ProductID: "concert-1", Dated: true, ValidAt: day(40),
			Beneficiary: &events.Beneficiary{FirstName: events.String(beneficiaries[0][0]), LastName: events.String(beneficiaries[0][1])}},
		{ProductID: "programme", Dated: false,
			Beneficiary: &events.Beneficiary{FirstName: events.String(beneficiaries[1][0]), LastName: events.String(beneficiaries[1][1])}},
	}}
	s.send(
		ev(t, id, created(base, fullProfile()), events.WithOrganisation("org-opera")),
		ev(t, id, consent(day(1), map[string]string{"marketing": "yes"})),
		ev(t, id, consent(day(3), map[string]string{"marketing.sms": "no"}), events.WithOrganisation("org-theatre")),
		ev(t, id, order),
		ev(t, id, &events.OptionAcquired{OptionID: "opt-1", At: day(4), Items: []events.Item{{ProductID: "season-pass", Dated: false}}}),
		ev(t, id, &events.BalanceChanged{Balance: 2500, Currency: "EUR", At: day(5)}),
		ev(t, id, &events.SubscriptionChanged{SubscriptionID: "sub-1", Status: "active", At: day(6)}),
		ev(t, id, &events.LegalHoldChanged{Held: true, Reason: holdReason, At: day(7)}),
		ev(t, id, &events.CriterionChanged{Criterion: "profession", Value: criterionValue, ChangedAt: day(1)}),
		ev(t, id, &events.WaitlistJoined{WaitlistID: "wl-1", JoinedAt: day(8)}),
		ev(t, id, &events.CampaignLinkClicked{CampaignID: "camp-1", LinkID: "l-1", ClickedAt: day(9)}),
	)
}

func TestExportHoldsEveryCategoryDecrypted(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newAPIStack(t, st)
		ctx := context.Background()
		base := time.Now().UTC().Truncate(time.Second).AddDate(-1, 0, 0)
		const id = "c-full"
		sendFullContact(t, s, id, base)

		// What ingest stored is sealed: the export has something to decrypt.
		stored := s.contact(id)
		if f := stored.Profile["email"]; !f.Sealed || strings.Contains(f.Value, personal["email"]) {
			t.Fatalf("the projection holds the e-mail as %+v, want it sealed", f)
		}
		// The whole stored document and the activity stream, as they are: nothing in clear.
		doc, _ := json.Marshal(stored)
		assertNoPersonal(t, "the stored contact", string(doc))
		assertNoPersonal(t, "LETHE_ACTIVITY", s.rawActivity())
		if !seal.IsSealed(stored.LegalHold.Reason) || !stored.Criteria["profession"].Sealed {
			t.Fatalf("legal hold %+v, criteria %+v: want the reason and the value sealed", stored.LegalHold, stored.Criteria)
		}
		// A run item and an earlier audit entry about the contact, as the scheduler and the
		// anonymiser record them.
		if err := st.RunItems().Put(ctx, []store.RunItem{{Institution: instA, RunID: "run-1", ContactID: id,
			Outcome: store.OutcomeSkip, Reason: retention.ReasonCredit, Role: "individual", Customer: true,
			Recency: stored.Recency, RecencySource: stored.RecencySource}}); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.New(st.Audit()).Record(ctx, store.AuditEntry{Key: "skip:run-1:" + id, Institution: instA,
			ContactID: id, Actor: "run:run-1", Action: "skipped", Reason: retention.ReasonCredit}); err != nil {
			t.Fatal(err)
		}

		code, hdr, body := s.get(tokenRead, "/v1/institutions/"+instA+"/contacts/"+id+"/export", "")
		if code != http.StatusOK {
			t.Fatalf("export = %d %s", code, body)
		}
		if cc := hdr.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store: the document holds personal data", cc)
		}
		var x recency.Export
		if err := json.Unmarshal(body, &x); err != nil {
			t.Fatal(err)
		}
		// The register's clocks carry lethe.yaml's names, as GET …/register does.
		if !regexp.MustCompile(`"retention":\s*\{\s*"after_last_activity":\s*"P\d+M"\s*\}`).Match(body) || bytes.Contains(body, []byte("AfterLastActivity")) {
			t.Errorf("the export's register does not name its clocks as lethe.yaml does")
		}
		if x.Institution != instA || x.ContactID != id || x.Status != store.StatusActive || x.Kind != "customer" || !x.InScope || x.Role != "individual" {
			t.Errorf("header = %+v", x)
		}

		// Profile: every personal value decrypted, the clear ones as they are.
		got := map[string]recency.ExportField{}
		for _, f := range x.Profile {
			got[f.Field] = f
		}
		for name, want := range personal {
			if f := got[name]; f.Value != want || f.State != recency.StateDecrypted || f.SetBy.Type != events.TypeContactCreated {
				t.Errorf("profile %s = %+v, want %q decrypted, set by the created event", name, f, want)
			}
		}
		for name, want := range clearValues {
			if f := got[name]; f.Value != want || f.State != recency.StateClear {
				t.Errorf("profile %s = %+v, want %q in clear", name, f, want)
			}
		}
		if len(x.Profile) != len(personal)+len(clearValues) {
			t.Errorf("profile has %d fields, want %d", len(x.Profile), len(personal)+len(clearValues))
		}

		// Authorisations, now and their history.
		auth := map[string]string{}
		for _, a := range x.Authorisations {
			auth[a.Name] = a.Value
		}
		if auth["marketing"] != "yes" || auth["marketing.sms"] != "no" || len(auth) != 2 {
			t.Errorf("authorisations = %v", auth)
		}
		if len(x.AuthorisationHistory) != 2 || x.AuthorisationHistory[0].Authorisations["marketing"] != "yes" ||
			x.AuthorisationHistory[1].Authorisations["marketing.sms"] != "no" {
			t.Errorf("authorisation history = %+v", x.AuthorisationHistory)
		}
		if !slices.Equal(x.Organisations, []string{"org-opera", "org-theatre"}) {
			t.Errorf("organisations = %v", x.Organisations)
		}

		// Orders and options, with beneficiaries decrypted.
		if len(x.Orders) != 2 {
			t.Fatalf("orders = %+v, want the order and the option", x.Orders)
		}
		o := x.Orders[0]
		if o.ID != "o-1" || o.Kind != "order" || o.Role != "buyer" || len(o.Items) != 2 {
			t.Fatalf("order = %+v", o)
		}
		for i, it := range o.Items {
			b := it.Beneficiary
			if b == nil || b.FirstName == nil || b.LastName == nil || b.FirstName.Value != beneficiaries[i][0] ||
				b.LastName.Value != beneficiaries[i][1] || b.FirstName.State != recency.StateDecrypted {
				t.Errorf("item %d beneficiary = %+v, want %v decrypted", i, b, beneficiaries[i])
			}
		}
		if o.Items[0].ValidAt == nil || !o.Items[0].ValidAt.Equal(base.AddDate(0, 0, 40)) {
			t.Errorf("item 0 valid_at = %v", o.Items[0].ValidAt)
		}
		if opt := x.Orders[1]; opt.ID != "opt-1" || opt.Kind != "option" || len(opt.Items) != 1 || opt.Items[0].Beneficiary != nil {
			t.Errorf("option = %+v", opt)
		}

		// Blockers and the facts behind them.
		if !slices.Equal(x.Blockers, []string{"credit", "active_subscription", "legal_hold"}) {
			t.Errorf("blockers = %v", x.Blockers)
		}
		if x.Balance == nil || x.Balance.Amount != 2500 || x.LegalHold == nil || !x.LegalHold.Held ||
			len(x.Subscriptions) != 1 || x.Subscriptions[0].ID != "sub-1" || x.Subscriptions[0].Status != "active" {
			t.Errorf("balance %+v, legal hold %+v, subscriptions %+v", x.Balance, x.LegalHold, x.Subscriptions)
		}
		if r := x.LegalHold.Reason; r == nil || r.Value != holdReason || r.State != recency.StateDecrypted {
			t.Errorf("legal hold reason %+v, want it decrypted", r)
		}
		if len(x.Criteria) != 1 || x.Criteria[0].Name != "profession" || x.Criteria[0].Value != criterionValue ||
			x.Criteria[0].State != recency.StateDecrypted || x.Criteria[0].SetBy.Type != events.TypeCriterionChanged {
			t.Errorf("criteria %+v, want the value decrypted", x.Criteria)
		}
		// The contact view (read scope) shows no personal value, sealed or not.
		if _, _, view := s.get(tokenRead, "/v1/institutions/"+instA+"/contacts/"+id, ""); bytes.Contains(view, []byte(seal.Prefix)) {
			t.Errorf("GET contact shows a sealed value: %s", view)
		}

		// Recency and the event that set it: the dated ticket, 40 days after creation.
		if x.Recency == nil || !x.Recency.Date.Equal(base.AddDate(0, 0, 40)) || x.Recency.SetBy.Type != events.TypeOrderPlaced ||
			x.Recency.InactivityMonths != months || !x.Recency.InactiveFrom.Equal(retention.AddMonths(base.AddDate(0, 0, 40), months)) {
			t.Errorf("recency = %+v", x.Recency)
		}

		// Technical data of the requests that carried the events (the register declares it):
		// sealed by ingest under technical.*, opened here, kept for the after_collection window.
		if len(x.Technical) == 0 {
			t.Fatalf("technical data = none, want the requests' IP address and user agent")
		}
		for _, td := range x.Technical {
			if td.IP == nil || td.IP.State != recency.StateDecrypted || td.IP.Value != "127.0.0.1" ||
				td.UserAgent == nil || td.UserAgent.State != recency.StateDecrypted || td.UserAgent.Value == "" {
				t.Errorf("technical record %+v ip %+v user agent %+v, want both decrypted", td, td.IP, td.UserAgent)
			}
			if td.KeptUntil == nil || !td.KeptUntil.Equal(retention.AddMonths(td.CollectedAt, 12)) {
				t.Errorf("technical record kept until %v, want collection + P12M", td.KeptUntil)
			}
		}

		// Run items and audit entries about the contact, the export itself included.
		if len(x.RunItems) != 1 || x.RunItems[0].RunID != "run-1" || x.RunItems[0].Reason != "credit" {
			t.Errorf("run items = %+v", x.RunItems)
		}
		if len(x.Audit) != 2 || x.Audit[0].Action != "skipped" || x.Audit[1].Action != "exported" ||
			x.Audit[1].Actor != "token:"+readerName {
			t.Fatalf("audit = %+v, want the skip then this export by token:%s", x.Audit, readerName)
		}

		// Register: why each category is kept and for how long.
		if len(x.Register) != 2 || x.Register[0].Category != "email" || x.Register[0].Purpose == "" ||
			x.Register[0].KeptUntil == nil || !x.Register[0].KeptUntil.Equal(retention.AddMonths(x.Recency.Date, 36)) ||
			x.Register[1].Retention.AfterCollection != "P12M" {
			t.Errorf("register = %+v", x.Register)
		}

		// The export is audited in the log itself, with no personal value in it.
		entries, err := st.Audit().ForContact(ctx, instA, id)
		if err != nil {
			t.Fatal(err)
		}
		last := entries[len(entries)-1]
		if last.Action != "exported" || last.Actor != "token:"+readerName || last.Institution != instA ||
			!strings.HasPrefix(last.Key, "export:") || last.At.IsZero() {
			t.Errorf("export audit entry = %+v", last)
		}
		raw, _ := json.Marshal(entries)
		assertNoPersonal(t, "the audit log", string(raw))
		// A second export is a second entry: each access is accounted for.
		if code, _, _ := s.get(tokenRead, "/v1/institutions/"+instA+"/contacts/"+id+"/export", ""); code != http.StatusOK {
			t.Fatalf("second export = %d", code)
		}
		if again, _ := st.Audit().ForContact(ctx, instA, id); len(again) != len(entries)+1 {
			t.Errorf("after a second export the log holds %d entries about the contact, want %d", len(again), len(entries)+1)
		}
		assertNoPersonal(t, "the logs", s.logs.String())
	})
}

func TestExportRefusals(t *testing.T) {
	t.Parallel()
	s := newAPIStack(t, backendtest.Pebble(t))
	s.send(ev(t, "c-1", created(time.Now().UTC().Truncate(time.Second), events.Profile{Email: events.String(personal["email"])})))
	path := "/v1/institutions/" + instA + "/contacts/c-1/export"
	for _, tc := range []struct {
		name, token, path string
		want              int
	}{
		{"no token", "", path, http.StatusUnauthorized},
		{"ingest scope only", tokenIngest, path, http.StatusForbidden},
		// Reading reports is not reading personal data: the export needs its own scope.
		{"read scope without export", tokenReports, path, http.StatusForbidden},
		{"another institution's token", tokenReadB, path, http.StatusForbidden},
		{"unknown contact", tokenRead, "/v1/institutions/" + instA + "/contacts/nobody/export", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := s.get(tc.token, tc.path, "")
			if code != tc.want || !strings.HasPrefix(hdr.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("= %d %s %s, want %d problem", code, hdr.Get("Content-Type"), body, tc.want)
			}
			assertNoPersonal(t, "the problem", string(body))
		})
	}
	// Refused requests disclose nothing and record nothing.
	if entries, err := s.store.Audit().ForContact(context.Background(), instA, "c-1"); err != nil || len(entries) != 0 {
		t.Fatalf("audit after refused exports = %v %v, want none", entries, err)
	}
}

func TestExportOfAnonymisedContactHoldsNoPersonalValue(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newAPIStack(t, st)
		ctx := context.Background()
		const id = "c-anon"
		sendFullContact(t, s, id, time.Now().UTC().Truncate(time.Second).AddDate(-4, 0, 0))

		// The anonymiser's work, by hand: personal profile fields removed (country and company
		// kept), status anonymised, key destroyed. The beneficiaries' sealed names are left
		// in place on purpose: without the key they must read as erased, not fail the export.
		erasedAt := time.Now().UTC().Truncate(time.Second)
		s.mark(id, func(c *store.Contact) {
			for name := range personal {
				delete(c.Profile, name)
			}
			c.Status, c.ErasedAt, c.ErasedBy = store.StatusAnonymised, erasedAt, "request:req-7"
		})
		if err := s.sealer.Destroy(ctx, instA, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.sealer.ForRead(ctx, instA, id); !errors.Is(err, seal.ErrKeyDestroyed) {
			t.Fatalf("key after Destroy: %v", err)
		}

		code, _, body := s.get(tokenRead, "/v1/institutions/"+instA+"/contacts/"+id+"/export", "")
		if code != http.StatusOK {
			t.Fatalf("export of an anonymised contact = %d %s, want 200", code, body)
		}
		assertNoPersonal(t, "the export of an anonymised contact", string(body))
		if strings.Contains(string(body), seal.Prefix) {
			t.Errorf("the export shows a sealed value: %s", body)
		}
		var x recency.Export
		if err := json.Unmarshal(body, &x); err != nil {
			t.Fatal(err)
		}
		if x.Status != store.StatusAnonymised || x.Erasure == nil || x.Erasure.By != "request:req-7" ||
			x.Erasure.At == nil || !x.Erasure.At.Equal(erasedAt) || !strings.Contains(x.Summary, "anonymised") {
			t.Errorf("status %q, erasure %+v, summary %q", x.Status, x.Erasure, x.Summary)
		}
		// Only what is left: the clear fields, and the order history without names.
		if len(x.Profile) != len(clearValues) {
			t.Errorf("profile = %+v, want only %v", x.Profile, clearValues)
		}
		for _, f := range x.Profile {
			if f.Value != clearValues[f.Field] || f.State != recency.StateClear {
				t.Errorf("profile field %+v", f)
			}
		}
		if len(x.Orders) != 2 || len(x.Orders[0].Items) != 2 {
			t.Fatalf("orders = %+v", x.Orders)
		}
		for _, it := range x.Orders[0].Items {
			if b := it.Beneficiary; b == nil || b.FirstName.State != recency.StateErased || b.FirstName.Value != "" ||
				b.LastName.State != recency.StateErased || b.LastName.Value != "" {
				t.Errorf("beneficiary = %+v, want erased with no value", b)
			}
		}
		if len(x.Technical) == 0 {
			t.Errorf("technical data = none, want the records left in place, read as erased")
		}
		for _, td := range x.Technical {
			if td.IP == nil || td.IP.State != recency.StateErased || td.IP.Value != "" {
				t.Errorf("technical record %+v ip %+v, want erased with no value", td, td.IP)
			}
		}
		if len(x.Audit) == 0 || x.Audit[len(x.Audit)-1].Action != "exported" {
			t.Errorf("audit = %+v, want the export recorded", x.Audit)
		}
		// The legal hold's reason and the criterion's value were left sealed: erased with the key.
		if x.LegalHold == nil || x.LegalHold.Reason == nil || x.LegalHold.Reason.State != recency.StateErased || x.LegalHold.Reason.Value != "" {
			t.Errorf("legal hold %+v, want its reason erased", x.LegalHold)
		}
		if len(x.Criteria) != 1 || x.Criteria[0].State != recency.StateErased || x.Criteria[0].Value != "" {
			t.Errorf("criteria %+v, want the value erased", x.Criteria)
		}
		assertNoPersonal(t, "the logs", s.logs.String())

		// Anonymisation itself leaves not even the sealed copies in the projection.
		s.mark(id, func(c *store.Contact) { *c = retention.Erase(*c, store.OutcomeAnonymise, "request:req-7", erasedAt) })
		if c := s.contact(id); c.LegalHold.Reason != "" || c.Criteria != nil || !c.LegalHold.Held {
			t.Errorf("after Erase: legal hold %+v, criteria %v", c.LegalHold, c.Criteria)
		}
	})
}

func assertNoPersonal(t *testing.T, where, text string) {
	t.Helper()
	for _, v := range []string{holdReason, criterionValue} {
		if strings.Contains(text, v) {
			t.Errorf("%s holds %q in clear", where, v)
		}
	}
	for name, v := range personal {
		if strings.Contains(text, v) {
			t.Errorf("%s holds the %s value", where, name)
		}
	}
	for _, b := range beneficiaries {
		for _, v := range b {
			if strings.Contains(text, v) {
				t.Errorf("%s holds a beneficiary's name", where)
			}
		}
	}
}
