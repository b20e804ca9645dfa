package cron

import (
	"errors"
	"testing"
	"time"
)

func TestParseValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		kind Kind
		want string // String(): canonical form
	}{
		{"cron(0 12 * * ? *)", KindCron, "cron(0 12 * * ? *)"},
		{"  cron( 0   12 * *  ?  * )  ", KindCron, "cron(0 12 * * ? *)"},
		{"cron(0 9 ? * mon-fri *)", KindCron, "cron(0 9 ? * MON-FRI *)"},
		{"cron(0/15 0-6,18-23 ? JAN,jul 2#1 2026-2030/2)", KindCron, "cron(0/15 0-6,18-23 ? JAN,JUL 2#1 2026-2030/2)"},
		{"cron(0 0 L * ? *)", KindCron, "cron(0 0 L * ? *)"},
		{"cron(0 0 lw * ? *)", KindCron, "cron(0 0 LW * ? *)"},
		{"cron(0 0 15W * ? *)", KindCron, "cron(0 0 15W * ? *)"},
		{"cron(0 0 ? * 5L *)", KindCron, "cron(0 0 ? * 5L *)"},
		{"cron(0 0 ? * FRIL *)", KindCron, "cron(0 0 ? * FRIL *)"},
		{"cron(0 0 ? * L *)", KindCron, "cron(0 0 ? * L *)"},
		{"cron(59 23 31 12 ? 2199)", KindCron, "cron(59 23 31 12 ? 2199)"},
		{"cron(0 0 1 1 ? 1970)", KindCron, "cron(0 0 1 1 ? 1970)"},
		{"rate(1 minute)", KindRate, "rate(1 minute)"},
		{"rate(5 minutes)", KindRate, "rate(5 minutes)"},
		{"rate( 1  hour )", KindRate, "rate(1 hour)"},
		{"rate(12 hours)", KindRate, "rate(12 hours)"},
		{"rate(1 day)", KindRate, "rate(1 day)"},
		{"rate(30 days)", KindRate, "rate(30 days)"},
		{"at(2026-03-08T02:30:00)", KindAt, "at(2026-03-08T02:30:00)"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tc.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.expr, err)
			}
			if e.Kind() != tc.kind {
				t.Errorf("Kind() = %v, want %v", e.Kind(), tc.kind)
			}
			if got := e.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			again, err := Parse(e.String())
			if err != nil || again.String() != e.String() {
				t.Errorf("String() does not round-trip: %q → %v, %v", e.String(), again, err)
			}
		})
	}
}

func TestParseRateInterval(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]time.Duration{
		"rate(1 minute)":   time.Minute,
		"rate(90 minutes)": 90 * time.Minute,
		"rate(2 hours)":    2 * time.Hour,
		"rate(3 days)":     72 * time.Hour,
	} {
		e, err := Parse(expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		if e.Interval() != want {
			t.Errorf("%s: Interval() = %v, want %v", expr, e.Interval(), want)
		}
	}
}

// TestParseInvalid pins the whole message: each names the expression kind,
// the field, the offending token and what would be accepted.
func TestParseInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr  string
		field string
		want  string
	}{
		{"", "", `schedule expression "": must be cron(...), rate(...) or at(...)`},
		{"0 12 * * ? *", "", `schedule expression "0 12 * * ? *": must be cron(...), rate(...) or at(...)`},
		{"every(5 minutes)", "", `schedule expression "every(5 minutes)": unknown expression type "every"; must be cron(...), rate(...) or at(...)`},
		{"cron(0 12 * * ?)", "", `cron "0 12 * * ?": want 6 fields (minutes hours day-of-month month day-of-week year), got 5`},
		{"cron(0 0 12 * * ? *)", "", `cron "0 0 12 * * ? *": want 6 fields (minutes hours day-of-month month day-of-week year), got 7`},

		{"cron(60 * * * ? *)", "minutes", `cron minutes field "60": value 60 is out of range 0-59`},
		{"cron(0,60 * * * ? *)", "minutes", `cron minutes field "60": value 60 is out of range 0-59`},
		{"cron(? * * * ? *)", "minutes", `cron minutes field "?": "?" is not allowed in minutes (allowed: , - * /)`},
		{"cron(L * * * ? *)", "minutes", `cron minutes field "L": letter "L" is not allowed in minutes (allowed: numbers 0-59 and , - * /)`},
		{"cron(0/0 * * * ? *)", "minutes", `cron minutes field "0/0": step "0" must be a number in 1-60`},
		{"cron(*/61 * * * ? *)", "minutes", `cron minutes field "*/61": step "61" must be a number in 1-60`},
		{"cron(0/5/2 * * * ? *)", "minutes", `cron minutes field "0/5/2": more than one / in a step`},
		{"cron(1,,2 * * * ? *)", "minutes", `cron minutes field "1,,2": empty item in list`},
		{"cron(-5 * * * ? *)", "minutes", `cron minutes field "-5": a range needs a start and an end, as in 0-59`},
		{"cron(1-2-3 * * * ? *)", "minutes", `cron minutes field "1-2-3": a range needs a start and an end, as in 0-59`},
		{"cron(/5 * * * ? *)", "minutes", `cron minutes field "/5": missing value before the step (allowed: 0-59 or *)`},
		{"cron(0 24 * * ? *)", "hours", `cron hours field "24": value 24 is out of range 0-23`},
		{"cron(0 22-2 * * ? *)", "hours", `cron hours field "22-2": range 22-2 runs backwards; the start must not be after the end`},
		{"cron(0 0 32 * ? *)", "day-of-month", `cron day-of-month field "32": value 32 is out of range 1-31`},
		{"cron(0 0 0 * ? *)", "day-of-month", `cron day-of-month field "0": value 0 is out of range 1-31`},
		{"cron(0 0 32W * ? *)", "day-of-month", `cron day-of-month field "32": value 32 is out of range 1-31`},
		{"cron(0 0 1,L * ? *)", "day-of-month", `cron day-of-month field "1,L": ?, L, LW and nW must be the whole field, not part of a list, range or step`},
		{"cron(0 0 L-3 * ? *)", "day-of-month", `cron day-of-month field "L-3": ?, L, LW and nW must be the whole field, not part of a list, range or step`},
		{"cron(0 0 1#2 * ? *)", "day-of-month", `cron day-of-month field "1#2": "#" is not allowed in day-of-month (allowed: , - * ? / L W)`},
		{"cron(0 0 1 13 ? *)", "month", `cron month field "13": value 13 is out of range 1-12`},
		{"cron(0 0 1 JANUARY ? *)", "month", `cron month field "JANUARY": not a number in 1-12 or a month name (JAN-DEC)`},
		{"cron(0 0 1 L ? *)", "month", `cron month field "L": not a number in 1-12 or a month name (JAN-DEC)`},
		{"cron(0 0 ? * 8 *)", "day-of-week", `cron day-of-week field "8": value 8 is out of range 1-7`},
		{"cron(0 0 ? * 0 *)", "day-of-week", `cron day-of-week field "0": value 0 is out of range 1-7`},
		{"cron(0 0 ? * MONDAY *)", "day-of-week", `cron day-of-week field "MONDAY": not a number in 1-7 or a day name (SUN-SAT)`},
		{"cron(0 0 ? * 1/2 *)", "day-of-week", `cron day-of-week field "1/2": "/" is not allowed in day-of-week (allowed: , - * ? L #)`},
		{"cron(0 0 ? * 3#6 *)", "day-of-week", `cron day-of-week field "3#6": occurrence "6" after # must be 1-5`},
		{"cron(0 0 ? * 3#0 *)", "day-of-week", `cron day-of-week field "3#0": occurrence "0" after # must be 1-5`},
		{"cron(0 0 ? * 9#2 *)", "day-of-week", `cron day-of-week field "9": value 9 is out of range 1-7`},
		{"cron(0 0 ? * #2 *)", "day-of-week", `cron day-of-week field "#2": missing day before # (allowed: 1-7 or SUN-SAT)`},
		{"cron(0 0 ? * 8L *)", "day-of-week", `cron day-of-week field "8": value 8 is out of range 1-7`},
		{"cron(0 0 ? * MON,5L *)", "day-of-week", `cron day-of-week field "MON,5L": ?, L, nL and n#k must be the whole field, not part of a list, range or step`},
		{"cron(0 0 ? * 15W *)", "day-of-week", `cron day-of-week field "15W": not a number in 1-7 or a day name (SUN-SAT)`},
		{"cron(0 0 ? * ? *)", "day-of-week", `cron day-of-week field "?": day-of-month and day-of-week cannot both be "?"; set one of them`},
		{"cron(0 0 * * * *)", "day-of-week", `cron day-of-week field "*": one of day-of-month and day-of-week must be "?" (day-of-month is "*")`},
		{"cron(0 0 1 * MON *)", "day-of-week", `cron day-of-week field "MON": one of day-of-month and day-of-week must be "?" (day-of-month is "1")`},
		{"cron(0 0 1 1 ? 1969)", "year", `cron year field "1969": value 1969 is out of range 1970-2199`},
		{"cron(0 0 1 1 ? 2200)", "year", `cron year field "2200": value 2200 is out of range 1970-2199`},
		{"cron(0 0 1 1 ? 2030-2020)", "year", `cron year field "2030-2020": range 2030-2020 runs backwards; the start must not be after the end`},
		{"cron(0 0 1 1 ? 99999999999999999999)", "year", `cron year field "99999999999999999999": value 99999999999999999999 is out of range 1970-2199`},

		{"rate(5)", "", `rate "5": want two fields, a value and a unit, as in rate(5 minutes)`},
		{"rate(0 minutes)", "value", `rate value "0": must be a whole number of at least 1`},
		{"rate(-1 minutes)", "value", `rate value "-1": must be a whole number of at least 1`},
		{"rate(+5 minutes)", "value", `rate value "+5": must be a whole number of at least 1`},
		{"rate(1.5 hours)", "value", `rate value "1.5": must be a whole number of at least 1`},
		{"rate(5 seconds)", "unit", `rate unit "seconds": must be one of minute, minutes, hour, hours, day, days`},
		{"rate(5 Minutes)", "unit", `rate unit "Minutes": must be one of minute, minutes, hour, hours, day, days`},
		{"rate(1 minutes)", "unit", `rate unit "minutes": use the singular "minute" when the value is 1`},
		{"rate(5 hour)", "unit", `rate unit "hour": use the plural "hours" when the value is not 1`},
		{"rate(99999999999999999999 days)", "value", `rate value "99999999999999999999": is too large; at most 106751 days`},
		{"rate(999999999999 days)", "value", `rate value "999999999999": is too large; at most 106751 days`},

		{"at(2026-02-30T10:00:00)", "", `at "2026-02-30T10:00:00": must be a date-time yyyy-mm-ddThh:mm:ss (day out of range)`},
		{"at(2026-03-08 02:30:00)", "", `at "2026-03-08 02:30:00": must be a date-time yyyy-mm-ddThh:mm:ss`},
		{"at(2026-03-08T02:30:00Z)", "", `at "2026-03-08T02:30:00Z": must be a date-time yyyy-mm-ddThh:mm:ss (extra text: "Z")`},
		{"at(2026-03-08T25:00:00)", "", `at "2026-03-08T25:00:00": must be a date-time yyyy-mm-ddThh:mm:ss (hour out of range)`},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tc.expr)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error %q", tc.expr, e, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("Parse(%q) error\n got %s\nwant %s", tc.expr, err, tc.want)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *Error", err)
			}
			if pe.Field != tc.field {
				t.Errorf("Field = %q, want %q", pe.Field, tc.field)
			}
		})
	}
}
