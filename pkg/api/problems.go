package api

// InvalidParam is one bad field of an RFC 9457 problem's "errors" member: a JSON pointer and
// why. Index is set in batch requests: the position of the event the pointer refers to.
type InvalidParam struct {
	Index   *int   `json:"index,omitempty"`
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}
