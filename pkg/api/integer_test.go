package api_test

import (
	"encoding/json"
	"testing"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

func TestIntegerIsJSONSchemasInteger(t *testing.T) {
	for in, want := range map[string]int{`36`: 36, `36.0`: 36, `212.0`: 212, `1.2e2`: 120, `-3`: -3} {
		var n api.Integer
		if err := json.Unmarshal([]byte(in), &n); err != nil || int(n) != want {
			t.Errorf("%s = %d, %v; want %d", in, n, err, want)
		}
	}
	for _, in := range []string{`"36"`, `36.5`, `true`, `[36]`, `1e40`} {
		var n api.Integer
		if err := json.Unmarshal([]byte(in), &n); err == nil {
			t.Errorf("%s accepted as %d", in, n)
		}
	}
	if b, _ := json.Marshal(api.Integer(36)); string(b) != "36" {
		t.Errorf("encodes as %s", b)
	}
}
