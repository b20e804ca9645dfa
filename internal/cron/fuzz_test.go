package cron

import (
	"errors"
	"testing"
	"time"
)

var fuzzZones = []string{"UTC", "America/New_York", "Europe/London", "Australia/Sydney", "Australia/Lord_Howe"}

// FuzzParse checks that Parse never panics, that every error is an *Error,
// that String round-trips, and that fire times are strictly after `after`
// and strictly increasing. Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add("cron(0/15 * * * ? *)", int64(1772953200), uint8(1))
	f.Add("rate(5 minutes)", int64(1772953200), uint8(0))
	f.Add("at(2026-11-01T01:30:00)", int64(1772953200), uint8(1))

	locs := make([]*time.Location, len(fuzzZones))
	for i, z := range fuzzZones {
		locs[i] = mustLoad(f, z)
	}
	// after spans 1960–2210 so both ends of the year field are exercised.
	lo := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2210, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

	f.Fuzz(func(t *testing.T, expr string, afterSec int64, zone uint8) {
		e, err := Parse(expr)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || err.Error() == "" {
				t.Fatalf("Parse(%q) error %T %q is not a descriptive *Error", expr, err, err)
			}
			return
		}
		again, err := Parse(e.String())
		if err != nil || again.String() != e.String() {
			t.Fatalf("Parse(%q).String() = %q does not round-trip: %v", expr, e.String(), err)
		}

		span := hi - lo
		off := afterSec % span
		if off < 0 {
			off += span
		}
		after := time.Unix(lo+off, 0)
		loc := locs[int(zone)%len(locs)]
		if e.Kind() == KindRate {
			e = e.WithStart(after.Add(-time.Duration(afterSec%1000) * time.Minute))
		}

		next, ok := e.Next(after, loc)
		if ok && !next.After(after) {
			t.Fatalf("%s: Next(%v) = %v, not after", e, after, next)
		}
		got := e.NextN(after, loc, 5)
		if ok != (len(got) > 0) || (ok && !got[0].Equal(next)) {
			t.Fatalf("%s: Next(%v) = %v, %v but NextN starts %v", e, after, next, ok, got)
		}
		prev := after
		for i, g := range got {
			if !g.After(prev) {
				t.Fatalf("%s: NextN(%v)[%d] = %v, not after %v", e, after, i, g, prev)
			}
			if g.Location() != loc {
				t.Fatalf("%s: fire time %v not in %v", e, g, loc)
			}
			prev = g
		}
	})
}
