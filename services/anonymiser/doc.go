// Package anonymiser executes LETHE_COMMANDS: re-checks each contact, deletes or anonymises it, destroys its key,
// audits and publishes the outcome to LETHE_RESULTS.
package anonymiser
