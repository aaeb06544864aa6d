package client

import "strconv"

// The API's routes the client calls. Ids are put in as they are: callers check that each
// stays one path segment.

// RunsPath is the institution's runs; POST it to start one.
func RunsPath(inst string) string { return "/v1/institutions/" + inst + "/runs" }

// RunsQuery lists the institution's runs, newest first, at most limit (0: the server's default).
func RunsQuery(inst string, limit int) string {
	if limit > 0 {
		return RunsPath(inst) + "?limit=" + strconv.Itoa(limit)
	}
	return RunsPath(inst)
}

// RunPath is one run; …/items its items, …/apply to execute a simulation's set.
func RunPath(inst, run string) string { return RunsPath(inst) + "/" + run }

// ContactPath is one contact: GET it for the projection, …/export for the right of access,
// POST …/erasure to erase it.
func ContactPath(inst, contact string) string {
	return "/v1/institutions/" + inst + "/contacts/" + contact
}

// RequestPath is an erasure request.
func RequestPath(id string) string { return "/v1/requests/" + id }

// RequestsPath is an institution's requests.
func RequestsPath(inst string) string { return "/v1/institutions/" + inst + "/requests" }

// RegisterPath is the institution's register of processing activities, as JSON, Markdown or CSV.
func RegisterPath(inst string) string { return "/v1/institutions/" + inst + "/register" }

// TargetsPath is the institution's consent-filtered campaign targets, as JSON pages, CSV or
// NDJSON.
func TargetsPath(inst string) string { return "/v1/institutions/" + inst + "/targets" }

// AuditVerifyPath has the server check the audit log's hash chain.
const AuditVerifyPath = "/v1/audit/verify"

// ReceiptPath is an erased contact's signed receipt.
func ReceiptPath(inst, contact string) string { return ContactPath(inst, contact) + "/receipt" }

// DestinationsPath is the institution's downstream destinations and their confirmations.
func DestinationsPath(inst string) string { return "/v1/institutions/" + inst + "/destinations" }

// ReceiptKeyPath is the public key receipts verify with (no token needed).
const ReceiptKeyPath = "/v1/receipts/key"

// AuditEntryPath is one audit entry's place in the chain: seq, time and hashes.
func AuditEntryPath(seq int64) string { return "/v1/audit/entries/" + strconv.FormatInt(seq, 10) }
