module github.com/lethe-gdpr/lethe/examples/crm-consumer

go 1.26.0

require (
	github.com/cloudevents/sdk-go/v2 v2.16.2
	github.com/lethe-gdpr/lethe/events v0.0.0
	github.com/nats-io/nats.go v1.55.0
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/json-iterator/go v1.1.12 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.2 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

// In this repository the events module is the one beside it; a copy elsewhere depends on a
// tagged version of github.com/lethe-gdpr/lethe/events instead and drops this line.
replace github.com/lethe-gdpr/lethe/events => ../../events
