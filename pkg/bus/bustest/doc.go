// Package bustest runs a real JetStream server per test, on a random port and a temporary
// store, with a way to restart it on the same store; for the tests of every package on the bus.
package bustest
