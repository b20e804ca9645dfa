package cron

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Year bounds of the cron year field, as EventBridge documents them.
const (
	minYear = 1970
	maxYear = 2199
)

// domMode is how the day-of-month field selects days.
type domMode uint8

const (
	domList           domMode = iota // values, ranges, steps: spec.dom
	domAny                           // ?
	domLast                          // L: the last day of the month
	domLastWeekday                   // LW: the last Monday–Friday of the month
	domNearestWeekday                // nW: the Monday–Friday nearest day n, within the month
)

// dowMode is how the day-of-week field selects days.
type dowMode uint8

const (
	dowList dowMode = iota // values, ranges: spec.dow (plain L is 7, Saturday)
	dowAny                 // ?
	dowLast                // nL: the last weekday n of the month
	dowNth                 // n#k: the k-th weekday n of the month
)

// spec is a parsed cron() expression. Bit v of each mask is set when value v
// matches; years are offset by minYear.
type spec struct {
	minutes uint64    // bits 0–59
	hours   uint32    // bits 0–23
	dom     uint32    // bits 1–31
	months  uint16    // bits 1–12
	dow     uint8     // bits 1–7, 1 = Sunday
	years   [4]uint64 // bit y-minYear for 1970–2199

	domMode domMode
	domDay  int // n of nW
	dowMode dowMode
	dowDay  int // weekday 1–7 of nL and n#k
	dowNth  int // k of n#k
}

// fieldDef describes one of the six cron fields.
type fieldDef struct {
	name     string
	min, max int
	names    []string // names[i] names value min+i, if the field has names
	nameDesc string   // how names are described in errors
	punct    string   // punctuation accepted in lists
	allowed  string   // every special character EventBridge documents, for errors
}

var (
	fMinutes = fieldDef{name: "minutes", min: 0, max: 59, punct: ",-*/", allowed: ", - * /"}
	fHours   = fieldDef{name: "hours", min: 0, max: 23, punct: ",-*/", allowed: ", - * /"}
	fDom     = fieldDef{name: "day-of-month", min: 1, max: 31, punct: ",-*/", allowed: ", - * ? / L W"}
	fMonth   = fieldDef{name: "month", min: 1, max: 12, punct: ",-*/", allowed: ", - * /",
		names:    []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"},
		nameDesc: "month name (JAN-DEC)"}
	fDow = fieldDef{name: "day-of-week", min: 1, max: 7, punct: ",-*", allowed: ", - * ? L #",
		names:    []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"},
		nameDesc: "day name (SUN-SAT)"}
	fYear = fieldDef{name: "year", min: minYear, max: maxYear, punct: ",-*/", allowed: ", - * /"}
)

func (f fieldDef) err(token, format string, args ...any) *Error {
	return &Error{Kind: "cron", Field: f.name, Token: token, Reason: fmt.Sprintf(format, args...)}
}

func parseCron(body string) (Expression, error) {
	parts := strings.Fields(body)
	if len(parts) != 6 {
		return Expression{}, &Error{Kind: "cron", Token: body, Reason: fmt.Sprintf(
			"want 6 fields (minutes hours day-of-month month day-of-week year), got %d", len(parts))}
	}
	for i := range parts {
		parts[i] = strings.ToUpper(parts[i])
	}
	var s spec
	var set [4]uint64
	var err error

	if set, err = parseList(fMinutes, parts[0]); err != nil {
		return Expression{}, err
	}
	s.minutes = set[0]
	if set, err = parseList(fHours, parts[1]); err != nil {
		return Expression{}, err
	}
	s.hours = uint32(set[0])
	if err = parseDom(&s, parts[2]); err != nil {
		return Expression{}, err
	}
	if set, err = parseList(fMonth, parts[3]); err != nil {
		return Expression{}, err
	}
	s.months = uint16(set[0] << 1)
	if err = parseDow(&s, parts[4]); err != nil {
		return Expression{}, err
	}
	if s.years, err = parseList(fYear, parts[5]); err != nil {
		return Expression{}, err
	}

	// EventBridge: "You can't specify the Day-of-month and Day-of-week fields
	// in the same cron expression. If you specify a value or a * in one of the
	// fields, you must use a ? in the other."
	switch {
	case s.domMode == domAny && s.dowMode == dowAny:
		return Expression{}, &Error{Kind: "cron", Field: "day-of-week", Token: parts[4],
			Reason: `day-of-month and day-of-week cannot both be "?"; set one of them`}
	case s.domMode != domAny && s.dowMode != dowAny:
		return Expression{}, &Error{Kind: "cron", Field: "day-of-week", Token: parts[4],
			Reason: fmt.Sprintf(`one of day-of-month and day-of-week must be "?" (day-of-month is %q)`, parts[2])}
	}
	return Expression{kind: KindCron, text: "cron(" + strings.Join(parts, " ") + ")", cron: s}, nil
}

func parseDom(s *spec, tok string) error {
	switch {
	case tok == "?":
		s.domMode = domAny
		return nil
	case tok == "L":
		s.domMode = domLast
		return nil
	case tok == "LW":
		s.domMode = domLastWeekday
		return nil
	case strings.HasSuffix(tok, "W") && isDigits(tok[:len(tok)-1]):
		v, err := parseValue(fDom, tok[:len(tok)-1])
		if err != nil {
			return err
		}
		s.domMode, s.domDay = domNearestWeekday, v
		return nil
	case strings.ContainsAny(tok, "LW?"):
		return fDom.err(tok, "?, L, LW and nW must be the whole field, not part of a list, range or step")
	}
	set, err := parseList(fDom, tok)
	if err != nil {
		return err
	}
	s.domMode, s.dom = domList, uint32(set[0]<<1)
	return nil
}

func parseDow(s *spec, tok string) error {
	switch {
	case tok == "?":
		s.dowMode = dowAny
		return nil
	case tok == "L":
		// EventBridge: "L … in the Day-of-week field specifies the last day of
		// the week", which is 7 (SAT) in its SUN=1 numbering, as in Quartz.
		s.dowMode, s.dow = dowList, 1<<7
		return nil
	case len(tok) > 1 && strings.HasSuffix(tok, "L") && !strings.ContainsAny(tok[:len(tok)-1], ",-*/#?L"):
		v, err := parseValue(fDow, tok[:len(tok)-1])
		if err != nil {
			return err
		}
		s.dowMode, s.dowDay = dowLast, v
		return nil
	case strings.Count(tok, "#") == 1 && !strings.ContainsAny(tok, ",-*/?L"):
		day, nth, _ := strings.Cut(tok, "#")
		if day == "" {
			return fDow.err(tok, "missing day before # (allowed: 1-7 or SUN-SAT)")
		}
		v, err := parseValue(fDow, day)
		if err != nil {
			return err
		}
		if !isDigits(nth) || len(nth) > 1 || nth[0] < '1' || nth[0] > '5' {
			return fDow.err(tok, "occurrence %q after # must be 1-5", nth)
		}
		s.dowMode, s.dowDay, s.dowNth = dowNth, v, int(nth[0]-'0')
		return nil
	case strings.ContainsAny(tok, "L#?"):
		return fDow.err(tok, "?, L, nL and n#k must be the whole field, not part of a list, range or step")
	case strings.Contains(tok, "/"):
		return fDow.err(tok, `"/" is not allowed in day-of-week (allowed: %s)`, fDow.allowed)
	}
	set, err := parseList(fDow, tok)
	if err != nil {
		return err
	}
	s.dowMode, s.dow = dowList, uint8(set[0]<<1)
	return nil
}

// parseList parses a comma-separated list of *, values, ranges a-b and steps
// */n, a/n, a-b/n. Bit v-f.min of the result is set for each value v.
func parseList(f fieldDef, tok string) ([4]uint64, error) {
	var set [4]uint64
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z' && f.names != nil) || strings.IndexByte(f.punct, c) >= 0 {
			continue
		}
		if c >= 'A' && c <= 'Z' {
			return set, f.err(tok, "letter %q is not allowed in %s (allowed: numbers %d-%d and %s)", string(c), f.name, f.min, f.max, f.allowed)
		}
		return set, f.err(tok, "%q is not allowed in %s (allowed: %s)", string(c), f.name, f.allowed)
	}
	for item := range strings.SplitSeq(tok, ",") {
		if item == "" {
			return set, f.err(tok, "empty item in list")
		}
		lo, hi, step, err := parseItem(f, item)
		if err != nil {
			return set, err
		}
		for v := lo; v <= hi; v += step {
			set[(v-f.min)/64] |= 1 << ((v - f.min) % 64)
		}
	}
	return set, nil
}

func parseItem(f fieldDef, item string) (lo, hi, step int, err error) {
	base, stepStr, hasStep := strings.Cut(item, "/")
	step = 1
	if hasStep {
		span := f.max - f.min + 1
		if strings.Contains(stepStr, "/") {
			return 0, 0, 0, f.err(item, "more than one / in a step")
		}
		n, convErr := strconv.Atoi(stepStr)
		if !isDigits(stepStr) || convErr != nil || n < 1 || n > span {
			return 0, 0, 0, f.err(item, "step %q must be a number in 1-%d", stepStr, span)
		}
		step = n
	}
	switch {
	case base == "":
		return 0, 0, 0, f.err(item, "missing value before the step (allowed: %d-%d or *)", f.min, f.max)
	case base == "*":
		return f.min, f.max, step, nil
	case strings.Contains(base, "-"):
		a, b, _ := strings.Cut(base, "-")
		if a == "" || b == "" || strings.Contains(b, "-") {
			return 0, 0, 0, f.err(item, "a range needs a start and an end, as in %d-%d", f.min, f.max)
		}
		if lo, err = parseValue(f, a); err != nil {
			return 0, 0, 0, err
		}
		if hi, err = parseValue(f, b); err != nil {
			return 0, 0, 0, err
		}
		if lo > hi {
			return 0, 0, 0, f.err(item, "range %s runs backwards; the start must not be after the end", base)
		}
		return lo, hi, step, nil
	}
	if lo, err = parseValue(f, base); err != nil {
		return 0, 0, 0, err
	}
	if hasStep {
		return lo, f.max, step, nil
	}
	return lo, lo, 1, nil
}

func parseValue(f fieldDef, s string) (int, error) {
	if s == "" {
		return 0, f.err(s, "missing value (allowed: %d-%d)", f.min, f.max)
	}
	for i, name := range f.names {
		if s == name {
			return f.min + i, nil
		}
	}
	if !isDigits(s) {
		if f.names != nil {
			return 0, f.err(s, "not a number in %d-%d or a %s", f.min, f.max, f.nameDesc)
		}
		return 0, f.err(s, "not a number in %d-%d", f.min, f.max)
	}
	v, err := strconv.Atoi(s)
	if err != nil || len(s) > 5 || v < f.min || v > f.max {
		return 0, f.err(s, "value %s is out of range %d-%d", s, f.min, f.max)
	}
	return v, nil
}

func (s *spec) hasYear(y int) bool {
	i := y - minYear
	return s.years[i/64]&(1<<(i%64)) != 0
}

// dayMatches reports whether the date y-m-d is selected by whichever of
// day-of-month and day-of-week is not "?".
func (s *spec) dayMatches(y, m, d int) bool {
	dim := daysIn(y, m)
	switch s.domMode {
	case domList:
		return s.dom&(1<<d) != 0
	case domLast:
		return d == dim
	case domLastWeekday:
		return d == lastWeekday(y, m)
	case domNearestWeekday:
		return d == nearestWeekday(y, m, s.domDay)
	}
	wd := weekday(y, m, d) // 1 = Sunday
	switch s.dowMode {
	case dowList:
		return s.dow&(1<<wd) != 0
	case dowLast:
		return wd == s.dowDay && d+7 > dim
	case dowNth:
		return wd == s.dowDay && (d-1)/7+1 == s.dowNth
	}
	return false
}

// next scans local calendar days from after's wall clock forward and returns
// the first matching minute whose instant is strictly after after. Wall times
// that fall in a DST gap are skipped; a repeated wall time resolves to its
// first occurrence, so it fires once (see doc.go).
func (s *spec) next(after time.Time, loc *time.Location) (time.Time, bool) {
	la := after.In(loc)
	y, mon, d := la.Date()
	m := int(mon)
	h, mi, _ := la.Clock()
	if y < minYear {
		y, m, d, h, mi = minYear, 1, 1, 0, 0
	}
	for y <= maxYear {
		if !s.hasYear(y) {
			y, m, d, h, mi = y+1, 1, 1, 0, 0
			continue
		}
		if s.months&(1<<m) == 0 || d > daysIn(y, m) {
			m, d, h, mi = m+1, 1, 0, 0
			if m > 12 {
				y, m = y+1, 1
			}
			continue
		}
		if s.dayMatches(y, m, d) {
			if t, ok := s.firstTimeOfDay(y, m, d, h, mi, after, loc); ok {
				return t, true
			}
		}
		d, h, mi = d+1, 0, 0
	}
	return time.Time{}, false
}

// firstTimeOfDay returns the first matching time on y-m-d at or after wall
// clock h:mi whose instant is after after.
func (s *spec) firstTimeOfDay(y, m, d, h, mi int, after time.Time, loc *time.Location) (time.Time, bool) {
	day := civilSeconds(y, m, d, 0, 0, 0)
	hours := s.hours >> h << h // drop hours before h
	for hours != 0 {
		hh := bits.TrailingZeros32(hours)
		hours &= hours - 1
		mins := s.minutes
		if hh == h {
			mins = mins >> mi << mi
		}
		for mins != 0 {
			mm := bits.TrailingZeros64(mins)
			mins &= mins - 1
			t, ok := resolve(day+int64(hh)*3600+int64(mm)*60, loc)
			if ok && t.After(after) {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// resolve returns the earliest instant whose wall clock in loc is wall
// (seconds since 1970-01-01T00:00:00 of that wall clock read as UTC); ok is
// false when the wall clock falls in a gap and never occurs.
func resolve(wall int64, loc *time.Location) (time.Time, bool) {
	if loc == time.UTC {
		return time.Unix(wall, 0).UTC(), true
	}
	// An instant with this wall clock is wall-offset for an offset in effect
	// at that instant. Offsets lie within ±14h, so the offsets that can apply
	// are those in effect between wall-15h and wall+15h; sampling both ends
	// and the middle finds them unless a zone changes offset more than twice
	// within 30 hours. Each candidate is verified, so a wrong instant is never
	// returned. (Time.ZoneBounds is not used: for years past the last explicit
	// tzdata transition it can report an end before the instant asked about.)
	const window = 15 * 3600
	var offs [3]int
	n := 0
	for _, probe := range [3]int64{wall - window, wall, wall + window} {
		_, off := time.Unix(probe, 0).In(loc).Zone()
		if n == 0 || (off != offs[0] && (n == 1 || off != offs[1])) {
			offs[n] = off
			n++
		}
	}
	best, found := int64(0), false
	for _, off := range offs[:n] {
		i := wall - int64(off)
		if _, got := time.Unix(i, 0).In(loc).Zone(); got == off && (!found || i < best) {
			best, found = i, true
		}
	}
	if !found {
		return time.Time{}, false
	}
	return time.Unix(best, 0).In(loc), true
}

// civilSeconds converts a proleptic Gregorian wall clock to seconds since
// 1970-01-01T00:00:00 as if it were UTC.
func civilSeconds(y, m, d, h, mi, s int) int64 {
	return daysFromCivil(y, m, d)*86400 + int64(h)*3600 + int64(mi)*60 + int64(s)
}

// daysFromCivil returns the days from 1970-01-01 to y-m-d (Howard Hinnant's
// days_from_civil algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// weekday returns the day of the week of y-m-d, 1 = Sunday … 7 = Saturday.
func weekday(y, m, d int) int {
	// 1970-01-01 was a Thursday (5).
	w := (daysFromCivil(y, m, d) + 4) % 7 // 0 = Sunday
	if w < 0 {
		w += 7
	}
	return int(w) + 1
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// lastWeekday returns the last Monday–Friday of the month.
func lastWeekday(y, m int) int {
	d := daysIn(y, m)
	switch weekday(y, m, d) {
	case 7: // Saturday → Friday
		return d - 1
	case 1: // Sunday → Friday
		return d - 2
	}
	return d
}

// nearestWeekday returns the Monday–Friday nearest day n without leaving the
// month (Quartz's rule), or 0 when the month has no day n.
func nearestWeekday(y, m, n int) int {
	dim := daysIn(y, m)
	if n > dim {
		return 0
	}
	switch weekday(y, m, n) {
	case 7: // Saturday: the Friday before, or Monday the 3rd if n is the 1st
		if n == 1 {
			return 3
		}
		return n - 1
	case 1: // Sunday: the Monday after, or the Friday before if n is the last day
		if n == dim {
			return n - 2
		}
		return n + 1
	}
	return n
}
