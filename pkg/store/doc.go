// Package store is the persistence port of Lethe: contacts (the projection), keys, runs,
// run items and audit, with one contract suite (storetest) that every adapter passes.
package store
