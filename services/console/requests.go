package console

import (
	"net/http"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

type requestsData struct {
	Open    []api.RequestView
	Overdue int
}

// requests lists the institution's open requests by deadline (GET …/requests?state=…, the
// open states): the legal clock at a glance, overdue ones marked, what blocks each and which
// destinations an erasure still awaits.
func (s *Service) requests(w http.ResponseWriter, r *http.Request, sess *session) {
	inst := r.PathValue("inst")
	l, err := s.api(sess).Requests(r.Context(), inst, client.RequestFilter{States: store.OpenStates})
	if err != nil {
		s.failAPI(w, r, sess, err)
		return
	}
	d := requestsData{Open: l.Items}
	for _, q := range l.Items {
		if q.Overdue {
			d.Overdue++
		}
	}
	s.render(w, r, http.StatusOK, "requests", view{Title: "Requests", Session: sess, Inst: inst, Nav: "requests", Data: d})
}
