package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Period is an ISO 8601 duration as lethe.yaml writes retention periods: P12M, P3Y, P90D,
// P1Y6M, PT12H. Calendar parts (years, months, weeks, days) are counted on the calendar, as
// the inactivity rule counts months, so "P1M before 31 March" is 28 or 29 February's end of
// day rather than 30 days ago; clock parts (hours, minutes, seconds) are exact.
//
// Only positive periods with integer components are accepted: a negative or zero retention
// is a configuration mistake, and fractions ("P0.5Y") are refused rather than rounded.
type Period struct {
	Years, Months, Weeks, Days int
	// Clock is the T part (hours, minutes and seconds).
	Clock time.Duration
	text  string
}

// maxPeriodYears bounds every component so that date arithmetic cannot overflow; nobody
// keeps personal data for a thousand years.
const maxPeriodYears = 1000

var periodPattern = regexp.MustCompile(`^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// Errors of ParsePeriod, checked with errors.Is.
var (
	ErrPeriodSyntax   = errors.New("not an ISO 8601 duration such as P12M, P3Y, P90D or PT12H")
	ErrPeriodNegative = errors.New("a negative duration is not a retention period")
	ErrPeriodZero     = errors.New("a zero duration keeps nothing; remove the entry or give a positive period")
	ErrPeriodTooLong  = errors.New("a period over 1000 years is not a retention period")
)

// ParsePeriod reads an ISO 8601 duration (PnYnMnWnDTnHnMnS, integer components, at least one).
func ParsePeriod(s string) (Period, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		return Period{}, ErrPeriodNegative
	}
	if strings.ContainsAny(s, ".,") {
		return Period{}, fmt.Errorf("%w (fractions are not supported)", ErrPeriodSyntax)
	}
	u := strings.ToUpper(s)
	m := periodPattern.FindStringSubmatch(u)
	if m == nil || strings.HasSuffix(u, "T") || strings.Join(m[1:], "") == "" {
		return Period{}, ErrPeriodSyntax
	}
	var n [7]int64
	for i := range n {
		if m[i+1] == "" {
			continue
		}
		v, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil {
			return Period{}, ErrPeriodTooLong
		}
		n[i] = v
	}
	limits := [7]int64{maxPeriodYears, 12 * maxPeriodYears, 53 * maxPeriodYears, 366 * maxPeriodYears,
		24 * 366 * maxPeriodYears, 60 * 24 * 366 * maxPeriodYears, 3600 * 24 * 366 * maxPeriodYears}
	for i := range n {
		if n[i] > limits[i] {
			return Period{}, ErrPeriodTooLong
		}
	}
	p := Period{Years: int(n[0]), Months: int(n[1]), Weeks: int(n[2]), Days: int(n[3]),
		Clock: time.Duration(n[4])*time.Hour + time.Duration(n[5])*time.Minute + time.Duration(n[6])*time.Second,
		text:  u}
	if p.IsZero() {
		return Period{}, ErrPeriodZero
	}
	return p, nil
}

// MustPeriod is ParsePeriod for constants; it panics on a bad literal.
func MustPeriod(s string) Period {
	p, err := ParsePeriod(s)
	if err != nil {
		panic(fmt.Sprintf("config: period %q: %v", s, err))
	}
	return p
}

// Months returns a period of n calendar months (n >= 1).
func Months(n int) Period {
	return Period{Months: n, text: "P" + strconv.Itoa(n) + "M"}
}

// canonical writes the period with months and days only (P3Y → P36M, P1W → P7D), so that two
// spellings of one period compare equal.
func (p Period) canonical() Period {
	return Period{Months: 12*p.Years + p.Months, Days: 7*p.Weeks + p.Days, Clock: p.Clock}
}

// IsZero reports whether the period is empty (the zero Period, or a field left out).
func (p Period) IsZero() bool {
	return p.Years == 0 && p.Months == 0 && p.Weeks == 0 && p.Days == 0 && p.Clock == 0
}

// Before returns t moved back by the period: the cut-off below which something collected or
// last active is past its retention.
func (p Period) Before(t time.Time) time.Time {
	return t.AddDate(-p.Years, -p.Months, -(7*p.Weeks + p.Days)).Add(-p.Clock)
}

// After returns t moved forward by the period: the horizon of a "due within" filter.
func (p Period) After(t time.Time) time.Time {
	return t.AddDate(p.Years, p.Months, 7*p.Weeks+p.Days).Add(p.Clock)
}

// WholeMonths returns the period in calendar months when it is made of years and months only.
func (p Period) WholeMonths() (int, bool) {
	if p.Weeks != 0 || p.Days != 0 || p.Clock != 0 || p.IsZero() {
		return 0, false
	}
	return 12*p.Years + p.Months, true
}

// String is the ISO 8601 form, as written in lethe.yaml.
func (p Period) String() string {
	if p.text != "" {
		return p.text
	}
	if p.IsZero() {
		return ""
	}
	var b strings.Builder
	b.WriteString("P")
	for _, c := range []struct {
		n    int
		unit string
	}{{p.Years, "Y"}, {p.Months, "M"}, {p.Weeks, "W"}, {p.Days, "D"}} {
		if c.n != 0 {
			b.WriteString(strconv.Itoa(c.n) + c.unit)
		}
	}
	if p.Clock != 0 {
		b.WriteString("T")
		h, m, s := int(p.Clock/time.Hour), int(p.Clock%time.Hour/time.Minute), int(p.Clock%time.Minute/time.Second)
		for _, c := range []struct {
			n    int
			unit string
		}{{h, "H"}, {m, "M"}, {s, "S"}} {
			if c.n != 0 {
				b.WriteString(strconv.Itoa(c.n) + c.unit)
			}
		}
	}
	return b.String()
}

// Text is the period in words, for the register's readable forms: "12 months", "1 year 6 months".
func (p Period) Text() string {
	var parts []string
	add := func(n int, unit string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+unit)
		case n > 1:
			parts = append(parts, strconv.Itoa(n)+" "+unit+"s")
		}
	}
	add(p.Years, "year")
	add(p.Months, "month")
	add(p.Weeks, "week")
	add(p.Days, "day")
	add(int(p.Clock/time.Hour), "hour")
	add(int(p.Clock%time.Hour/time.Minute), "minute")
	add(int(p.Clock%time.Minute/time.Second), "second")
	return strings.Join(parts, " ")
}
