// Package audit keeps Lethe's audit trail: one entry per outcome (who asked, what was done,
// which fields, when), never a personal value, chained by SHA-256 so that an altered or
// removed entry is found by Verify (`lethe audit verify`, GET /v1/audit/verify).
//
// # The chain
//
// Entry n carries PrevHash = Hash of entry n-1 ("" for entry 1) and Hash = hex SHA-256 of the
// canonical encoding of every field but Hash (see Hash). The store's unique sequence is the
// serialisation point: Record reads the head, appends at head+1, and on store.ErrExists (a
// concurrent appender, in this process or another, won) re-reads the head and chains onto
// it. No transaction is needed, so the same code runs on Pebble and MongoDB.
//
// # Retention
//
// Purge removes the oldest entries but first appends a purge entry saying where the chain
// now starts: AnchorSeq (the first kept seq) and AnchorHash (that entry's PrevHash). Verify
// accepts a log whose first entry is not seq 1 only when such an anchor vouches for it, so
// removing old entries without a purge is detected. The purge entry is recorded before the
// deletion, under the key "purge:<through>", so re-running a purge interrupted between the two
// steps finishes it without a second entry.
//
// # What the chain cannot show
//
// Removing the newest entries leaves a shorter chain that is still valid. Verify reports the
// head (seq and hash); an operator who keeps the head of each verification elsewhere can
// tell that the log went back.
package audit
