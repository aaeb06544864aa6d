// Package demo generates a synthetic institution's history as NDJSON CloudEvents: tens of
// thousands of contacts over years, every event type of the contract, with known shares of
// inactive and blocked contacts — what `make demo` loads and the console's screenshots show.
package demo
