package config_test

import (
	"errors"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/config"
)

func TestParsePeriod(t *testing.T) {
	at := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	good := []struct {
		in     string
		before time.Time
		months int // 0: not whole months
		text   string
	}{
		{"P12M", time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC), 12, "12 months"},
		{"P3Y", time.Date(2023, 3, 31, 12, 0, 0, 0, time.UTC), 36, "3 years"},
		{"P1Y6M", time.Date(2024, 10, 1, 12, 0, 0, 0, time.UTC), 18, "1 year 6 months"}, // 31 Sept is 1 Oct
		{"P90D", time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC), 0, "90 days"},
		{"P2W", time.Date(2026, 3, 17, 12, 0, 0, 0, time.UTC), 0, "2 weeks"},
		{"PT12H", time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), 0, "12 hours"},
		{"P1DT1H30M", time.Date(2026, 3, 30, 10, 30, 0, 0, time.UTC), 0, "1 day 1 hour 30 minutes"},
		{"p1m", time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC), 1, "1 month"}, // 31 Feb is 3 March
	}
	for _, g := range good {
		p, err := config.ParsePeriod(g.in)
		if err != nil {
			t.Errorf("%s: %v", g.in, err)
			continue
		}
		if got := p.Before(at); !got.Equal(g.before) {
			t.Errorf("%s before %s = %s, want %s", g.in, at, got, g.before)
		}
		m, whole := p.WholeMonths()
		if (g.months > 0) != whole || m != g.months {
			t.Errorf("%s whole months = %d, %v; want %d", g.in, m, whole, g.months)
		}
		if p.Text() != g.text {
			t.Errorf("%s text %q, want %q", g.in, p.Text(), g.text)
		}
	}
	bad := []struct {
		in   string
		want error
	}{
		{"", config.ErrPeriodSyntax},
		{"P", config.ErrPeriodSyntax},
		{"PT", config.ErrPeriodSyntax},
		{"P1DT", config.ErrPeriodSyntax},
		{"12M", config.ErrPeriodSyntax},
		{"P12", config.ErrPeriodSyntax},
		{"P1.5Y", config.ErrPeriodSyntax},
		{"P1M1Y", config.ErrPeriodSyntax},
		{"twelve months", config.ErrPeriodSyntax},
		{"-P12M", config.ErrPeriodNegative},
		{"P0M", config.ErrPeriodZero},
		{"PT0S", config.ErrPeriodZero},
		{"P1001Y", config.ErrPeriodTooLong},
		{"P99999999999999999999D", config.ErrPeriodTooLong},
	}
	for _, b := range bad {
		if _, err := config.ParsePeriod(b.in); !errors.Is(err, b.want) {
			t.Errorf("%q: error %v, want %v", b.in, err, b.want)
		}
	}
	if got := config.Months(36).String(); got != "P36M" {
		t.Errorf("Months(36) = %s", got)
	}
}

func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"P12M", "P1Y2M3W4DT5H6M7S", "-P1D", "PT", "P0D"} {
		f.Add(s)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := config.ParsePeriod(s)
		if err != nil {
			return
		}
		if !p.Before(at).Before(at) {
			t.Fatalf("%q accepted but does not move back in time", s)
		}
		q, err := config.ParsePeriod(p.String())
		if err != nil || !q.Before(at).Equal(p.Before(at)) {
			t.Fatalf("%q does not round-trip through %q: %v", s, p.String(), err)
		}
	})
}
