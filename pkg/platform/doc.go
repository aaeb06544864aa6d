// Package platform is what `lethe serve` hands every service: the bus, the store, the sealer,
// configuration and telemetry, built once and injected, so services never import each other;
// with the one rule for missing dependencies (Resolve) and the readiness of each service's parts.
package platform
