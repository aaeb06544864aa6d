// Package config reads lethe.yaml: tokens (hashed) bound to institutions and scopes, and each
// institution's retention policy and register. It rejects unknown keys and names every problem.
package config
