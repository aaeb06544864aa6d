// Package api holds the JSON shapes of Lethe's HTTP API: what the servers answer and what the
// CLI reads, declared once so that the two cannot drift. The services convert to them next
// to their handlers; the shapes themselves carry no behaviour beyond printing.
package api
