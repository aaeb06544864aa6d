package events

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed schemas/*.json
var schemaFiles embed.FS

// Schemas returns the JSON Schemas (draft 2020-12), one file per type named
// "<type>.json" ("lethe.contact.created.v1.json"), each describing the whole
// structured-mode CloudEvent: envelope and data. Validate enforces the same rules, plus
// two cross-checks a schema cannot state (an outcome's data.institution and
// data.contact_id equal the institution extension and the subject).
func Schemas() fs.FS {
	sub, err := fs.Sub(schemaFiles, "schemas")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// Schema returns the schema of one type.
func Schema(typ string) ([]byte, error) {
	if !IsKnownType(typ) {
		return nil, fmt.Errorf("events: no schema for unknown type %q", typ)
	}
	return schemaFiles.ReadFile("schemas/" + typ + ".json")
}
