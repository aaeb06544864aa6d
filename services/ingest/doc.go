// Package ingest accepts CloudEvents over HTTP and from LETHE_INBOX, authenticates and validates them, seals
// personal fields with the contact's data key and publishes them durably to LETHE_ACTIVITY.
package ingest
