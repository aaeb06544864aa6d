package api

// EventsAccepted is the body of the 202 of POST /v1/events: how many events are now durable.
type EventsAccepted struct {
	Accepted int `json:"accepted"`
}
