package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
)

// ReadBody reads r's body, at most limit bytes, for every route that takes one. The buffer
// grows with what actually arrives, never from the declared Content-Length: a client that
// declares 10 MiB and sends ten bytes costs ten bytes, not 10 MiB per connection. How long
// the body may take is the server's read deadline (http.Server.ReadTimeout in `lethe serve`),
// so a body trickled in byte by byte is cut off instead of holding its connection forever.
//
// The error is always a *Problem: 413 over the limit, 408 when the deadline passed before
// the body was read (the connection is then closed), 400 when the body could not be read.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, bodyTooLarge(limit)
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return buf.Bytes(), nil
	}
	var tooLarge *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooLarge):
		return nil, bodyTooLarge(limit)
	case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		// The rest of the body may still be on its way: the connection cannot be reused.
		w.Header().Set("Connection", "close")
		return nil, NewProblem(http.StatusRequestTimeout, "the body did not arrive within the server's read deadline; send it again, faster or in smaller requests")
	default:
		return nil, NewProblem(http.StatusBadRequest, "the body could not be read")
	}
}

func bodyTooLarge(limit int64) *Problem {
	return NewProblem(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over the limit of %d bytes", limit))
}
