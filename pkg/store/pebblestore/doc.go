// Package pebblestore is the embedded adapter of the store port: one Pebble database (pure Go,
// no cgo) in one directory, the default store of `lethe serve` so it runs with nothing installed.
//
// # Key layout
//
// Every key starts with a one-byte collection tag, followed by order-preserving components:
// strings are written with 0x00 escaped as 0x00 0xFF and end with 0x00 0x01 (so "c1" sorts
// before "c10" and neither encoding is a prefix of the other, for any bytes); int64s are
// big-endian with the sign bit flipped; times are (Unix seconds as such an int64, then
// nanoseconds as a big-endian uint32), which orders every time.Time, before 1970 and past 2262.
//
//	m layout                               → "lethe-pebble-1" (Open refuses any other)
//	c | inst | id                          → contact: header (format, version, status, recency), body
//	x | inst | status | recency | id       → the contact's store.Candidate (candidates.go; empty when written before it): the Inactive and Candidates index
//	k | inst | id                          → 'K' + wrapped data key, or 'T' + tombstone time
//	r | inst | id                          → run (JSON)
//	q | inst | created_at | id             → empty: runs newest first, walked backwards
//	i | inst | run | contact               → run item (binary, runitems.go; JSON when written before it)
//	j | inst | contact | run               → empty: written by builds before issue 17's third pass, no longer read (ForContact seeks each run's i range)
//	a | seq                                → audit entry (JSON)
//	d | key                                → seq: the audit entry's idempotency key, unique
//	f | inst | contact | seq               → empty: audit entries of a contact (right of access)
//	E | id                                 → erasure request (JSON)
//	C | inst | destination | outcome       → expected downstream confirmation (JSON)
//	U | inst | destination | published | outcome → empty: the unconfirmed, oldest first
//	V | inst | contact | outcome | destination   → empty: a contact's expectations (receipts)
//	W | inst | destination | event         → unmatched confirmation (JSON)
//
// A secondary index entry is written in the same pebble.Batch as its document, so the two never
// drift; Inactive reads index and documents from one snapshot. A contact without a recency has
// no index entry and is never listed as inactive.
//
// # Concurrency and durability
//
// Compare-and-swap (Put, Delete, Update, Create, Append) is read-check-write under an
// in-process lock striped by key: Pebble holds a file lock on the directory, so exactly one
// process writes it and an in-process lock is all a CAS needs. Every write is committed with
// pebble.Sync: once a call returns, its write survives a crash of the process or the machine.
// Concurrent writers share fsyncs through Pebble's group commit, which is where throughput
// comes from (see BenchmarkContactsPut).
package pebblestore
