// Package httpapi holds what every HTTP route of Lethe shares: RFC 9457 problem responses and
// bearer-token authentication bound to institutions and scopes.
package httpapi
