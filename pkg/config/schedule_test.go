package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A schedule that is not one is refused with its line when lethe.yaml is read — before
// `lethe serve` listens — not by the scheduler once it starts (issue 14).
func TestBadScheduleNamesItsLine(t *testing.T) {
	yaml := "institutions:\n  - id: inst-a\n    schedule: \"0 3 * *\"\n  - id: inst-b\n    schedule: \"@sometimes\"\n  - id: inst-c\n    schedule: \"0 3 * * *\"\n"
	_, err := Parse([]byte(yaml))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse = %v, want a config error", err)
	}
	msg := err.Error()
	for _, want := range []string{`lethe.yaml:3: institutions[0] (inst-a): schedule "0 3 * *"`, `lethe.yaml:5: institutions[1] (inst-b): schedule "@sometimes"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "inst-c") {
		t.Errorf("a good schedule refused: %q", msg)
	}
	sch, err := ParseSchedule("0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	if next := sch.Next(time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)); !next.Equal(time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("next = %s", next)
	}
}
