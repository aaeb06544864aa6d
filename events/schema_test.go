package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compileSchemas compiles every embedded schema with format assertions on, as a strict
// consumer would.
func compileSchemas(t testing.TB) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for _, typ := range Types() {
		b, err := fs.ReadFile(Schemas(), typ+".json")
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		id := doc.(map[string]any)["$id"].(string)
		if err := c.AddResource(id, doc); err != nil {
			t.Fatal(err)
		}
		if out[typ], err = c.Compile(id); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	return out
}

// golden reads testdata/good: name → raw event.
func golden(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "good", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden events: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = b
	}
	return out
}

func goldenType(t testing.TB, raw []byte) string {
	var m struct{ Type string }
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m.Type
}

// goValidate is the Go side of the comparison: parse as ingest does, then Validate.
func goValidate(raw []byte) error {
	e, err := ParseStructured(raw)
	if err != nil {
		return err
	}
	return Validate(e)
}

// mutation is one edit of a golden event: delete or replace the member at path.
type mutation struct {
	path    []string // member names and array indexes, as strings
	delete  bool
	value   any
	comment string
}

func (m mutation) String() string {
	p := "/" + strings.Join(m.path, "/")
	if m.delete {
		return "delete " + p
	}
	v, _ := json.Marshal(m.value)
	return fmt.Sprintf("set %s = %s", p, v)
}

func decodeJSON(t testing.TB, raw []byte) any {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// apply returns a copy of doc with m applied.
func apply(t testing.TB, raw []byte, m mutation) []byte {
	doc := decodeJSON(t, raw)
	parent := doc
	for i, k := range m.path {
		last := i == len(m.path)-1
		switch p := parent.(type) {
		case map[string]any:
			if last {
				if m.delete {
					delete(p, k)
				} else {
					p[k] = m.value
				}
			} else {
				parent = p[k]
			}
		case []any:
			var idx int
			fmt.Sscan(k, &idx)
			if last {
				if m.delete {
					parent = nil
					// Deleting an element shifts the rest; rebuild the parent slice in place.
					setAt(doc, m.path[:i], append(slices.Clone(p[:idx]), p[idx+1:]...))
				} else {
					p[idx] = m.value
				}
			} else {
				parent = p[idx]
			}
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setAt(doc any, path []string, v any) {
	for i, k := range path {
		switch p := doc.(type) {
		case map[string]any:
			if i == len(path)-1 {
				p[k] = v
				return
			}
			doc = p[k]
		case []any:
			var idx int
			fmt.Sscan(k, &idx)
			if i == len(path)-1 {
				p[idx] = v
				return
			}
			doc = p[idx]
		}
	}
}

// replacements covers each kind of wrong value: wrong JSON type, empty, out of charset,
// not a number, fractional, and a plausible but different value.
var replacements = []any{nil, "", "bad value", "x", json.Number("42"), json.Number("1.5"),
	json.Number("-1"), json.Number("1e2"), true, map[string]any{}, []any{}}

// mutations lists, for every member of the event at every depth: its deletion, each
// replacement, and an unknown sibling member.
func mutations(doc any, path []string) []mutation {
	var out []mutation
	add := func(p []string) {
		out = append(out, mutation{path: p, delete: true})
		for _, r := range replacements {
			out = append(out, mutation{path: p, value: r})
		}
	}
	switch d := doc.(type) {
	case map[string]any:
		unknown := "zzunknown"
		out = append(out, mutation{path: append(slices.Clone(path), unknown), value: "forward compatible"})
		for k, v := range d {
			p := append(slices.Clone(path), k)
			add(p)
			out = append(out, mutations(v, p)...)
		}
	case []any:
		for i, v := range d {
			p := append(slices.Clone(path), fmt.Sprint(i))
			add(p)
			out = append(out, mutations(v, p)...)
		}
	}
	return out
}

// crossFieldOnly reports whether err names only the problems a schema cannot express.
func crossFieldOnly(err error) bool {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	for _, p := range ve.Problems {
		if !strings.Contains(p.Reason, "must equal") {
			return false
		}
	}
	return true
}

// TestSchemasAgreeWithValidate holds the JSON Schemas and the Go validation to the same
// verdict on every golden event and on every single-member mutation of it (deletion of
// each member at every depth, wrong types, empty and out-of-charset values, a bad enum
// value, a fraction where an integer is due, unknown members). Every required member and
// enum of every type is covered because each is deleted and replaced in turn.
func TestSchemasAgreeWithValidate(t *testing.T) {
	schemas := compileSchemas(t)
	byType := map[string][]string{}
	goldens := golden(t)
	for name, raw := range goldens {
		byType[goldenType(t, raw)] = append(byType[goldenType(t, raw)], name)
	}
	for _, typ := range Types() {
		t.Run(typ, func(t *testing.T) {
			names := byType[typ]
			slices.Sort(names)
			if len(names) < 2 {
				t.Fatalf("%d golden events, want at least 2", len(names))
			}
			sch := schemas[typ]
			good, bad := 0, 0
			check := func(label string, raw []byte) {
				t.Helper()
				schemaErr := sch.Validate(decodeJSON(t, raw))
				goErr := goValidate(raw)
				switch {
				case schemaErr == nil && goErr == nil:
					good++
				case schemaErr != nil && goErr != nil:
					bad++
				case schemaErr == nil && crossFieldOnly(goErr):
					bad++ // documented: the schema cannot compare two members
				default:
					t.Errorf("%s: schema says %v, Validate says %v\n%s", label, schemaErr, goErr, raw)
				}
			}
			for _, name := range names {
				raw := goldens[name]
				if err := sch.Validate(decodeJSON(t, raw)); err != nil {
					t.Errorf("golden %s rejected by its schema: %v", name, err)
				}
				if err := goValidate(raw); err != nil {
					t.Errorf("golden %s rejected by Validate: %v", name, err)
				}
				check(name, raw)
				for _, m := range mutations(decodeJSON(t, raw), nil) {
					check(name+": "+m.String(), apply(t, raw, m))
				}
			}
			for _, other := range Types() {
				if other == typ {
					continue
				}
				// An event of another type never passes this type's schema.
				raw := goldens[byType[other][0]]
				if sch.Validate(decodeJSON(t, raw)) == nil {
					t.Errorf("%s schema accepts a %s event", typ, other)
				}
			}
			if good < 2 || bad < 4 {
				t.Errorf("%d good and %d bad cases, want at least 2 and 4", good, bad)
			}
			t.Logf("%d good, %d bad, all agreed", good, bad)
		})
	}
}
