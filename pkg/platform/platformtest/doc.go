// Package platformtest builds the platform.Deps a service under test gets, the same way for
// every service: an embedded JetStream with the contract's streams, a store, a sealer, tokens.
package platformtest
