// Package testkit is what the tests of every package share: one way to wait (Eventually), one
// buffer for concurrent writers (SyncBuffer) and one rule for finding MongoDB (MongoURI).
// Only tests and test support packages import it.
package testkit
