package console

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
)

type overviewData struct {
	Summary api.SummaryView
	Chart   histogramChart
	Blocked barChart
	Runs    []api.RunView
	Bucket  string
	// Destinations is each downstream destination's backlog of unconfirmed outcomes.
	Destinations []api.DestinationView
	LateAfter    string
}

// overview is the institution at a glance: GET …/summary (one scan bounded by the
// institution), the last runs, and the destinations' backlogs (GET …/destinations): a
// destination that stopped confirming is an alert, so it is on the first page, not a click away.
func (s *Service) overview(w http.ResponseWriter, r *http.Request, sess *session) {
	inst := r.PathValue("inst")
	bucket := r.URL.Query().Get("bucket")
	if bucket != api.BucketMonth {
		bucket = api.BucketQuarter
	}
	c := s.api(sess)
	var sum api.SummaryView
	if err := c.JSON(r.Context(), http.MethodGet, "/v1/institutions/"+inst+"/summary?bucket="+bucket, nil, &sum); err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	runs, err := c.Runs(r.Context(), inst, 5)
	if err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	var dests api.DestinationList
	if err := c.JSON(r.Context(), http.MethodGet, client.DestinationsPath(inst), nil, &dests); err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	var blocked []bar
	for _, reason := range []string{"debt", "credit", "active_subscription", "legal_hold"} {
		if n := sum.OverdueBlocked[reason]; n > 0 {
			blocked = append(blocked, bar{Label: label(reason), Count: n})
		}
	}
	s.render(w, r, http.StatusOK, "overview", view{Title: "Overview", Session: sess, Inst: inst, Nav: "overview",
		Data: overviewData{Summary: sum, Chart: chartOf(sum), Blocked: layoutBars(blocked, 170, 190), Runs: runs.Runs, Bucket: bucket,
			Destinations: dests.Destinations, LateAfter: age(api.DestinationLateAfter)}})
}

// renewalCSV downloads the renewal list: the reachable contacts who cross the threshold
// within the horizon (GET …/targets?crossing_within=…, as CSV).
func (s *Service) renewalCSV(w http.ResponseWriter, r *http.Request, sess *session) {
	inst := r.PathValue("inst")
	within := r.URL.Query().Get("within")
	if !slices.Contains([]string{"P1M", "P3M", "P6M"}, within) {
		s.fail(w, r, sess, http.StatusBadRequest, "The horizon is P1M, P3M or P6M.")
		return
	}
	q := url.Values{"crossing_within": {within}}
	s.download(w, r, sess, "/v1/institutions/"+inst+"/targets?"+q.Encode(), fmt.Sprintf("%s-renewal-%s.csv", inst, within))
}

// download streams an API export to the browser as a CSV attachment.
func (s *Service) download(w http.ResponseWriter, r *http.Request, sess *session, path, filename string) {
	s.downloadAs(w, r, sess, path, "text/csv", filename)
}

// downloadAs streams an API answer of media type accept to the browser as an attachment.
func (s *Service) downloadAs(w http.ResponseWriter, r *http.Request, sess *session, path, accept, filename string) {
	resp, err := s.api(sess).Do(r.Context(), client.Request{Method: http.MethodGet, Path: path, Accept: accept})
	if err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	secureHeaders(w)
	ct := accept
	if accept == "text/csv" {
		ct = "text/csv; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, resp.Body); err != nil {
		s.log.Warn("console: download cut short", "path", r.URL.Path, "err", err)
	}
}
