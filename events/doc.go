// Package events is Lethe's public event contract: the CloudEvents types upstream systems
// send and Lethe publishes, their data structs, validation, JSON Schemas and wire helpers.
//
// Producers build events with New (or NewContactAnonymised & co. for outcomes), check them
// with Validate and send them in structured, batch or binary mode (MarshalStructured,
// MarshalBatch, WriteBinary). Lethe's ingest parses them (ParseStructured, ParseBatch,
// ReadBinary), validates and decodes them (Decode), and seals their personal values
// (Seal) before publishing.
//
// Decisions worth knowing:
//
//   - Unknown members inside data are accepted, so a producer may run ahead of this
//     module's version. Ingest re-encodes the data from the typed struct (Seal does), so
//     an unknown member never reaches the streams: it could hold personal data that
//     nothing would seal. Unknown extension attributes are kept (traceparent rides there).
//   - Duplicate member names in data are refused: JSON parsers disagree on which wins.
//   - Ids, subjects, institutions and organisations are [A-Za-z0-9_-]{1,128}: they become
//     NATS subject tokens and storage keys.
//   - Timestamps are strict RFC 3339 (upper-case T and Z, offset within ±23:59) from year
//     1900: the zero time.Time is how a forgotten date shows up.
//   - Any personal value may be sealed ("sealed:v1:…"): its shape (e-mail, date) is then
//     not checked, because events on LETHE_ACTIVITY are sealed and consumers re-validate.
//   - Problem reasons never quote the offending value; they are safe to log.
//   - The schemas under schemas/ state the same rules as Validate, which the tests prove on
//     every single-member mutation of the golden events. Validate also checks what a
//     schema cannot: an outcome's data.institution and data.contact_id equal the
//     institution extension and the subject.
//
// Why not the SDK for everything: the structured reader and writer are sdk-go's
// (binding/format, event). Data is read by a small strict scanner of this package
// instead of encoding/json into a map: one pass, no reflection, every problem with its
// JSON pointer. Binary mode is mapped here because sdk-go's HTTP binding matches the
// canonical "Ce-" prefix of net/http only, and its NATS binding is a separate module that
// would pull nats.go into every producer; the mapping is a few lines and serves both
// http.Header and nats.Header.
package events
