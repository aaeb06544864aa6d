package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/httpapi"
)

// operationMethods are the members of an OpenAPI path item that are operations.
var operationMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func fetchOpenAPI(t *testing.T, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	httpapi.OpenAPI().ServeHTTP(rec, req)
	return rec
}

func TestOpenAPIIsServedAsCacheableJSON(t *testing.T) {
	rec := fetchOpenAPI(t, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("Cache-Control = %q, want a max-age", cc)
	}
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	again := fetchOpenAPI(t, http.Header{"If-None-Match": {etag}})
	if again.Code != http.StatusNotModified {
		t.Errorf("GET with If-None-Match: the ETag = %d, want 304", again.Code)
	}
}

func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(fetchOpenAPI(t, nil).Body.Bytes(), &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	if v, _ := doc["openapi"].(string); !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Error("info needs a title and a version")
	}
	components, _ := doc["components"].(map[string]any)
	schemes, _ := components["securitySchemes"].(map[string]any)
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("no paths")
	}

	checkSecurity := func(where string, v any) {
		reqs, _ := v.([]any)
		for _, r := range reqs {
			for name := range r.(map[string]any) {
				if schemes[name] == nil {
					t.Errorf("%s: security names the undefined scheme %q", where, name)
				}
			}
		}
	}
	checkSecurity("top level", doc["security"])

	opIDs := map[string]string{}
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	for _, p := range sortedKeys(paths) {
		item := paths[p].(map[string]any)
		if !strings.HasPrefix(p, "/") {
			t.Errorf("path %q does not start with /", p)
		}
		n := 0
		for _, m := range operationMethods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			n++
			where := strings.ToUpper(m) + " " + p
			if resp, _ := op["responses"].(map[string]any); len(resp) == 0 {
				t.Errorf("%s has no responses", where)
			}
			if id, _ := op["operationId"].(string); id == "" {
				t.Errorf("%s has no operationId", where)
			} else if other, dup := opIDs[id]; dup {
				t.Errorf("%s and %s share the operationId %q", where, other, id)
			} else {
				opIDs[id] = where
			}
			checkSecurity(where, op["security"])
			// Every {param} of the path is declared, in the path item or the operation.
			declared := map[string]bool{}
			for _, list := range []any{item["parameters"], op["parameters"]} {
				ps, _ := list.([]any)
				for _, pv := range ps {
					param := resolve(t, doc, pv)
					if param["in"] == "path" {
						declared[param["name"].(string)] = true
					}
				}
			}
			for _, pm := range pathParam.FindAllStringSubmatch(p, -1) {
				if !declared[pm[1]] {
					t.Errorf("%s does not declare its path parameter %q", where, pm[1])
				}
			}
		}
		if n == 0 {
			t.Errorf("path %s has no operation", p)
		}
	}

	// Every $ref resolves inside the document: it is served alone, so nothing else can be read.
	refs := 0
	walk(doc, "#", func(at, ref string) {
		refs++
		if _, err := pointer(doc, ref); err != nil {
			t.Errorf("%s: $ref %q: %v", at, ref, err)
		}
	})
	if refs == 0 {
		t.Error("found no $ref: the walk is broken")
	}
}

// resolve follows v's $ref, if any, to the object it names.
func resolve(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	ref, ok := m["$ref"].(string)
	if !ok {
		return m
	}
	target, err := pointer(doc, ref)
	if err != nil {
		t.Fatalf("$ref %q: %v", ref, err)
	}
	out, _ := target.(map[string]any)
	return out
}

// walk calls fn with every $ref string in v and where it is.
func walk(v any, at string, fn func(at, ref string)) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if ref, ok := v[k].(string); ok && k == "$ref" {
				fn(at, ref)
				continue
			}
			walk(v[k], at+"/"+k, fn)
		}
	case []any:
		for i, e := range v {
			walk(e, fmt.Sprintf("%s/%d", at, i), fn)
		}
	}
}

// pointer resolves a same-document reference ("#/components/schemas/Problem").
func pointer(doc any, ref string) (any, error) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("not a reference within the document")
	}
	cur := doc
	if frag == "" {
		return cur, nil
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, fmt.Errorf("not a JSON pointer")
	}
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("no member %q", tok)
			}
			cur = next
		case []any:
			var i int
			if _, err := fmt.Sscanf(tok, "%d", &i); err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("no element %q", tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%q indexes a scalar", tok)
		}
	}
	return cur, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestOpenAPIPointerResolvesOnlyExistingMembers(t *testing.T) {
	doc := map[string]any{"a": map[string]any{"b/c": []any{"x"}}}
	for ref, ok := range map[string]bool{
		"#/a/b~1c/0": true, "#/a": true, "#": true,
		"#/a/b": false, "#/a/b~1c/1": false, "other.json#/a": false, "#a": false,
	} {
		_, err := pointer(doc, ref)
		if (err == nil) != ok {
			t.Errorf("pointer(%q) error = %v, want ok=%v", ref, err, ok)
		}
	}
}
