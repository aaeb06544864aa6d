// Package telemetry is the only place that imports the OpenTelemetry SDK: it builds the tracer
// and meter providers (OTLP when configured, Prometheus always) and hands them out for injection.
package telemetry
