package audit

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// ProblemBroken is the type of the problem answered when the chain is broken.
const ProblemBroken = "urn:lethe:problem:audit-chain-broken"

// brokenProblem is an RFC 9457 problem with the break and the report as extension members.
type brokenProblem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance,omitempty"`
	Seq      int64  `json:"seq"`
	Reason   string `json:"reason"`
	Report   Report `json:"report"`
}

// VerifyHandler answers GET with Verify's Report as JSON: 200 when the chain is intact, 409
// application/problem+json naming the broken seq when it is not. It checks no credentials:
// mount it behind the admin scope.
func VerifyHandler(a store.Audit) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusMethodNotAllowed, "use GET"))
			return
		}
		rep, err := Verify(r.Context(), a)
		var broken *BrokenError
		switch {
		case err == nil:
			httpapi.WriteJSON(w, http.StatusOK, rep)
		case errors.As(err, &broken):
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(brokenProblem{
				Type: ProblemBroken, Title: "Audit chain broken", Status: http.StatusConflict,
				Detail: broken.Error(), Instance: r.URL.Path,
				Seq: broken.Seq, Reason: broken.Reason, Report: rep,
			})
		case r.Context().Err() != nil:
			// The caller went away; nobody reads the answer.
		default:
			// The store's error may name internals: not shown.
			httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusInternalServerError, "the audit log could not be read"))
		}
	})
}
