package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/api"
	"github.com/lethe-gdpr/lethe/pkg/store"
)

// A completed apply run shows what happened beside what was planned, every skip reason of
// either under skip, and a total of both.
func TestRunShowsDriftOfACompletedApply(t *testing.T) {
	asOf := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	err := Run(&b, api.RunView{
		ID: "run-2", Institution: "inst-a", Mode: store.ModeExecute, SourceRun: "run-1", State: store.RunCompleted,
		AsOf: asOf, Items: 3, Results: 3,
		Counts:         map[string]int{store.OutcomeDelete: 1, store.OutcomeSkip: 2},
		Reasons:        map[string]int{"legal_hold": 2},
		Planned:        map[string]int{store.OutcomeDelete: 2, store.OutcomeSkip: 1},
		PlannedReasons: map[string]int{"debt": 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := squeezed(b.String())
	for _, want := range []string{
		"mode " + store.ModeExecute + " of run-1",
		"as of 2026-11-23T00:00:00Z",
		"results 3 of 3 items",
		"outcome contacts planned",
		"skip 2 1\ndebt 0 1\nlegal_hold 2 0\ntotal 3 3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "error") || strings.Contains(out, "finished") {
		t.Errorf("the report names what the run does not have:\n%s", out)
	}
}

// A simulation has no results line and no planned column: nothing was executed.
func TestRunOfASimulation(t *testing.T) {
	var b bytes.Buffer
	if err := Run(&b, api.RunView{ID: "run-1", Mode: store.ModeSimulation, State: store.RunCompleted,
		Counts: map[string]int{store.OutcomeAnonymise: 4}}); err != nil {
		t.Fatal(err)
	}
	out := squeezed(b.String())
	if strings.Contains(out, "results") || strings.Contains(out, "planned") {
		t.Errorf("a simulation reports results or a plan:\n%s", out)
	}
	if !strings.Contains(out, store.OutcomeAnonymise+" 4") || !strings.Contains(out, "total 4") {
		t.Errorf("counts missing:\n%s", out)
	}
}

// Every column of an item is there, a dash where the item has nothing, and the header comes
// with the first page.
func TestItemsTableKeepsEveryColumn(t *testing.T) {
	var b bytes.Buffer
	tw := NewItemsTable(&b)
	tw.Row(api.ItemView{ContactID: "c-1", Outcome: store.OutcomeDelete})
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "CONTACT") {
		t.Fatalf("want a header and one row, got:\n%s", b.String())
	}
	if got := strings.Fields(lines[1]); strings.Join(got, " ") != "c-1 "+store.OutcomeDelete+" - - no - - -" {
		t.Errorf("row = %q", got)
	}
}

func TestStampAndIndented(t *testing.T) {
	if stamp(time.Time{}) != "" {
		t.Error("the zero time is printed")
	}
	if got := stamp(time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))); got != "2026-01-02T02:04:05Z" {
		t.Errorf("stamp = %q, want UTC to the second", got)
	}
	b, err := Indented("/v1/x", []byte(` {"a":1} `))
	if err != nil || string(b) != "{\n  \"a\": 1\n}\n" {
		t.Errorf("Indented = %q, %v", b, err)
	}
	if _, err := Indented("/v1/x", []byte("<html>")); err == nil || !strings.Contains(err.Error(), "GET /v1/x") {
		t.Errorf("a non-JSON answer: %v, want an error naming the request", err)
	}
}

// squeezed is s with each line's columns one space apart, so that a test does not depend on
// the widths the tabwriter chose.
func squeezed(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func TestNaturalCompareReadsNumbersAsNumbers(t *testing.T) {
	ids := []string{"c-1000", "c-10", "c-2", "c-100", "c-1", "b-7", "c-02", "c-10a", "c-10-2"}
	slices.SortStableFunc(ids, NaturalCompare)
	want := []string{"b-7", "c-1", "c-2", "c-02", "c-10", "c-10-2", "c-10a", "c-100", "c-1000"}
	if !slices.Equal(ids, want) {
		t.Fatalf("sorted %q, want %q", ids, want)
	}
}

// A table that fits is shown in natural order, whatever the pages' order (the API's is byte
// order: c-10 before c-2).
func TestItemsTableInNaturalOrder(t *testing.T) {
	var b strings.Builder
	pages := [][]json.RawMessage{
		{json.RawMessage(`{"contact_id":"c-10","outcome":"delete"}`), json.RawMessage(`{"contact_id":"c-100","outcome":"delete"}`)},
		{json.RawMessage(`{"contact_id":"c-2","outcome":"skip"}`)},
	}
	n, err := Pages(&b, Table[api.ItemView](NewItemsTable(&b)), func(page func([]json.RawMessage) error) error {
		for _, p := range pages {
			if err := page(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("Pages = %d, %v", n, err)
	}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n")[1:] {
		order = append(order, strings.Fields(line)[0])
	}
	if want := []string{"c-2", "c-10", "c-100"}; !slices.Equal(order, want) {
		t.Fatalf("rows %q, want %q\n%s", order, want, b.String())
	}
}
