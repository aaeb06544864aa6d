package anonymiser

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/bus"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/pkg/store/backendtest"
)

// An erasure of a contact the store does not hold, or of one erased already, is answered at
// once (404, 409 with the state) and creates nothing: no request, no command. Before, it was
// accepted and then skipped as not_in_scope, which read as if it had been done.
func TestErasureOfUnknownOrErasedContactIsRefusedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	backendtest.ForEach(t, func(t *testing.T, st store.Store) {
		r := newRig(t, st)
		r.contact("c-anon", true, func(c *store.Contact) {
			c.Status, c.ErasedAt, c.ErasedBy = store.StatusAnonymised, now, "run:r-1"
		})
		r.contact("c-gone", false, func(c *store.Contact) {
			c.Status, c.ErasedAt, c.ErasedBy = store.StatusDeleted, now, "request:req-1"
		})
		mux := http.NewServeMux()
		r.svc.Register(mux) // dpo-token: erase on inst (rigTokens)
		srv := httptest.NewServer(mux)
		defer srv.Close()

		for _, tc := range []struct {
			contact string
			status  int
			state   string
		}{
			{"c-nobody", http.StatusNotFound, ""},
			{"c-anon", http.StatusConflict, "anonymised"},
			{"c-gone", http.StatusConflict, "deleted"},
		} {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/institutions/"+inst+"/contacts/"+tc.contact+"/erasure", nil)
			req.Header.Set("Authorization", "Bearer dpo-token")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var p httpapi.Problem
			_ = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" || p.State != tc.state {
				t.Errorf("erasure of %s = %d %s %+v, want %d problem+json with state %q",
					tc.contact, resp.StatusCode, resp.Header.Get("Content-Type"), p, tc.status, tc.state)
			}
			if resp.Header.Get("Location") != "" {
				t.Errorf("erasure of %s names a request at %s", tc.contact, resp.Header.Get("Location"))
			}
		}
		s, err := r.js.Stream(context.Background(), bus.StreamCommands)
		if err != nil {
			t.Fatal(err)
		}
		if n := s.CachedInfo().State.Msgs; n != 0 {
			t.Errorf("LETHE_COMMANDS holds %d commands after refused erasures, want none", n)
		}
	})
}
