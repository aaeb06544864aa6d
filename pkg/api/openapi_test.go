package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/httpapi"
	"github.com/lethe-gdpr/lethe/pkg/receipt"
)

// The views are the API the OpenAPI document describes: each one's JSON members are its
// schema's properties, no more and no fewer, and every member the schema requires is one the
// view always writes (no omitempty).
func TestViewsAreTheirOpenAPISchemas(t *testing.T) {
	rec := httptest.NewRecorder()
	httpapi.OpenAPI().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required   []string                   `json:"required"`
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("the OpenAPI document: %v", err)
	}
	for schema, view := range map[string]any{
		"StartRun":           api.RunStart{},
		"Run":                api.RunView{},
		"RunList":            api.RunsList{},
		"RunItem":            api.ItemView{},
		"RunItemsPage":       api.ItemsPage{},
		"ErasureRequestBody": api.ErasureStart{},
		"ErasureRequest":     api.RequestView{},
		"RequestAction":      api.RequestAct{},
		"RequestList":        api.RequestList{},
		"RequestExtend":      api.RequestExtend{},
		"RequestRefuse":      api.RequestRefuse{},
		"ContactView":        api.ContactView{},
		"Register":           api.RegisterView{},
		"AuditReport":        api.AuditReport{},
		"EventsAccepted":     api.EventsAccepted{},
		"InvalidParam":       api.InvalidParam{},
		"DestinationList":    api.DestinationList{},
		"Destination":        api.DestinationView{},
		"AuditEntry":         api.AuditEntryView{},
		"ReceiptKey":         receipt.PublicKey{},
		"Receipt":            receipt.Receipt{},
	} {
		t.Run(schema, func(t *testing.T) {
			s, ok := doc.Components.Schemas[schema]
			if !ok {
				t.Fatalf("the OpenAPI document has no schema %s", schema)
			}
			members := map[string]bool{} // name → always written
			typ := reflect.TypeOf(view)
			for i := range typ.NumField() {
				name, opts, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
				members[name] = !strings.Contains(opts, "omitempty")
			}
			for name := range members {
				if _, ok := s.Properties[name]; !ok {
					t.Errorf("%T writes %q, which schema %s does not describe", view, name, schema)
				}
			}
			for name := range s.Properties {
				if _, ok := members[name]; !ok {
					t.Errorf("schema %s describes %q, which %T never writes", schema, name, view)
				}
			}
			for _, name := range s.Required {
				if always, ok := members[name]; ok && !always {
					t.Errorf("schema %s requires %q, which %T leaves out when empty", schema, name, view)
				}
			}
		})
	}
}
