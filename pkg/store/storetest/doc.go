// Package storetest is the one contract suite every store adapter passes (Pebble, MongoDB):
// call Run from the adapter's tests with a function that opens a fresh, empty store.
//
// The suite writes millisecond-precision times only, because MongoDB keeps milliseconds, and
// compares times after UTC normalisation, because an adapter need not keep the zone.
package storetest
