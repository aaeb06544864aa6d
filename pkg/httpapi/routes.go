package httpapi

import "net/http"

// RouteProblems wraps mux so that what the mux answers by itself — no route for the path
// (404), a route without the request's method (405, with its Allow header) — is
// application/problem+json like every other error of the API, instead of net/http's
// text/plain. Requests a route matches go to it untouched.
func RouteProblems(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// No pattern: a 404, a 405 or a redirect to the cleaned path, all written by the mux.
		mux.ServeHTTP(&unmatchedWriter{ResponseWriter: w, r: r}, r)
	})
}

// unmatchedWriter turns the mux's own 404 and 405 into problems; redirects pass through.
type unmatchedWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (u *unmatchedWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		u.replaced = true
		WriteProblem(u.ResponseWriter, u.r, NewProblem(code, "no route for this path"))
	case http.StatusMethodNotAllowed:
		u.replaced = true
		WriteProblem(u.ResponseWriter, u.r, NewProblem(code, "the path has no route for "+u.r.Method+"; the Allow header lists its methods"))
	default:
		u.ResponseWriter.WriteHeader(code)
	}
}

// Write drops the mux's text/plain body once the problem is written.
func (u *unmatchedWriter) Write(b []byte) (int, error) {
	if u.replaced {
		return len(b), nil
	}
	return u.ResponseWriter.Write(b)
}
