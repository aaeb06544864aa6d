// Package retention is the retention decision as one pure function over a contact's projection:
// in scope, inactive as of a date, blocked, and delete or anonymise. Scheduler and anonymiser
// both call it, so planning and execution can never disagree.
package retention
