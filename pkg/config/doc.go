// Package config reads lethe.yaml: tokens (hashed) bound to institutions and scopes, each
// institution's retention policy and its register of processing, the bus users (bus.go), and
// the audit and proxy settings. It rejects unknown keys and contradictory registers, naming
// the line of every problem, so a bad configuration stops start-up instead of being
// half-enforced.
package config
