package demo_test

import (
	"bufio"
	"bytes"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/events"
	"github.com/lethe-gdpr/lethe/pkg/demo"
	"github.com/lethe-gdpr/lethe/pkg/retention"
	"github.com/lethe-gdpr/lethe/pkg/store"
	"github.com/lethe-gdpr/lethe/services/recency"
)

var asOf = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// The generator's claims checked the way Lethe would see the file: every line a valid event
// of the contract, every event type present, and the events folded by the projection's own
// fold and decided by the retention rule as of the same date give exactly the counts Stats
// claims, with the shares asked for.
func TestGeneratedHistoryIsValidAndHoldsWhatItClaims(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	st, err := demo.Generate(&buf, demo.Options{Seed: 7, Contacts: 3000, Now: asOf})
	if err != nil {
		t.Fatal(err)
	}

	contacts := map[string]*store.Contact{}
	byType := map[string]int{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		e, err := events.ParseStructured(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		d, err := events.Decode(e)
		if err != nil {
			t.Fatalf("line %d (%s): %v", line, e.Type(), err)
		}
		if e.Time().After(asOf) {
			t.Errorf("line %d: an event after the history's end: %s", line, e.Time())
		}
		byType[e.Type()]++
		c, ok := contacts[e.Subject()]
		if !ok {
			c = &store.Contact{Institution: events.Institution(e), ID: e.Subject()}
			contacts[e.Subject()] = c
		}
		recency.Fold(c, recency.Activity{ID: e.ID(), Type: e.Type(), Institution: events.Institution(e), Contact: e.Subject(), Data: d})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if line != st.Events || !maps.Equal(byType, st.ByType) {
		t.Errorf("%d lines by type %v; Stats claims %d: %v", line, byType, st.Events, st.ByType)
	}
	for _, typ := range events.InTypes() {
		if typ == events.TypeErasureConfirmed {
			continue // a destination's answer to an outcome, not upstream history
		}
		if byType[typ] == 0 {
			t.Errorf("no %s in the history", typ)
		}
	}
	if len(contacts) != 3000 || st.Contacts != 3000 {
		t.Errorf("%d contacts in the file, Stats %d, want 3000", len(contacts), st.Contacts)
	}

	var got demo.Stats
	got.Blocked = map[string]int{}
	for _, c := range contacts {
		if !retention.InScope(*c) {
			got.OutOfScope++
			continue
		}
		if c.Customer {
			got.Customers++
		} else {
			got.Prospects++
		}
		d := retention.Decide(*c, asOf, 36)
		if !d.Candidate {
			continue
		}
		got.Inactive++
		switch d.Outcome {
		case store.OutcomeDelete:
			got.Deletes++
		case store.OutcomeAnonymise:
			got.Anonymises++
		default:
			if len(d.Blockers) != 1 {
				t.Errorf("%s: blockers %v, want exactly one", c.ID, d.Blockers)
			}
			got.Blocked[d.Reason]++
		}
	}
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"customers", got.Customers, st.Customers}, {"prospects", got.Prospects, st.Prospects},
		{"out of scope", got.OutOfScope, st.OutOfScope}, {"inactive", got.Inactive, st.Inactive},
		{"deletes", got.Deletes, st.Deletes}, {"anonymisations", got.Anonymises, st.Anonymises},
	} {
		if c.got != c.want {
			t.Errorf("%s: the fold and the rule give %d, Stats claims %d", c.what, c.got, c.want)
		}
	}
	if !maps.Equal(got.Blocked, st.Blocked) {
		t.Errorf("blocked by reason: the fold and the rule give %v, Stats claims %v", got.Blocked, st.Blocked)
	}
	for _, r := range []string{retention.ReasonDebt, retention.ReasonCredit, retention.ReasonActiveSubscription, retention.ReasonLegalHold} {
		if st.Blocked[r] == 0 {
			t.Errorf("no inactive contact blocked by %s", r)
		}
	}
	// The shares asked for (15% inactive, a quarter of them blocked), within sampling noise.
	inScope := float64(st.Customers + st.Prospects)
	if share := float64(st.Inactive) / inScope; share < 0.12 || share > 0.18 {
		t.Errorf("inactive share %.3f, want about 0.15", share)
	}
	blocked := st.Inactive - st.Deletes - st.Anonymises
	if share := float64(blocked) / float64(st.Inactive); share < 0.19 || share > 0.31 {
		t.Errorf("blocked share of the inactive %.3f, want about 0.25", share)
	}
	if st.Deletes == 0 || st.Anonymises == 0 || st.Erasures != 5 {
		t.Errorf("deletes %d, anonymisations %d, erasure requests %d (want 5)", st.Deletes, st.Anonymises, st.Erasures)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	var a, b, c bytes.Buffer
	o := demo.Options{Seed: 3, Contacts: 200, Now: asOf}
	if _, err := demo.Generate(&a, o); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Generate(&b, o); err != nil {
		t.Fatal(err)
	}
	o.Seed = 4
	if _, err := demo.Generate(&c, o); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same options gave different histories")
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("another seed gave the same history")
	}
}

func TestGenerateRefusesOptionsItCannotHonour(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]demo.Options{
		"no date":           {Contacts: 10},
		"history too short": {Contacts: 10, Now: asOf, Years: 3},
		"share above one":   {Contacts: 10, Now: asOf, InactiveShare: 1.5},
		"negative contacts": {Contacts: -1, Now: asOf},
	} {
		if _, err := demo.Generate(&bytes.Buffer{}, o); !errors.Is(err, demo.ErrOptions) {
			t.Errorf("%s: %v, want ErrOptions", name, err)
		}
	}
}
