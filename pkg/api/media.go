package api

// Media types the API answers in besides application/json, chosen by Accept.
const (
	ContentTypeJSON     = "application/json"
	ContentTypeCSV      = "text/csv"
	ContentTypeNDJSON   = "application/x-ndjson"
	ContentTypeMarkdown = "text/markdown"
)

// Page sizes of the JSON listings (the limit query parameter).
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)
