package console

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The in-process transport answers as the handler did (status, headers, body), and a handler
// that panics fails its call with a 500, never the process.
func TestInProcessTransport(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "a,b\n")
		_, _ = io.WriteString(w, r.Header.Get("Authorization"))
	})
	mux.HandleFunc("GET /empty", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	hc := &http.Client{Transport: inProcess{mux}}

	req, _ := http.NewRequest(http.MethodGet, "http://lethe.in-process/ok", nil)
	req.Header.Set("Authorization", "Bearer x")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "text/csv" || string(b) != "a,b\nBearer x" {
		t.Errorf("GET /ok = %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	resp, err = hc.Get("http://lethe.in-process/empty")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a handler that writes nothing: %v %v, want 200", resp, err)
	}
	_ = resp.Body.Close()
	resp, err = hc.Get("http://lethe.in-process/panic")
	if err != nil {
		t.Fatal(err)
	}
	_, rerr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || rerr == nil || !strings.Contains(rerr.Error(), "panicked") {
		t.Errorf("a panicking handler: %d, body error %v; want 500 and the panic", resp.StatusCode, rerr)
	}
}
