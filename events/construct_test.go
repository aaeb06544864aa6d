package events

import (
	"errors"
	"testing"
	"time"
)

// minimalData is one valid payload per type.
func minimalData() []Data {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	items := []Item{{ProductID: "p1", Dated: true, ValidAt: at}, {ProductID: "p2"}}
	return []Data{
		ContactCreated{Role: RoleIndividual, CreatedAt: at},
		ContactUpdated{Profile: Profile{Email: String("a@example.org")}, UpdatedAt: at},
		CriterionChanged{Criterion: "vip", Value: "true", ChangedAt: at},
		ConsentChanged{Authorisations: map[string]string{"marketing.email": AuthorisationYes}, ChangedAt: at},
		OptionAcquired{OptionID: "o1", At: at, Items: items},
		OptionConfirmed{OptionID: "o1", At: at, Items: items},
		&OrderPlaced{OrderID: "o1", OrderedAt: at, ContactRole: ContactRoleAttendee, Items: items},
		PaymentRecorded{Amount: 100, Currency: "EUR", PaidAt: at},
		BalanceChanged{Balance: -1, Currency: "EUR", At: at},
		SubscriptionChanged{SubscriptionID: "s1", Status: SubscriptionSuspended, At: at},
		WaitlistJoined{WaitlistID: "w1", JoinedAt: at},
		CampaignLinkClicked{CampaignID: "c1", LinkID: "l1", ClickedAt: at},
		LegalHoldChanged{Held: true, At: at},
		ErasureRequested{RequestedAt: at},
		ErasureConfirmed{Destination: "crm-a", OutcomeID: "out_1", ConfirmedAt: at},
		ContactAnonymised{Institution: "inst-a", ContactID: "c-1", RunID: "r1", At: at, ErasedFields: []string{"profile.email"}},
		ContactDeleted{Institution: "inst-a", ContactID: "c-1", RequestID: "q1", At: at},
		ContactSkipped{Institution: "inst-a", ContactID: "c-1", RunID: "r1", At: at, Reason: SkipLegalHold},
		RunCompleted{Institution: "inst-a", RunID: "r1", Mode: RunModeExecute, At: at},
	}
}

func TestNewBuildsValidEvents(t *testing.T) {
	ds := minimalData()
	if len(ds) != len(Types()) {
		t.Fatalf("%d payloads for %d types", len(ds), len(Types()))
	}
	at := time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)
	for _, d := range ds {
		t.Run(d.EventType(), func(t *testing.T) {
			subject := "c-1"
			if d.EventType() == TypeRunCompleted {
				subject = ""
			}
			e, err := New("urn:test", "inst-a", subject, d,
				WithOrganisation("org-1"), WithID("evt-1"), WithTime(at),
				WithExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
			if err != nil {
				t.Fatal(err)
			}
			if e.Type() != d.EventType() || e.ID() != "evt-1" || !e.Time().Equal(at) || e.Subject() != subject ||
				Institution(e) != "inst-a" || Organisation(e) != "org-1" || e.DataContentType() != "application/json" ||
				e.Extensions()["traceparent"] == nil {
				t.Errorf("envelope: %s", e)
			}
			got, err := Decode(e)
			if err != nil {
				t.Fatal(err)
			}
			if !equalData(got, d) {
				t.Errorf("data changed: %s", e.DataEncoded)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	a, err := New("urn:test", "inst-a", "c-1", WaitlistJoined{WaitlistID: "w", JoinedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New("urn:test", "inst-a", "c-1", WaitlistJoined{WaitlistID: "w", JoinedAt: time.Now()})
	if a.ID() == "" || a.ID() == b.ID() || a.Time().IsZero() {
		t.Errorf("want fresh ids and a time: %q %q %v", a.ID(), b.ID(), a.Time())
	}
	if _, ok := a.Extensions()[ExtOrganisation]; ok {
		t.Error("organisation set without WithOrganisation")
	}
}

func TestNewRefusesInvalidEvents(t *testing.T) {
	at := time.Now()
	tests := []struct {
		name    string
		build   func() error
		pointer string
	}{
		{"institution", func() error {
			_, err := New("urn:test", "inst a", "c-1", WaitlistJoined{WaitlistID: "w", JoinedAt: at})
			return err
		}, "/institution"},
		{"subject", func() error {
			_, err := New("urn:test", "inst-a", "", WaitlistJoined{WaitlistID: "w", JoinedAt: at})
			return err
		}, "/subject"},
		{"source", func() error {
			_, err := New("", "inst-a", "c-1", WaitlistJoined{WaitlistID: "w", JoinedAt: at})
			return err
		}, "/source"},
		{"data", func() error {
			_, err := New("urn:test", "inst-a", "c-1", WaitlistJoined{WaitlistID: "w"})
			return err
		}, "/data/joined_at"},
		{"enum", func() error {
			_, err := New("urn:test", "inst-a", "c-1", ContactCreated{Role: "vip", CreatedAt: at})
			return err
		}, "/data/role"},
		{"organisation", func() error {
			_, err := New("urn:test", "inst-a", "c-1", WaitlistJoined{WaitlistID: "w", JoinedAt: at}, WithOrganisation("a.b"))
			return err
		}, "/organisation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := problems(t, tt.build())
			if ps[0].Pointer != tt.pointer {
				t.Errorf("got %+v", ps)
			}
		})
	}
	if _, err := New("urn:test", "inst-a", "c-1", nil); !errors.Is(err, ErrNilData) {
		t.Errorf("nil data: %v", err)
	}
}

func TestOutcomeConstructors(t *testing.T) {
	at := time.Date(2024, 5, 3, 3, 0, 0, 0, time.UTC)
	e, err := NewContactAnonymised("urn:lethe:anonymiser", ContactAnonymised{Institution: "inst-a", ContactID: "c-1", RunID: "r1", At: at})
	if err != nil {
		t.Fatal(err)
	}
	if e.Subject() != "c-1" || Institution(e) != "inst-a" || e.Type() != TypeContactAnonymised {
		t.Errorf("envelope: %s", e)
	}
	if string(e.DataEncoded) != `{"institution":"inst-a","contact_id":"c-1","run_id":"r1","at":"2024-05-03T03:00:00Z","erased_fields":[]}` {
		t.Errorf("data: %s", e.DataEncoded)
	}
	if _, err := NewContactDeleted("urn:lethe:anonymiser", ContactDeleted{Institution: "inst-a", ContactID: "c-1", RunID: "r1", RequestID: "q1", At: at}); err == nil {
		t.Error("both run_id and request_id accepted")
	}
	if _, err := NewContactSkipped("urn:lethe:anonymiser", ContactSkipped{Institution: "inst-a", ContactID: "c-1", RequestID: "q1", At: at, Reason: SkipBecameActive}); err != nil {
		t.Error(err)
	}
	if _, err := NewContactSkipped("urn:lethe:anonymiser", ContactSkipped{Institution: "inst-a", ContactID: "c-1", RequestID: "q1", At: at, Reason: "busy"}); err == nil {
		t.Error("unknown skip reason accepted")
	}
	rc, err := NewRunCompleted("urn:lethe:scheduler", RunCompleted{Institution: "inst-a", RunID: "r1", Mode: RunModeSimulation, At: at,
		Counts: RunCounts{Anonymised: 1, Deleted: 2, Skipped: 3}, SkippedByReason: map[string]int64{SkipDebt: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Subject() != "" {
		t.Errorf("run.completed has subject %q", rc.Subject())
	}
}
