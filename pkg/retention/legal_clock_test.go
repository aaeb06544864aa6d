package retention

import (
	"errors"
	"testing"
	"time"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDueAtIsOneCalendarMonthClampedToTheMonthsEnd(t *testing.T) {
	for _, tc := range []struct{ received, due, latest string }{
		{"2026-01-15T10:00:00Z", "2026-02-15T10:00:00Z", "2026-04-15T10:00:00Z"},
		{"2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z", "2026-04-30T10:00:00Z"},
		{"2028-01-31T23:59:59Z", "2028-02-29T23:59:59Z", "2028-04-30T23:59:59Z"}, // leap year
		{"2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z", "2026-06-30T00:00:00Z"},
		{"2026-11-30T08:00:00Z", "2026-12-30T08:00:00Z", "2027-02-28T08:00:00Z"},
		{"2026-12-31T08:00:00Z", "2027-01-31T08:00:00Z", "2027-03-31T08:00:00Z"},      // year boundary
		{"2026-08-31T12:00:00+02:00", "2026-09-30T10:00:00Z", "2026-11-30T10:00:00Z"}, // in UTC
	} {
		t.Run(tc.received, func(t *testing.T) {
			r := utc(tc.received)
			if got := DueAt(r); !got.Equal(utc(tc.due)) {
				t.Errorf("DueAt(%s) = %s, want %s", tc.received, got, tc.due)
			}
			if got := LatestDue(r); !got.Equal(utc(tc.latest)) {
				t.Errorf("LatestDue(%s) = %s, want %s", tc.received, got, tc.latest)
			}
		})
	}
}

func TestCheckExtensionAllowsUpToThreeMonthsFromReceipt(t *testing.T) {
	received := utc("2026-01-31T10:00:00Z")
	due := DueAt(received)
	for _, tc := range []struct {
		name   string
		newDue time.Time
		ok     bool
	}{
		{"exactly three months", utc("2026-04-30T10:00:00Z"), true},
		{"two months", utc("2026-03-31T10:00:00Z"), true},
		{"one second past three months", utc("2026-04-30T10:00:01Z"), false},
		{"May", utc("2026-05-01T00:00:00Z"), false},
		{"the current deadline", due, false},
		{"earlier than the deadline", due.Add(-time.Hour), false},
		{"none", time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckExtension(received, due, tc.newDue)
			if tc.ok && err != nil {
				t.Fatalf("CheckExtension to %s: %v, want allowed", tc.newDue, err)
			}
			if !tc.ok && !errors.Is(err, ErrExtension) {
				t.Fatalf("CheckExtension to %s: %v, want ErrExtension", tc.newDue, err)
			}
		})
	}
}
