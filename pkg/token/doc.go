// Package token makes new API tokens for `lethe token`: a random secret shown once, and the
// lethe.yaml entry that configures it, which holds only the secret's SHA-256.
package token
