package httpapi

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"github.com/lethe-gdpr/lethe/events"
)

// eventSchemaPrefix names the components that hold the events' JSON Schemas:
// "Event.<type>" for a type's whole structured-mode event and "Event.<type>.<def>" for each
// of its $defs.
const eventSchemaPrefix = "Event."

// withEventSchemas returns the document with every event type's JSON Schema from the events
// module (events.Schemas, the schemas upstream producers validate with) among its
// components, so that the document describes each type's data by those very schemas
// instead of a copy kept by hand. Each schema's $defs become components beside it and its
// "#/$defs/…" references point at them; $id and $schema are dropped, the document being the
// schema's home now (OpenAPI 3.1 speaks draft 2020-12).
func withEventSchemas(doc []byte) ([]byte, error) {
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("httpapi: openapi.json: %w", err)
	}
	components, _ := d["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	if schemas == nil {
		return nil, fmt.Errorf("httpapi: openapi.json has no components.schemas")
	}
	for _, typ := range events.Types() {
		raw, err := fs.ReadFile(events.Schemas(), typ+".json")
		if err != nil {
			return nil, fmt.Errorf("httpapi: the schema of %s: %w", typ, err)
		}
		var s map[string]any
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("httpapi: the schema of %s: %w", typ, err)
		}
		name := eventSchemaPrefix + typ
		defs, _ := s["$defs"].(map[string]any)
		delete(s, "$defs")
		delete(s, "$id")
		delete(s, "$schema")
		rewriteDefRefs(s, name)
		schemas[name] = s
		for def, v := range defs {
			rewriteDefRefs(v, name)
			schemas[name+"."+def] = v
		}
	}
	return json.Marshal(d)
}

// rewriteDefRefs points the "#/$defs/x" references under v at the component "<name>.x".
func rewriteDefRefs(v any, name string) {
	switch t := v.(type) {
	case map[string]any:
		if ref, ok := t["$ref"].(string); ok {
			if def, ok := strings.CutPrefix(ref, "#/$defs/"); ok {
				t["$ref"] = "#/components/schemas/" + name + "." + def
			}
		}
		for _, c := range t {
			rewriteDefRefs(c, name)
		}
	case []any:
		for _, c := range t {
			rewriteDefRefs(c, name)
		}
	}
}
