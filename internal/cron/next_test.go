package cron

import (
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parse time %q: %v", s, err)
	}
	return tm
}

// fireCase lists the expected fire times after `after`, each written in
// RFC 3339 in the schedule's zone, so the offset is checked too. When want
// has fewer entries than n, the schedule must run out after them.
type fireCase struct {
	name  string
	expr  string
	zone  string
	after string
	n     int
	want  []string
}

func runFireCases(t *testing.T, cases []fireCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tc.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.expr, err)
			}
			loc := mustLoad(t, tc.zone)
			n := tc.n
			if n == 0 {
				n = len(tc.want)
			}
			got := e.NextN(mustTime(t, tc.after), loc, n)
			var gotS []string
			for _, g := range got {
				gotS = append(gotS, g.Format(time.RFC3339))
				if g.Location() != loc {
					t.Errorf("fire time %v is in %v, want %v", g, g.Location(), loc)
				}
			}
			if len(gotS) != len(tc.want) {
				t.Fatalf("%s after %s in %s:\n got %q\nwant %q", tc.expr, tc.after, tc.zone, gotS, tc.want)
			}
			for i := range gotS {
				if gotS[i] != tc.want[i] {
					t.Fatalf("%s after %s in %s:\n got %q\nwant %q", tc.expr, tc.after, tc.zone, gotS, tc.want)
				}
			}
		})
	}
}

func TestNextDST(t *testing.T) {
	t.Parallel()
	runFireCases(t, []fireCase{
		// America/New_York, 2026-03-08: 02:00 EST jumps to 03:00 EDT, so
		// 02:30 does not exist that day and the fire is skipped.
		{name: "NY spring gap skipped", expr: "cron(30 2 * * ? *)", zone: "America/New_York",
			after: "2026-03-07T12:00:00-05:00",
			want:  []string{"2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"}},
		{name: "NY spring 02:00 skipped, 03:00 fires", expr: "cron(0 2,3 * * ? *)", zone: "America/New_York",
			after: "2026-03-08T00:00:00-05:00",
			want:  []string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"}},
		// Every 15 minutes across the gap: 01:45 EST (06:45Z) is followed by
		// 03:00 EDT (07:00Z), 15 real minutes later; nothing lost, nothing doubled.
		{name: "NY spring every 15 min continuous", expr: "cron(0/15 * * * ? *)", zone: "America/New_York",
			after: "2026-03-08T01:30:00-05:00",
			want:  []string{"2026-03-08T01:45:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:15:00-04:00"}},
		// 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice
		// and fires only at its first occurrence (EDT, 05:30Z).
		{name: "NY fall overlap fires once", expr: "cron(30 1 * * ? *)", zone: "America/New_York",
			after: "2026-10-31T12:00:00-04:00",
			want:  []string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		// Every 30 minutes: 01:00 and 01:30 EDT fire; the repeated 01:00 and
		// 01:30 EST do not; next is 02:00 EST (07:00Z).
		{name: "NY fall every 30 min no duplicates", expr: "cron(0/30 * * * ? *)", zone: "America/New_York",
			after: "2026-11-01T00:45:00-04:00",
			want: []string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00",
				"2026-11-01T02:00:00-05:00", "2026-11-01T02:30:00-05:00"}},
		// after is inside the second 01:xx (EST): the repeated wall times
		// already fired in EDT, so the next fire is 02:00 EST.
		{name: "NY after inside repeated hour", expr: "cron(0/30 * * * ? *)", zone: "America/New_York",
			after: "2026-11-01T01:10:00-05:00",
			want:  []string{"2026-11-01T02:00:00-05:00"}},
		// Europe/London, 2026-03-29: 01:00 GMT jumps to 02:00 BST.
		{name: "London spring gap skipped", expr: "cron(30 1 * * ? *)", zone: "Europe/London",
			after: "2026-03-28T12:00:00Z",
			want:  []string{"2026-03-30T01:30:00+01:00"}},
		// 2026-10-25: 02:00 BST falls back to 01:00 GMT; 01:30 BST is 00:30Z.
		{name: "London fall overlap fires once", expr: "cron(30 1 * * ? *)", zone: "Europe/London",
			after: "2026-10-24T12:00:00Z",
			want:  []string{"2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00Z"}},
		// Every minute across London's fall-back: 01:59 BST (00:59Z) then
		// 02:00 GMT (02:00Z); the repeated 01:00–01:59 GMT is skipped.
		{name: "London fall every minute", expr: "cron(* * * * ? *)", zone: "Europe/London",
			after: "2026-10-25T01:58:00+01:00",
			want:  []string{"2026-10-25T01:59:00+01:00", "2026-10-25T02:00:00Z"}},
		// Australia/Sydney, 2026-10-04: 02:00 AEST jumps to 03:00 AEDT.
		{name: "Sydney spring gap skipped", expr: "cron(30 2 * * ? *)", zone: "Australia/Sydney",
			after: "2026-10-03T12:00:00+10:00",
			want:  []string{"2026-10-05T02:30:00+11:00"}},
		// 2026-04-05: 03:00 AEDT falls back to 02:00 AEST; 02:30 fires in AEDT.
		{name: "Sydney fall overlap fires once", expr: "cron(30 2 * * ? *)", zone: "Australia/Sydney",
			after: "2026-04-04T12:00:00+11:00",
			want:  []string{"2026-04-05T02:30:00+11:00", "2026-04-06T02:30:00+10:00"}},
		// Hourly in Sydney across the gap: 01:00 AEST (15:00Z), 03:00 AEDT
		// (16:00Z): one real hour apart.
		{name: "Sydney spring hourly continuous", expr: "cron(0 * * * ? *)", zone: "Australia/Sydney",
			after: "2026-10-04T00:30:00+10:00",
			want:  []string{"2026-10-04T01:00:00+10:00", "2026-10-04T03:00:00+11:00", "2026-10-04T04:00:00+11:00"}},
	})
}

func TestNextCalendar(t *testing.T) {
	t.Parallel()
	runFireCases(t, []fireCase{
		// The 31st never fires in April, June, September or November.
		{name: "31st skips 30-day months", expr: "cron(0 0 31 * ? *)", zone: "UTC",
			after: "2026-04-01T00:00:00Z",
			want:  []string{"2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z", "2026-10-31T00:00:00Z"}},
		{name: "30th skips February", expr: "cron(0 0 30 * ? *)", zone: "UTC",
			after: "2026-01-30T00:00:00Z",
			want:  []string{"2026-03-30T00:00:00Z"}},
		{name: "L last day of month", expr: "cron(0 0 L * ? *)", zone: "UTC",
			after: "2026-01-15T00:00:00Z",
			want:  []string{"2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z"}},
		{name: "L in February of leap year", expr: "cron(0 0 L 2 ? *)", zone: "UTC",
			after: "2024-01-01T00:00:00Z",
			want:  []string{"2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z"}},
		// Feb 29 only in leap years; 2100 is not one (divisible by 100, not 400).
		{name: "Feb 29 leap years", expr: "cron(0 0 29 2 ? *)", zone: "UTC",
			after: "2025-01-01T00:00:00Z",
			want:  []string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{name: "Feb 29 skips 2100", expr: "cron(0 0 29 2 ? 2100-2104)", zone: "UTC",
			after: "2000-01-01T00:00:00Z", n: 3,
			want: []string{"2104-02-29T00:00:00Z"}},
		{name: "Feb 29 2000 is leap", expr: "cron(0 0 29 FEB ? 2000)", zone: "UTC",
			after: "1999-01-01T00:00:00Z", n: 2,
			want: []string{"2000-02-29T00:00:00Z"}},
		// 2026-01-31 is a Saturday → Friday 30th; 2026-02-28 Saturday → 27th;
		// 2026-03-31 Tuesday → 31st; 2026-05-31 Sunday → Friday 29th.
		{name: "LW last weekday", expr: "cron(0 0 LW * ? *)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z", "2026-05-29T00:00:00Z"}},
		// 15th: Jan Thursday → 15; Feb Sunday → Monday 16; Mar Sunday → Mon 16;
		// Apr Wednesday → 15; Aug Saturday → Friday 14.
		{name: "15W nearest weekday", expr: "cron(0 0 15W * ? 2026)", zone: "UTC",
			after: "2026-01-01T00:00:00Z", n: 4,
			want: []string{"2026-01-15T00:00:00Z", "2026-02-16T00:00:00Z", "2026-03-16T00:00:00Z", "2026-04-15T00:00:00Z"}},
		{name: "15W Saturday goes back to Friday", expr: "cron(0 0 15W AUG ? 2026)", zone: "UTC",
			after: "2026-01-01T00:00:00Z", n: 2,
			want: []string{"2026-08-14T00:00:00Z"}},
		// 1W never leaves the month: 2026-08-01 is a Saturday → Monday 3rd;
		// 2026-02-01 is a Sunday → Monday 2nd.
		{name: "1W Saturday jumps forward", expr: "cron(0 0 1W 2,8 ? 2026)", zone: "UTC",
			after: "2026-01-01T00:00:00Z", n: 3,
			want: []string{"2026-02-02T00:00:00Z", "2026-08-03T00:00:00Z"}},
		// 31W: May 31 2026 is a Sunday and the last day → Friday 29th; months
		// without a 31st never fire.
		{name: "31W last-day Sunday goes back", expr: "cron(0 0 31W 4-5 ? 2026)", zone: "UTC",
			after: "2026-01-01T00:00:00Z", n: 2,
			want: []string{"2026-05-29T00:00:00Z"}},
		// Second Tuesday: Jan 2026 Tuesdays 6, 13; Feb 3, 10; Mar 3, 10.
		{name: "3#2 second Tuesday", expr: "cron(0 9 ? * 3#2 *)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-01-13T09:00:00Z", "2026-02-10T09:00:00Z", "2026-03-10T09:00:00Z"}},
		{name: "TUE#2 named", expr: "cron(0 9 ? * TUE#2 *)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-01-13T09:00:00Z"}},
		// Fifth Friday: Jan 2026 (2, 9, 16, 23, 30); none in Feb–Apr; May 29.
		{name: "6#5 fifth Friday skips months", expr: "cron(0 0 ? * 6#5 *)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-01-30T00:00:00Z", "2026-05-29T00:00:00Z"}},
		// Last Thursday: Jan 29, Feb 26, Mar 26 (2026).
		{name: "5L last Thursday", expr: "cron(0 0 ? * 5L *)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-01-29T00:00:00Z", "2026-02-26T00:00:00Z", "2026-03-26T00:00:00Z"}},
		// Plain L in day-of-week is Saturday: 2026-01-03, 2026-01-10.
		{name: "L in day-of-week is Saturday", expr: "cron(0 12 ? * L *)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-01-03T12:00:00Z", "2026-01-10T12:00:00Z"}},
		// 2026-01-02 is a Friday.
		{name: "MON-FRI names", expr: "cron(0 9 ? * MON-FRI *)", zone: "UTC",
			after: "2026-01-02T10:00:00Z",
			want:  []string{"2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"}},
		{name: "numeric days 1,7 weekend", expr: "cron(0 9 ? * 1,7 *)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-01-03T09:00:00Z", "2026-01-04T09:00:00Z", "2026-01-10T09:00:00Z"}},
		{name: "lower-case month names", expr: "cron(0 0 1 jan,jul ? *)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{name: "month range names", expr: "cron(0 0 1 NOV-DEC ? 2026)", zone: "UTC",
			after: "2026-01-01T00:00:00Z", n: 3,
			want: []string{"2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"}},
		{name: "a/n minute step", expr: "cron(5/20 * * * ? *)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:05:00Z"}},
		{name: "a-b/n hour step", expr: "cron(0 0-12/6 * * ? *)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-01-01T06:00:00Z", "2026-01-01T12:00:00Z", "2026-01-02T00:00:00Z"}},
		{name: "*/n month step", expr: "cron(0 0 1 */4 ? *)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-05-01T00:00:00Z", "2026-09-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{name: "day-of-month step", expr: "cron(0 0 1/10 * ? *)", zone: "UTC",
			after: "2026-02-05T00:00:00Z",
			want:  []string{"2026-02-11T00:00:00Z", "2026-02-21T00:00:00Z", "2026-03-01T00:00:00Z"}},
		{name: "year step", expr: "cron(0 0 1 1 ? 2030/10)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2030-01-01T00:00:00Z", "2040-01-01T00:00:00Z"}},
		{name: "year range runs out", expr: "cron(0 0 1 1 ? 2027-2028)", zone: "UTC",
			after: "2026-06-01T00:00:00Z", n: 5,
			want: []string{"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}},
		{name: "past year never fires", expr: "cron(0 0 1 1 ? 2020)", zone: "UTC",
			after: "2020-06-01T00:00:00Z", n: 1},
		{name: "last minute of 2199", expr: "cron(* * * * ? *)", zone: "UTC",
			after: "2199-12-31T23:58:00Z", n: 3,
			want: []string{"2199-12-31T23:59:00Z"}},
		{name: "after before 1970 starts at 1970", expr: "cron(0 0 1 1 ? *)", zone: "UTC",
			after: "1950-06-01T00:00:00Z",
			want:  []string{"1970-01-01T00:00:00Z"}},
		{name: "never matches: 31 in 30-day months", expr: "cron(0 0 31 APR,JUN,SEP,NOV ? *)", zone: "UTC",
			after: "2026-01-01T00:00:00Z", n: 1},
		// The wall clock is read in the schedule's zone: 23:00Z is 08:00 the
		// next day in Tokyo (+09:00), so 09:00 Tokyo comes an hour later.
		{name: "zone wall clock", expr: "cron(0 9 * * ? *)", zone: "Asia/Tokyo",
			after: "2025-12-31T23:00:00Z",
			want:  []string{"2026-01-01T09:00:00+09:00"}},
		// Seconds in after: the 00:05 fire is not before 00:05:30.
		{name: "strictly after with seconds", expr: "cron(5 0 * * ? *)", zone: "UTC",
			after: "2026-01-01T00:05:30Z",
			want:  []string{"2026-01-02T00:05:00Z"}},
		{name: "strictly after exact fire", expr: "cron(5 0 * * ? *)", zone: "UTC",
			after: "2026-01-01T00:05:00Z",
			want:  []string{"2026-01-02T00:05:00Z"}},
	})
}

func TestNextRate(t *testing.T) {
	t.Parallel()
	ny := mustLoad(t, "America/New_York")
	tests := []struct {
		name  string
		expr  string
		start string // empty: no WithStart
		after string
		want  []string
	}{
		// Without a start, fire times are anchored at the Unix epoch, so
		// rate(5 minutes) fires on multiples of five minutes.
		{name: "epoch anchor", expr: "rate(5 minutes)",
			after: "2026-01-01T00:02:30Z",
			want:  []string{"2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"}},
		{name: "after before start fires at start", expr: "rate(1 hour)", start: "2026-01-01T10:17:00Z",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-01-01T10:17:00Z", "2026-01-01T11:17:00Z"}},
		{name: "after equal to start", expr: "rate(1 hour)", start: "2026-01-01T10:17:00Z",
			after: "2026-01-01T10:17:00Z",
			want:  []string{"2026-01-01T11:17:00Z"}},
		{name: "start with nanoseconds", expr: "rate(2 minutes)", start: "2026-01-01T10:00:00.5Z",
			after: "2026-01-01T10:02:00.4Z",
			want:  []string{"2026-01-01T10:02:00.5Z", "2026-01-01T10:04:00.5Z"}},
		// rate(1 day) is 24 hours of real time: across New York's spring
		// forward, 09:00 EST (14:00Z) is followed by 10:00 EDT (14:00Z).
		{name: "day is 24h across DST", expr: "rate(1 day)", start: "2026-03-07T09:00:00-05:00",
			after: "2026-03-07T09:00:00-05:00",
			want:  []string{"2026-03-08T10:00:00-04:00", "2026-03-09T10:00:00-04:00"}},
		{name: "rate(7 days)", expr: "rate(7 days)", start: "2026-01-01T00:00:00Z",
			after: "2026-01-20T00:00:00Z",
			want:  []string{"2026-01-22T00:00:00Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tc.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.expr, err)
			}
			if tc.start != "" {
				e = e.WithStart(mustTime(t, tc.start))
			}
			got := e.NextN(mustTime(t, tc.after), ny, len(tc.want))
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if w := mustTime(t, tc.want[i]); !got[i].Equal(w) || got[i].Location() != ny {
					t.Errorf("fire %d: got %v, want %v in %v", i, got[i], w, ny)
				}
			}
		})
	}
}

func TestNextAt(t *testing.T) {
	t.Parallel()
	runFireCases(t, []fireCase{
		{name: "future", expr: "at(2026-06-01T09:30:00)", zone: "America/New_York",
			after: "2026-01-01T00:00:00Z", n: 2,
			want: []string{"2026-06-01T09:30:00-04:00"}},
		{name: "seconds kept", expr: "at(2026-06-01T09:30:15)", zone: "UTC",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2026-06-01T09:30:15Z"}},
		{name: "exactly at is past", expr: "at(2026-06-01T09:30:00)", zone: "UTC",
			after: "2026-06-01T09:30:00Z", n: 1},
		{name: "past", expr: "at(2020-01-01T00:00:00)", zone: "UTC",
			after: "2026-01-01T00:00:00Z", n: 1},
		// 02:30 does not exist on 2026-03-08 in New York: like a cron fire in
		// the gap, it is skipped, and a one-time schedule then never fires.
		{name: "in DST gap never fires", expr: "at(2026-03-08T02:30:00)", zone: "America/New_York",
			after: "2026-01-01T00:00:00Z", n: 1},
		// Past the last explicit tzdata transition the zone's rule string
		// applies (Lord Howe is +11 in summer); found by FuzzParse.
		{name: "far future rule-based zone", expr: "at(2196-12-31T23:59:59)", zone: "Australia/Lord_Howe",
			after: "2026-01-01T00:00:00Z",
			want:  []string{"2196-12-31T23:59:59+11:00"}},
		{name: "in DST overlap fires at first occurrence", expr: "at(2026-11-01T01:30:00)", zone: "America/New_York",
			after: "2026-01-01T00:00:00Z", n: 2,
			want: []string{"2026-11-01T01:30:00-04:00"}},
	})
}

func TestNextZeroAndNilLocation(t *testing.T) {
	t.Parallel()
	if got, ok := (Expression{}).Next(time.Now(), time.UTC); ok {
		t.Errorf("zero Expression fired at %v", got)
	}
	e, err := Parse("cron(0 9 * * ? *)")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := e.Next(mustTime(t, "2026-01-01T00:00:00Z"), nil)
	if want := mustTime(t, "2026-01-01T09:00:00Z"); !ok || !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("Next with nil location = %v, %v; want %v in UTC", got, ok, want)
	}
	if got := e.NextN(time.Now(), time.UTC, 0); got != nil {
		t.Errorf("NextN(0) = %v, want nil", got)
	}
}

// TestNextMatchesBruteForce checks Next against a minute-by-minute walk of
// absolute time, which applies the rules independently: a wall minute fires
// at its first instant only, and a wall minute that never occurs never fires.
func TestNextMatchesBruteForce(t *testing.T) {
	t.Parallel()
	exprs := []string{
		"cron(0/7 * * * ? *)", "cron(30 1,2 * * ? *)", "cron(0 0-3 ? * SUN *)",
		"cron(15 2 8 MAR ? *)", "cron(45 1 1W * ? *)", "cron(0 * L * ? *)",
	}
	for _, zone := range []string{"America/New_York", "Europe/London", "Australia/Sydney", "Australia/Lord_Howe"} {
		t.Run(zone, func(t *testing.T) {
			t.Parallel()
			bruteForceZone(t, zone, exprs)
		})
	}
}

func bruteForceZone(t *testing.T, zone string, exprs []string) {
	t.Helper()
	loc := mustLoad(t, zone)
	// Each 36-day window covers the 2026 transitions of all four zones, and
	// at least one month end.
	for _, windowStart := range []string{"2026-03-05T00:00:00Z", "2026-10-01T00:00:00Z"} {
		for _, expr := range exprs {
			e, err := Parse(expr)
			if err != nil {
				t.Fatal(err)
			}
			from := mustTime(t, windowStart)
			to := from.Add(36 * 24 * time.Hour)
			var want []time.Time
			// Walking minute by minute, a wall clock repeats exactly when it
			// is not later than the latest wall clock already seen.
			var latest time.Time
			for at := from.Add(time.Minute); !at.After(to); at = at.Add(time.Minute) {
				l := at.In(loc)
				wall := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), 0, 0, time.UTC)
				if !wall.After(latest) {
					continue
				}
				latest = wall
				if matchesWall(t, e, l) {
					want = append(want, at)
				}
			}
			var got []time.Time
			for after := from; ; {
				next, ok := e.Next(after, loc)
				if !ok || next.After(to) {
					break
				}
				got = append(got, next)
				after = next
			}
			if len(got) != len(want) {
				t.Fatalf("%s in %s from %s: got %d fires, want %d\n got %v\nwant %v", expr, zone, windowStart, len(got), len(want), got, want)
			}
			for i := range got {
				if !got[i].Equal(want[i]) {
					t.Fatalf("%s in %s: fire %d = %v, want %v", expr, zone, i, got[i], want[i])
				}
			}
		}
	}
}

// matchesWall reports whether the wall clock of l matches e's fields; it uses
// the spec's field tests but not next's search or zone resolution.
func matchesWall(t *testing.T, e Expression, l time.Time) bool {
	t.Helper()
	s := e.cron
	return s.minutes&(1<<l.Minute()) != 0 && s.hours&(1<<l.Hour()) != 0 &&
		s.months&(1<<int(l.Month())) != 0 && s.hasYear(l.Year()) &&
		s.dayMatches(l.Year(), int(l.Month()), l.Day())
}

func TestCalendarHelpers(t *testing.T) {
	t.Parallel()
	// Cross-check the civil-date arithmetic against the time package over a
	// range that includes leap centuries.
	for d := time.Date(1899, 12, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2201; d = d.AddDate(0, 0, 1) {
		y, m, dd := d.Year(), int(d.Month()), d.Day()
		if got := civilSeconds(y, m, dd, 0, 0, 0); got != d.Unix() {
			t.Fatalf("civilSeconds(%v) = %d, want %d", d, got, d.Unix())
		}
		if got := weekday(y, m, dd); got != int(d.Weekday())+1 {
			t.Fatalf("weekday(%v) = %d, want %d", d, got, int(d.Weekday())+1)
		}
		if dd == 1 {
			if got, want := daysIn(y, m), d.AddDate(0, 1, -1).Day(); got != want {
				t.Fatalf("daysIn(%d, %d) = %d, want %d", y, m, got, want)
			}
		}
	}
}

func BenchmarkNext(b *testing.B) {
	ny := mustLoad(b, "America/New_York")
	after := mustTime(b, "2026-03-07T12:00:00Z")
	for _, expr := range []string{
		"cron(0/5 * * * ? *)",
		"cron(30 2 * * ? *)",
		"cron(0 9 ? * MON-FRI *)",
		"cron(0 0 LW * ? *)",
		"cron(0 0 ? * 6#5 *)",
		"cron(0 0 29 2 ? *)",
		"rate(5 minutes)",
	} {
		e, err := Parse(expr)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(expr, func(b *testing.B) {
			for b.Loop() {
				if _, ok := e.Next(after, ny); !ok {
					b.Fatal("no fire")
				}
			}
		})
	}
}
