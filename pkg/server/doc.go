// Package server is lethe serve: builds the selected services, registers every route, starts
// their consumers, then listens; one process or one --target. It composes the four services
// with the bus (an embedded NATS server or --nats-url), the store (embedded Pebble or
// MongoDB), telemetry and /readyz, and stops them in order: intake, consumers, bus, store.
package server
