// Package platform is what `lethe serve` hands every service: the bus, the store, the sealer,
// configuration and telemetry, built once and injected, so services never import each other.
package platform
