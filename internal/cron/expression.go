package cron

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind says which of the three EventBridge Scheduler expression forms an
// Expression was parsed from.
type Kind int

// The expression kinds. The zero Kind is not a valid expression.
const (
	KindCron Kind = iota + 1 // cron(min hour day-of-month month day-of-week year)
	KindRate                 // rate(N unit)
	KindAt                   // at(yyyy-mm-ddThh:mm:ss)
)

// String returns the expression keyword: "cron", "rate" or "at".
func (k Kind) String() string {
	switch k {
	case KindCron:
		return "cron"
	case KindRate:
		return "rate"
	case KindAt:
		return "at"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// atLayout is the wall-clock layout of an at() expression; it carries no zone
// because the zone is the schedule's, passed to Next.
const atLayout = "2006-01-02T15:04:05"

// Expression is a parsed EventBridge Scheduler schedule expression. The zero
// Expression never fires. Expressions are values: safe to copy and to use from
// several goroutines.
type Expression struct {
	kind  Kind
	text  string // canonical form, returned by String
	cron  spec
	every time.Duration // rate interval
	start time.Time     // rate anchor; zero means the Unix epoch
	at    time.Time     // at() wall clock, stored in UTC as a zone-less civil time
}

// Kind reports which expression form e is.
func (e Expression) Kind() Kind { return e.kind }

// String returns e in canonical form (single spaces, upper-case names), which
// Parse accepts and which EventBridge Scheduler accepts as ScheduleExpression.
func (e Expression) String() string { return e.text }

// Interval returns the period of a rate() expression and 0 for other kinds.
func (e Expression) Interval() time.Duration { return e.every }

// WithStart returns a copy of e whose rate() fire times are start + k×interval
// for k = 0, 1, 2, …, matching EventBridge Scheduler's StartDate. It has no
// effect on cron() and at() expressions, whose fire times are wall-clock times.
// Without a start, rate() fire times are anchored at the Unix epoch.
func (e Expression) WithStart(start time.Time) Expression {
	e.start = start
	return e
}

// Start returns the anchor set with WithStart, or the zero time.
func (e Expression) Start() time.Time { return e.start }

// Next returns the first fire time strictly after after, expressed in loc.
// cron() and at() wall-clock times are read in loc (nil means UTC); rate()
// fire times are instants and loc only sets the returned time's location.
// ok is false when there is no later fire time: an at() time already past or
// inside a daylight-saving gap, a cron() whose years are exhausted (after
// 2199) or that can never match (for example day 31 in a 30-day month only),
// or the zero Expression.
func (e Expression) Next(after time.Time, loc *time.Location) (next time.Time, ok bool) {
	if loc == nil {
		loc = time.UTC
	}
	switch e.kind {
	case KindCron:
		return e.cron.next(after, loc)
	case KindRate:
		return e.nextRate(after, loc)
	case KindAt:
		return e.nextAt(after, loc)
	}
	return time.Time{}, false
}

// NextN returns up to n successive fire times strictly after after, in
// increasing order; fewer when the schedule runs out.
func (e Expression) NextN(after time.Time, loc *time.Location, n int) []time.Time {
	if n <= 0 {
		return nil
	}
	out := make([]time.Time, 0, min(n, 64))
	for len(out) < n {
		t, ok := e.Next(after, loc)
		if !ok {
			break
		}
		out = append(out, t)
		after = t
	}
	return out
}

func (e Expression) nextRate(after time.Time, loc *time.Location) (time.Time, bool) {
	start := e.start
	if start.IsZero() {
		start = time.Unix(0, 0)
	}
	if after.Before(start) {
		return start.In(loc), true
	}
	// Intervals are whole minutes, so the count of elapsed intervals can be
	// computed on whole seconds without the 292-year limit of time.Duration.
	ivSec := int64(e.every / time.Second)
	elapsed := after.Unix() - start.Unix()
	if after.Nanosecond() < start.Nanosecond() {
		elapsed--
	}
	k := elapsed/ivSec + 1
	return time.Unix(start.Unix()+k*ivSec, int64(start.Nanosecond())).In(loc), true
}

func (e Expression) nextAt(after time.Time, loc *time.Location) (time.Time, bool) {
	y, mo, d := e.at.Date()
	h, mi, s := e.at.Clock()
	t, ok := resolve(civilSeconds(y, int(mo), d, h, mi, s), loc)
	if !ok || !t.After(after) {
		return time.Time{}, false
	}
	return t, true
}

// Parse parses an EventBridge Scheduler schedule expression: cron(…), rate(…)
// or at(…). Leading and trailing white space is ignored. A malformed
// expression yields an *Error naming the field, the token and what is allowed.
func Parse(expr string) (Expression, error) {
	s := strings.TrimSpace(expr)
	kw, body, ok := splitCall(s)
	if !ok {
		return Expression{}, &Error{Token: s, Reason: "must be cron(...), rate(...) or at(...)"}
	}
	switch kw {
	case "cron":
		return parseCron(body)
	case "rate":
		return parseRate(body)
	case "at":
		return parseAt(body)
	}
	return Expression{}, &Error{Token: s, Reason: fmt.Sprintf("unknown expression type %q; must be cron(...), rate(...) or at(...)", kw)}
}

// splitCall splits "name(body)" into name and body.
func splitCall(s string) (name, body string, ok bool) {
	open := strings.IndexByte(s, '(')
	if open <= 0 || !strings.HasSuffix(s, ")") {
		return "", "", false
	}
	return s[:open], s[open+1 : len(s)-1], true
}

var rateUnits = map[string]struct {
	d      time.Duration
	plural bool
}{
	"minute":  {time.Minute, false},
	"minutes": {time.Minute, true},
	"hour":    {time.Hour, false},
	"hours":   {time.Hour, true},
	"day":     {24 * time.Hour, false},
	"days":    {24 * time.Hour, true},
}

// maxDuration bounds a rate's interval: N units must fit in a time.Duration.
const maxDuration = time.Duration(1<<63 - 1)

func parseRate(body string) (Expression, error) {
	parts := strings.Fields(body)
	if len(parts) != 2 {
		return Expression{}, &Error{Kind: "rate", Token: body, Reason: "want two fields, a value and a unit, as in rate(5 minutes)"}
	}
	val, unitName := parts[0], parts[1]
	n, err := strconv.ParseInt(val, 10, 64)
	if !isDigits(val) || (err == nil && n < 1) {
		return Expression{}, &Error{Kind: "rate", Field: "value", Token: val, Reason: "must be a whole number of at least 1"}
	}
	unit, ok := rateUnits[unitName]
	if !ok {
		return Expression{}, &Error{Kind: "rate", Field: "unit", Token: unitName, Reason: "must be one of minute, minutes, hour, hours, day, days"}
	}
	if n == 1 && unit.plural {
		return Expression{}, &Error{Kind: "rate", Field: "unit", Token: unitName, Reason: fmt.Sprintf("use the singular %q when the value is 1", strings.TrimSuffix(unitName, "s"))}
	}
	if n != 1 && !unit.plural {
		return Expression{}, &Error{Kind: "rate", Field: "unit", Token: unitName, Reason: fmt.Sprintf("use the plural %q when the value is not 1", unitName+"s")}
	}
	if limit := int64(maxDuration / unit.d); err != nil || n > limit {
		return Expression{}, &Error{Kind: "rate", Field: "value", Token: val, Reason: fmt.Sprintf("is too large; at most %d %s", limit, unitName)}
	}
	return Expression{
		kind:  KindRate,
		text:  "rate(" + strconv.FormatInt(n, 10) + " " + unitName + ")",
		every: time.Duration(n) * unit.d,
	}, nil
}

func parseAt(body string) (Expression, error) {
	tok := strings.TrimSpace(body)
	t, err := time.Parse(atLayout, tok)
	if err != nil {
		reason := "must be a date-time yyyy-mm-ddThh:mm:ss"
		var pe *time.ParseError
		if errors.As(err, &pe) && pe.Message != "" {
			reason += " (" + strings.TrimPrefix(pe.Message, ": ") + ")"
		}
		return Expression{}, &Error{Kind: "at", Token: tok, Reason: reason}
	}
	return Expression{kind: KindAt, text: "at(" + t.Format(atLayout) + ")", at: t}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Error describes why an expression did not parse. Kind is "cron", "rate",
// "at" or empty when the expression form itself is unknown; Field names the
// cron field ("minutes", "hours", "day-of-month", "month", "day-of-week",
// "year") or the rate part ("value", "unit"); Token is the offending text.
type Error struct {
	Kind   string
	Field  string
	Token  string
	Reason string
}

// Error formats e as, for example,
// `cron minutes field "60": value 60 is out of range 0-59`.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Kind == "" {
		b.WriteString("schedule expression")
	} else {
		b.WriteString(e.Kind)
	}
	if e.Field != "" {
		b.WriteString(" " + e.Field)
		if e.Kind == "cron" {
			b.WriteString(" field")
		}
	}
	if e.Token != "" || e.Field != "" || e.Kind == "" {
		b.WriteString(" " + strconv.Quote(e.Token))
	}
	b.WriteString(": " + e.Reason)
	return b.String()
}
