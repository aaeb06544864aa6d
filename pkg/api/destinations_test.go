package api

import (
	"testing"
	"time"
)

func TestDestinationLate(t *testing.T) {
	at := func(age time.Duration, unconfirmed int64) DestinationView {
		return DestinationView{Unconfirmed: unconfirmed, OldestUnconfirmedAgeSeconds: int64(age / time.Second)}
	}
	for _, c := range []struct {
		d    DestinationView
		want bool
	}{
		{at(0, 0), false},
		{at(DestinationLateAfter, 3), false},            // exactly a week: not yet
		{at(DestinationLateAfter+time.Second, 3), true}, // past it
		{at(DestinationLateAfter+time.Hour, 0), false},  // nothing unconfirmed is never late
	} {
		if got := c.d.Late(); got != c.want {
			t.Errorf("%+v: late %v, want %v", c.d, got, c.want)
		}
	}
}
