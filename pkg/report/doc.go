// Package report is what a person reads in a terminal: run reports and tables, an erasure
// request's outcome, the server's JSON indented. The commands of services/lethe parse flags
// and call pkg/client; how the answers look is here, apart from how they are fetched.
package report
