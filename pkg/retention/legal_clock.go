package retention

import (
	"errors"
	"fmt"
	"time"
)

// The legal clock of a data subject's request (Article 12(3) GDPR): an answer within one
// month of receipt, extendable by two further months, with the reason given to the person.
const (
	// DueMonths is the time to answer a request, in calendar months from its receipt.
	DueMonths = 1
	// MaxDueMonths is the latest an extension may push the deadline: one month plus two.
	MaxDueMonths = 3
)

// ErrExtension: an extension the legal clock does not allow (beyond three months from
// receipt, not later than the current deadline, or without a reason).
var ErrExtension = errors.New("retention: extension not allowed")

// DueAt is the deadline of a request received at received: one calendar month later, the
// same time of day. A day that does not exist in the next month clamps to its last day, so
// a request of 31 January is due on 28 (or 29) February and one of 31 March on 30 April —
// never spilling into the month after. All dates are UTC.
func DueAt(received time.Time) time.Time {
	return AddMonths(received.UTC(), DueMonths)
}

// LatestDue is the latest deadline an extension may set: three calendar months after
// receipt, clamped like DueAt (31 January → 30 April).
func LatestDue(received time.Time) time.Time {
	return AddMonths(received.UTC(), MaxDueMonths)
}

// CheckExtension reports whether a request received at received, due at due now, may be
// extended to newDue: later than the current deadline and no later than LatestDue.
func CheckExtension(received, due, newDue time.Time) error {
	switch latest := LatestDue(received); {
	case newDue.IsZero():
		return fmt.Errorf("%w: a new due date is required", ErrExtension)
	case !newDue.After(due):
		return fmt.Errorf("%w: the new due date %s is not after the current one, %s", ErrExtension, rfc(newDue), rfc(due))
	case newDue.After(latest):
		return fmt.Errorf("%w: the new due date %s is more than three months after receipt (latest %s)", ErrExtension, rfc(newDue), latest.UTC().Format(time.RFC3339))
	}
	return nil
}

// Overdue reports whether a request due at due and not answered is late at now.
func Overdue(due, now time.Time) bool { return !due.IsZero() && now.After(due) }

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }
