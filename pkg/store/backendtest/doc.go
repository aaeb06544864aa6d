// Package backendtest runs a service's tests against every store backend: the embedded Pebble
// store, and MongoDB through MONGODB_URI (which `make test` sets; CI never skips it).
package backendtest
