package api

import "time"

// ErasureStart is the optional body of POST /v1/institutions/{inst}/contacts/{id}/erasure.
// The reason is checked, never stored: it is free text and may name the person.
type ErasureStart struct {
	Reason string `json:"reason"`
}

// RequestExtend is the body of POST /v1/requests/{id}/extend: the new deadline (RFC 3339, no
// later than three months after receipt) and the reason given to the person.
type RequestExtend struct {
	DueAt  string `json:"due_at"`
	Reason string `json:"reason"`
}

// RequestRefuse is the body of POST /v1/requests/{id}/refuse.
type RequestRefuse struct {
	Reason string `json:"reason"`
}

// RequestView is a data subject's request as the API shows it. ReceivedAt starts the legal
// clock; DueAt is one month later or the extension's date; Overdue says it is open past it.
// The reason of an extension or a refusal is personal: DecisionReason holds it only for a
// caller with the export scope on the institution; DecisionReasonSealed says one is held.
type RequestView struct {
	ID           string   `json:"id"`
	Institution  string   `json:"institution"`
	ContactID    string   `json:"contact_id"`
	Kind         string   `json:"kind"`
	Origin       string   `json:"origin"`
	RequestedBy  string   `json:"requested_by,omitempty"`
	State        string   `json:"state"`
	Blocker      string   `json:"blocker,omitempty"`
	Error        string   `json:"error,omitempty"`
	Attempt      int      `json:"attempt"`
	Outcome      string   `json:"outcome,omitempty"`
	Reason       string   `json:"reason,omitempty"` // the skip reason of the outcome
	ErasedFields []string `json:"erased_fields,omitempty"`
	// AwaitingConfirmation names the destinations that have not yet confirmed the erasure of
	// an open request: it completes once the list is empty.
	AwaitingConfirmation []string  `json:"awaiting_confirmation,omitempty"`
	ReceivedAt           time.Time `json:"received_at"`
	DueAt                time.Time `json:"due_at"`
	Overdue              bool      `json:"overdue"`
	// DecisionReason is the extension's or the refusal's reason (export scope only).
	DecisionReason       string       `json:"decision_reason,omitempty"`
	DecisionReasonSealed bool         `json:"decision_reason_sealed,omitempty"`
	Actions              []RequestAct `json:"actions"`
	CompletedAt          *time.Time   `json:"completed_at,omitempty"`
	Href                 string       `json:"href"`
	// CreatedAt is ReceivedAt under its earlier name.
	CreatedAt time.Time `json:"created_at"`
}

// RequestAct is one action on a request: who (a token's name, or lethe), when, what.
type RequestAct struct {
	At     time.Time  `json:"at"`
	By     string     `json:"by"`
	Action string     `json:"action"`
	DueAt  *time.Time `json:"due_at,omitempty"`
}

// RequestList is GET /v1/institutions/{inst}/requests: the requests by deadline.
type RequestList struct {
	Items []RequestView `json:"items"`
}
