// Package client is the HTTP client of Lethe's API that the CLI's commands share: a base URL
// and a bearer token, the routes they call answered as pkg/api views, and problem+json
// answers decoded into an *APIError so that a command prints the server's reason.
package client
