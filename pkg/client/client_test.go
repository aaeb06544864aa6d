package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/client"
)

// problem answers as Lethe's servers do: application/problem+json with the invalid fields.
func problem(w http.ResponseWriter, status int, errs ...api.InvalidParam) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": "as the test says", "errors": errs})
}

func TestClientDecodesProblems(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/prefix/v1/x" || r.URL.RawQuery != "a=1" {
			http.NotFound(w, r)
			return
		}
		i := 2
		problem(w, http.StatusBadRequest, api.InvalidParam{Index: &i, Pointer: "/data/role", Detail: "is required"})
	}))
	defer srv.Close()
	c, err := client.New(srv.URL+"/prefix/", "tok")
	if err != nil {
		t.Fatal(err)
	}
	err = c.JSON(context.Background(), http.MethodGet, "/v1/x?a=1", nil, nil)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || len(apiErr.Errors) != 1 || *apiErr.Errors[0].Index != 2 ||
		apiErr.Errors[0].Pointer != "/data/role" || err.Error() != "server answered 400 Bad Request: as the test says (1 invalid field)" {
		t.Fatalf("err = %v (%+v)", err, apiErr)
	}
	if got := client.Detailed(err).Error(); got != err.Error()+"\n  /data/role: is required" {
		t.Fatalf("Detailed = %q, want the invalid field under the summary", got)
	}
	if _, err := client.New("localhost:8080", "t"); err == nil {
		t.Fatal("a server without a scheme was accepted")
	}
	srv.Close()
	if err := c.JSON(context.Background(), http.MethodGet, "/v1/x", nil, nil); !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("closed server: err = %v, want ErrUnreachable", err)
	}
}
