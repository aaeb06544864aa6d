package console_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/config"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/platform"
	"github.com/lethe-gdpr/lethe/pkg/receipt"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
	"github.com/lethe-gdpr/lethe/services/console"
)

// TestConsoleAsAnOperator drives the console in headless Chromium against a real lethe serve
// holding a demo institution sent through the API: sign in, the overview, a simulation, its
// report filtered and downloaded, an apply behind its typed confirmation with one contact
// drifting, the outcomes; a contact's page and its right-of-access download; the register
// and the audit chain. Then a token without erase sees no apply and its forged POST is
// refused, a POST without the CSRF token is refused, and no page nor address ever held a
// personal value of the demo. UPDATE_SCREENSHOTS=1 writes the screenshots to docs/screenshots.
func TestConsoleAsAnOperator(t *testing.T) {
	ctx, dlDir := browserContext(t)
	s := serve(t)
	now := time.Now().UTC()
	d := newDemo(inst, 300, now)
	d.send(t, s.base, s.ingest)
	testkit.Eventually(t, "the demo folded into the projection", func() error {
		var sum api.SummaryView
		if st := s.apiGet(t, "/v1/institutions/"+inst+"/summary", &sum); st != http.StatusOK {
			return fmt.Errorf("summary: %d", st)
		}
		return testkit.Equal("active contacts", sum.Statuses["active"], len(d.contacts))
	})

	shots := t.TempDir()
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		shots = filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	o := &operator{t: t, ctx: ctx, base: s.base, shots: shots, dlDir: dlDir}

	// Sign in: a wrong token is refused, the DPO's lands on the institution's overview.
	o.signIn("not-a-token")
	o.page(`^/ui/signin$`, "That token is not one this Lethe knows.")
	o.screenshot("signin")
	o.signIn(s.dpo)
	text := o.page(`^/ui/i/`+inst+`/$`, "Contacts by status")
	var sum api.SummaryView
	s.apiGet(t, "/v1/institutions/"+inst+"/summary", &sum)
	for _, want := range []string{"inactivity threshold " + sum.Threshold.Format("2006-01-02"), "Overdue but blocked, by reason",
		fmt.Sprintf("%d contacts would be erased by a run today", sum.Overdue), "Crossing the threshold soon"} {
		if !strings.Contains(text, want) {
			t.Errorf("overview does not say %q", want)
		}
	}
	if sum.OverdueBlocked["debt"] == 0 || sum.Overdue == 0 {
		t.Fatalf("the demo has no overdue or no debt: %+v", sum)
	}
	o.cookie() // HttpOnly and SameSite=Strict
	// The keyboard: the first Tab reaches the skip link, which moves focus to the content.
	o.run("tab", chromedp.KeyEvent(kb.Tab))
	if got := value(o, "focus", chromedp.Evaluate[string](`document.activeElement.textContent`)); got != "Skip to content" {
		t.Errorf("the first Tab focuses %q, want the skip link", got)
	}

	// The renewal list, downloaded: the contacts the API lists as crossing within 3 months.
	renewal := o.download(chromedp.Click(chromedp.CSS(`a[href$="renewal.csv?within=P3M"]`)))
	rows := readCSV(t, renewal)
	if want := sum.Crossing[1].Reachable; len(rows)-1 != want || want == 0 {
		t.Errorf("renewal CSV: %d rows, the overview counts %d reachable contacts crossing within P3M", len(rows)-1, want)
	}

	// Start a simulation as of today, with the policy's period.
	o.visit("/ui/i/"+inst+"/runs", "Start a simulation")
	o.run("start a simulation", chromedp.Click(button("Start the simulation")))
	text = o.page(`^/ui/i/`+inst+`/runs/run-`, "What it would do")
	u, _ := url.Parse(o.location())
	simID := filepath.Base(u.Path)
	var sim api.RunView
	s.apiGet(t, "/v1/institutions/"+inst+"/runs/"+simID, &sim)
	if sim.State != "planned" || sim.Counts["delete"] == 0 || sim.Counts["anonymise"] == 0 || sim.Counts["skip"] == 0 {
		t.Fatalf("simulation %s: %+v; the demo should plan every outcome", simID, sim)
	}
	if !strings.Contains(text, "Apply this run") {
		t.Error("the DPO's report offers no apply")
	}
	o.screenshotTop("report")
	o.visit("/ui/i/"+inst+"/", "Last runs")
	o.screenshot("overview")
	o.run("back to the report", chromedp.Navigate(s.base+"/ui/i/"+inst+"/runs/"+simID))
	o.page(`^/ui/i/`+inst+`/runs/`+simID+`$`, "What it would do")

	// Filter: the skips for debt only, every row says so; their CSV holds exactly them.
	o.run("filter", chromedp.SetValue(chromedp.ID("outcome"), "skip"), chromedp.SetValue(chromedp.ID("reason"), "debt"),
		chromedp.Click(button("Filter")))
	o.page(`^/ui/i/`+inst+`/runs/`+simID+`$`, fmt.Sprintf("%d contacts match this filter", sim.Reasons["debt"]))
	cells := value(o, "read the rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll("table.items tbody tr td:nth-child(3)")].map(td => td.textContent)`))
	if len(cells) != min(sim.Reasons["debt"], 50) {
		t.Errorf("filtered report: %d rows, want %d (debt skips)", len(cells), sim.Reasons["debt"])
	}
	for _, c := range cells {
		if c != "debt (owes money)" {
			t.Errorf("filtered by debt, a row says %q", c)
		}
	}
	o.screenshot("report-filtered")
	rows = readCSV(t, o.download(chromedp.Click(chromedp.CSS(`a[href*="items.csv"]`))))
	if len(rows)-1 != sim.Reasons["debt"] || rows[0][0] != "contact_id" {
		t.Errorf("filtered CSV: %d rows (header %v), want %d", len(rows)-1, rows[0], sim.Reasons["debt"])
	}
	for _, r := range rows[1:] {
		if r[1] != "skip" || r[2] != "debt" {
			t.Errorf("filtered CSV row %v", r)
		}
	}
	// Paging: the unfiltered items, 50 a page, next page after the first.
	o.visit("/ui/i/"+inst+"/runs/"+simID, "What it would do")
	o.run("next page", chromedp.Click(chromedp.CSS(`a[rel="next"]`)))
	o.page(`^/ui/i/`+inst+`/runs/`+simID+`$`, "First page")

	// Drift: one contact the plan deletes clicks a link before the apply.
	var toDelete api.ItemsPage
	s.apiGet(t, "/v1/institutions/"+inst+"/runs/"+simID+"/items?outcome=delete&limit=1", &toDelete)
	drifter := toDelete.Items[0].ContactID
	click, err := events.New("/marketing", inst, drifter, &events.CampaignLinkClicked{CampaignID: "renewal", LinkID: "stay", ClickedAt: now},
		events.WithID("drift-click"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := events.MarshalBatch([]event.Event{click})
	postEvents(t, s.base, s.ingest, body)
	testkit.Eventually(t, drifter+" active again", func() error {
		var c api.ContactView
		s.apiGet(t, "/v1/institutions/"+inst+"/contacts/"+drifter, &c)
		if c.RecencySource == nil || c.RecencySource.EventID != "drift-click" {
			return fmt.Errorf("recency source %v", c.RecencySource)
		}
		return nil
	})

	// Apply: the confirmation names the count and wants the institution's id typed.
	o.run("apply", chromedp.Click(link("Apply this run…")))
	erase := sim.Counts["delete"] + sim.Counts["anonymise"]
	o.page(`^/ui/i/`+inst+`/runs/`+simID+`/apply$`, fmt.Sprintf("This will erase %d contacts", erase))
	o.screenshot("apply-confirm")
	o.run("confirm wrongly", chromedp.SendKeys(chromedp.ID("confirm"), "demo"), chromedp.Submit(chromedp.ID("confirm")))
	o.page(`^/ui/i/`+inst+`/runs/`+simID+`/apply$`, "Type the institution's id, "+inst+", exactly")
	if st := s.apiGet(t, "/v1/institutions/"+inst+"/runs/apply-"+simID, nil); st != http.StatusNotFound {
		t.Fatalf("a wrong confirmation applied the run: %d", st)
	}
	o.run("confirm", chromedp.SendKeys(chromedp.ID("confirm"), inst), chromedp.Submit(chromedp.ID("confirm")))
	text = o.page(`^/ui/i/`+inst+`/runs/apply-`+simID+`$`, "Completed")
	var applied api.RunView
	s.apiGet(t, "/v1/institutions/"+inst+"/runs/apply-"+simID, &applied)
	if applied.Reasons["became_active"] != 1 || applied.Counts["delete"] != sim.Counts["delete"]-1 {
		t.Errorf("apply: %+v; want the drifter skipped as became_active", applied)
	}
	for _, want := range []string{"Planned and happened", "skip: became active since the plan", "differs"} {
		if !strings.Contains(text, want) {
			t.Errorf("the completed apply run does not say %q", want)
		}
	}
	o.screenshotTop("apply-completed")
	o.visit("/ui/i/"+inst+"/runs/"+simID, "This simulation was applied")
	o.visit("/ui/i/"+inst+"/runs", "All runs, newest first")
	o.screenshot("runs")
	o.visit("/ui/i/"+inst+"/", "Last runs")
	o.screenshot("overview-after-apply")

	// The destinations panel says what GET …/destinations says: the apply's erasures await
	// crm-demo. One confirmation, sent as the destination through POST /v1/events, moves one
	// from unconfirmed to confirmed on the panel and on the erased contact's page.
	erased := int64(applied.Counts["delete"] + applied.Counts["anonymise"])
	dests := destinationsAre(t, s, o, "the apply's erasures unconfirmed", 0, erased)
	if d := dests[0]; d.OldestUnconfirmedAt == nil || d.Late() {
		t.Errorf("crm-demo %+v: want an oldest unconfirmed outcome, not late", d)
	}
	var gone api.ItemsPage
	s.apiGet(t, "/v1/institutions/"+inst+"/runs/apply-"+simID+"/items?outcome=delete&limit=2", &gone)
	var erasedID string
	for _, it := range gone.Items {
		if it.Result == "deleted" {
			erasedID = it.ContactID
		}
	}
	if erasedID == "" {
		t.Fatalf("no deleted contact among %+v", gone.Items)
	}
	text = o.visit("/ui/i/"+inst+"/contacts?id="+erasedID, "Erasure receipt")
	if got := receiptRows(o); fmt.Sprint(got) != "[crm-demo not yet —]" {
		t.Errorf("%s's page: destinations %v, want crm-demo not yet confirmed", erasedID, got)
	}
	var rc receipt.Receipt
	if err := json.Unmarshal(o.download(chromedp.Click(link("Download the signed erasure receipt"))), &rc); err != nil ||
		rc.ContactID != erasedID || rc.Outcome != "deleted" || rc.Signature == nil || rc.OutcomeEvent.ID == "" {
		t.Fatalf("the receipt downloaded from %s's page: %+v (%v)", erasedID, rc, err)
	}
	confirm, err := events.New("/crm-demo", inst, erasedID, events.ErasureConfirmed{Destination: "crm-demo", OutcomeID: rc.OutcomeEvent.ID,
		ConfirmedAt: now.Truncate(time.Second)}, events.WithID("crm-demo-confirm-1"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = events.MarshalBatch([]event.Event{confirm})
	postEvents(t, s.base, s.crm, body)
	destinationsAre(t, s, o, "one erasure confirmed", 1, erased-1)
	o.screenshot("overview-destinations")
	o.visit("/ui/i/"+inst+"/contacts?id="+erasedID, "Erasure receipt")
	if got := receiptRows(o); len(got) != 3 || got[0] != "crm-demo" || got[1] != "yes" || !strings.HasPrefix(got[2], now.Format("2006-01-02")) {
		t.Errorf("%s's page after the confirmation: destinations %v, want crm-demo confirmed today", erasedID, got)
	}
	o.screenshot("contact-erased")

	// A contact: why it is still here, its blockers, its runs; the right-of-access download.
	var kept api.ItemsPage
	s.apiGet(t, "/v1/institutions/"+inst+"/runs/"+simID+"/items?outcome=skip&reason=debt&limit=1", &kept)
	debtor := kept.Items[0].ContactID
	o.visit("/ui/i/"+inst+"/contacts", "Contact id")
	o.run("look up", chromedp.SendKeys(chromedp.ID("id"), debtor), chromedp.Submit(chromedp.ID("id")))
	text = o.page(`^/ui/i/`+inst+`/contacts$`, "Why is it still here?")
	for _, want := range []string{"but a run skips it while it has: debt (owes money)", simID, "apply-" + simID, "skipped"} {
		if !strings.Contains(text, want) {
			t.Errorf("contact %s's page does not say %q", debtor, want)
		}
	}
	o.screenshot("contact")
	export := o.download(chromedp.Click(button("Download the right-of-access export")))
	if !bytes.Contains(export, []byte("@example.org")) {
		t.Errorf("the right-of-access download holds no e-mail address: %.200s", export)
	}
	// An erasure request for the debtor is blocked by its debt: the requests page lists it
	// open, due in a month, its blocker named.
	var req api.RequestView
	if st := s.apiPost(t, "/v1/institutions/"+inst+"/contacts/"+debtor+"/erasure", &req); st != http.StatusAccepted {
		t.Fatalf("erasure request for %s: %d", debtor, st)
	}
	testkit.Eventually(t, "the request blocked", func() error {
		s.apiGet(t, "/v1/requests/"+req.ID, &req)
		return testkit.Equal("state", req.State, "blocked")
	})
	o.visit("/ui/i/"+inst+"/requests", "Open requests of "+inst)
	row := value(o, "the requests table", chromedp.Evaluate[[]string](`[...document.querySelectorAll("table.requests tbody tr > *")].map(c => c.textContent.trim())`))
	if want := []string{req.ID, "erasure", debtor, "blocked", req.ReceivedAt.UTC().Format(time.DateOnly), req.DueAt.UTC().Format(time.DateOnly), "debt (owes money)", "—"}; fmt.Sprint(row) != fmt.Sprint(want) || req.Overdue {
		t.Errorf("the requests page: %q, want %q", row, want)
	}
	o.screenshot("requests")
	// Register and audit.
	o.visit("/ui/i/"+inst+"/register", "Register of processing of "+inst)
	o.screenshot("register")
	o.visit("/ui/audit?inst="+inst, "Intact")
	o.screenshot("audit")

	// A forecast (a day after today) is readable and marked, never appliable.
	o.visit("/ui/i/"+inst+"/runs", "Start a simulation")
	o.run("start a forecast", chromedp.SetValue(chromedp.ID("as_of"), now.AddDate(1, 0, 0).Format(time.DateOnly)),
		chromedp.Click(button("Start the simulation")))
	text = o.page(`^/ui/i/`+inst+`/runs/run-`, "a look ahead, never appliable")
	if strings.Contains(text, "Apply this run") {
		t.Error("a forecast offers an apply")
	}
	forecast := filepath.Base(o.location())
	o.visit("/ui/i/"+inst+"/runs/"+forecast+"/apply", "Only a planned simulation as of a date that has come can be applied")

	// A POST without the CSRF token is refused, and starts nothing.
	dpoCookie := o.cookie()
	before := runCount(t, s)
	if st := postForm(t, s.base+"/ui/i/"+inst+"/runs", dpoCookie, url.Values{"as_of": {""}}); st != http.StatusForbidden {
		t.Errorf("POST without a CSRF token: %d, want 403", st)
	}
	if after := runCount(t, s); after != before {
		t.Errorf("a POST without a CSRF token started a run (%d → %d)", before, after)
	}
	o.signOut()

	// The analyst (no erase): a report without apply, and a forged apply refused.
	o.signIn(s.analyst)
	o.page(`^/ui/i/`+inst+`/$`, "Contacts by status")
	o.run("start a simulation", chromedp.Navigate(s.base+"/ui/i/"+inst+"/runs"))
	o.page(`/runs$`, "Start a simulation")
	o.run("start", chromedp.Click(button("Start the simulation")))
	text = o.page(`^/ui/i/`+inst+`/runs/run-`, "What it would do")
	if strings.Contains(text, "Apply this run") || !strings.Contains(text, "Applying a run needs the erase scope") {
		t.Error("the analyst's report offers an apply")
	}
	u, _ = url.Parse(o.location())
	second := filepath.Base(u.Path)
	csrf := value(o, "the page's CSRF token", chromedp.Evaluate[string](`document.querySelector('input[name="csrf"]').value`))
	analyst := o.cookie()
	if st := postForm(t, s.base+"/ui/i/"+inst+"/runs/"+second+"/apply", analyst, url.Values{"csrf": {csrf}, "confirm": {inst}}); st != http.StatusForbidden {
		t.Errorf("the analyst's forged apply: %d, want 403", st)
	}
	o.visit("/ui/i/"+inst+"/runs/"+second+"/apply", "Applying a run needs the erase scope")
	// Nor the right of access without export: no button, and a forged POST is 403.
	o.visit("/ui/i/"+inst+"/contacts?id="+debtor, "The right-of-access export needs the export scope")
	if st := postForm(t, s.base+"/ui/i/"+inst+"/contacts/"+debtor+"/export", analyst, url.Values{"csrf": {csrf}}); st != http.StatusForbidden {
		t.Errorf("the analyst's forged export: %d, want 403", st)
	}
	if st := s.apiGet(t, "/v1/institutions/"+inst+"/runs/apply-"+second, nil); st != http.StatusNotFound {
		t.Errorf("the analyst's forged apply applied the run: %d", st)
	}
	o.signOut()

	// The console apart from the API (--target console --console-api): the same pages
	// through the API's URL.
	remoteConsole(t, s)

	// No personal value of the demo in any page or address the operator saw.
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range o.seen {
		for _, v := range d.personal {
			if strings.Contains(p.url, v) || strings.Contains(p.url, url.QueryEscape(v)) || strings.Contains(p.html, v) {
				t.Errorf("%s shows the personal value %q", p.url, v)
			}
		}
		for _, v := range append(firstNames, lastNames...) {
			if regexp.MustCompile(`\b` + regexp.QuoteMeta(v) + `\b`).MatchString(p.html) {
				t.Errorf("%s shows the name %q", p.url, v)
			}
		}
	}
	t.Logf("%d pages swept for %d personal values", len(o.seen), len(d.personal))
}

// destinationsAre waits until GET …/destinations gives crm-demo the counts, then checks that
// the overview's panel shows the API's figures, cell by cell; it returns the API's view.
func destinationsAre(t *testing.T, s served, o *operator, what string, confirmed, unconfirmed int64) []api.DestinationView {
	t.Helper()
	var l api.DestinationList
	testkit.Eventually(t, what, func() error {
		s.apiGet(t, "/v1/institutions/"+inst+"/destinations", &l)
		if len(l.Destinations) != 1 || l.Destinations[0].Name != "crm-demo" {
			return fmt.Errorf("destinations %+v", l.Destinations)
		}
		d := l.Destinations[0]
		return errors.Join(testkit.Equal("confirmed", d.Confirmed, confirmed), testkit.Equal("unconfirmed", d.Unconfirmed, unconfirmed))
	})
	d := l.Destinations[0]
	o.visit("/ui/i/"+inst+"/", "Destinations")
	cells := value(o, "the destinations panel", chromedp.Evaluate[[]string](`[...document.querySelectorAll("table.destinations tbody tr > *")].map(c => c.textContent.trim())`))
	oldest := "—"
	if d.OldestUnconfirmedAt != nil {
		oldest = d.OldestUnconfirmedAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	if len(cells) != 7 || cells[0] != "crm-demo" || cells[1] != fmt.Sprint(d.Confirmed) || cells[2] != fmt.Sprint(d.Unconfirmed) ||
		cells[3] != oldest || cells[4] == "" || cells[5] != fmt.Sprint(d.Unmatched) || cells[6] != "waiting" {
		t.Errorf("%s: the destinations panel says %q; the API %+v", what, cells, d)
	}
	return l.Destinations
}

// receiptRows reads the erased contact's page's table of destinations' confirmations.
func receiptRows(o *operator) []string {
	o.t.Helper()
	return value(o, "the receipt's destinations", chromedp.Evaluate[[]string](`[...document.querySelectorAll("table.receipt-destinations tbody tr > *")].map(c => c.textContent.trim())`))
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("CSV: %v (%.200s)", err, b)
	}
	return rows
}

func runCount(t *testing.T, s served) int {
	t.Helper()
	var l api.RunsList
	s.apiGet(t, "/v1/institutions/"+inst+"/runs", &l)
	return len(l.Runs)
}

// postForm posts a form with the session cookie, as a script or another tab would.
func postForm(t *testing.T, target string, c *http.Cookie, form url.Values) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(c)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// remoteConsole serves a second console that calls the API at its URL, as a `lethe serve
// --target console --console-api <gateway>` does, and reads the overview through it.
func remoteConsole(t *testing.T, s served) {
	t.Helper()
	file, err := config.Load(s.config)
	if err != nil {
		t.Fatal(err)
	}
	c, err := console.New(platform.Deps{Auth: httpapi.NewAuthenticator(file.Tokens), Config: file}, console.WithAPI(s.base))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(hs.URL + "/ui/signin?next=/ui/i/" + inst + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field on the remote console's sign-in page")
	}
	resp, err = hc.PostForm(hs.URL+"/ui/signin", url.Values{"csrf": {string(m[1])}, "token": {s.analyst}, "next": {"/ui/i/" + inst + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("Contacts by status")) || !bytes.Contains(page, []byte("inactivity threshold")) {
		t.Errorf("the overview through --console-api: %d %.300s", resp.StatusCode, page)
	}
}
