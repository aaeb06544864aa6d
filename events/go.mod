module github.com/lethe-gdpr/lethe/events

go 1.26.0

require (
	github.com/cloudevents/sdk-go/v2 v2.16.2
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
)
