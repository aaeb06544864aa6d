package httpapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// openapiSource is the OpenAPI 3.1 document of every route `lethe serve` registers. It is
// kept by hand next to the code it describes, but for the events' JSON Schemas, which are
// added from the events module as it is served (withEventSchemas); the tests of
// services/lethe fail when a route is missing from it or it names a route the server lacks.
//
//go:embed openapi.json
var openapiSource []byte

// openapiJSON is the document as served.
var openapiJSON = func() []byte {
	doc, err := withEventSchemas(openapiSource)
	if err != nil {
		panic(err) // both inputs are embedded at build time, and the tests read the result
	}
	return doc
}()

// OpenAPI serves the API's OpenAPI document (GET /v1/openapi.json). It needs no token: the
// document describes routes, never an institution's data. The ETag lets clients and proxies
// revalidate cheaply; the short max-age bounds how long a cache serves a document an upgrade
// has replaced.
func OpenAPI() http.Handler {
	sum := sha256.Sum256(openapiJSON)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(openapiJSON))
	})
}
