package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Indented is the JSON answer to GET path indented for a person; a script reads it just as
// well.
func Indented(path string, body []byte) ([]byte, error) {
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(body), "", "  "); err != nil {
		return nil, fmt.Errorf("the answer to GET %s is not JSON: %w", path, err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// stamp is a date for a person, in UTC to the second; nothing for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
