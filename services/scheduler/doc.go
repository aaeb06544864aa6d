// Package scheduler holds the retention policies, runs them on schedule or on request, writes run reports and,
// when a run is applied, publishes one command per contact to LETHE_COMMANDS.
package scheduler
