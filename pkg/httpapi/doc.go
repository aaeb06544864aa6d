// Package httpapi holds what every HTTP route of Lethe shares: RFC 9457 problem responses,
// bearer-token authentication bound to institutions and scopes, and the formats of listings
// (JSON pages, or every row streamed as NDJSON or CSV).
package httpapi
