// Package cron parses Amazon EventBridge Scheduler schedule expressions and
// computes their fire times, so that Flotilla's in-process scheduler fires
// when EventBridge Scheduler would, and the API can reject a bad expression
// with a message that names the field, the token and what is allowed.
//
// It depends on the standard library only.
//
// # Expressions
//
//	cron(minutes hours day-of-month month day-of-week year)
//	rate(value unit)
//	at(yyyy-mm-ddThh:mm:ss)
//
// Parse accepts all three and returns an Expression; a malformed expression
// yields an *Error. Expression.Next returns the first fire time strictly after
// a given instant, read in an IANA time zone; NextN returns several. String
// returns the canonical form, which is also what EventBridge Scheduler takes
// as ScheduleExpression.
//
// # cron fields
//
// As in the EventBridge cron reference
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html):
//
//	field         values              special characters
//	minutes       0-59                , - * /
//	hours         0-23                , - * /
//	day-of-month  1-31                , - * ? / L W
//	month         1-12 or JAN-DEC     , - * /
//	day-of-week   1-7 or SUN-SAT      , - * ? L #
//	year          1970-2199           , - * /
//
// Items are a value, a range a-b, or a step: */n, a/n (a, a+n, … up to the
// field's maximum) and a-b/n. Names are case-insensitive; String upper-cases
// them. Day-of-week 1 is Sunday and 7 is Saturday.
//
// The decisions where the reference is silent or where we chose to be strict:
//
//   - Exactly one of day-of-month and day-of-week is "?" (the reference: "If
//     you specify a value or a * in one of the fields, you must use a ? in the
//     other").
//   - "/" is rejected in day-of-week, because the English reference does not
//     list it for that field.
//   - L in day-of-month is the month's last day; LW is its last Monday–Friday;
//     nW is the Monday–Friday nearest day n without leaving the month (Quartz's
//     rule: 1W on a Saturday is Monday the 3rd, and a last day that is a Sunday
//     goes back to Friday). nW never fires in a month that has no day n, just as
//     31 never fires in a 30-day month.
//   - In day-of-week, nL is the last weekday n of the month (5L: the last
//     Thursday) and n#k is its k-th weekday n, k in 1-5 (3#2: the second
//     Tuesday); months without a fifth such day are skipped. A plain L is
//     Saturday: the reference calls it "the last day of the week", which is 7
//     in its SUN=1 numbering, and Quartz, where this syntax comes from, does
//     the same.
//   - ?, L, LW, nW, nL and n#k must be the whole field, never part of a list,
//     range or step (the reference: with "#" only one expression is allowed,
//     "3#1,6#3" is invalid). L-n offsets, undocumented by EventBridge, are
//     rejected.
//   - Ranges do not wrap: 22-2 is an error rather than 22,23,0,1,2.
//   - After 2199 a cron expression has no fire time; before 1970 the search
//     starts at 1970-01-01.
//
// # Time zones and daylight saving time
//
// cron() and at() are wall-clock times in the zone passed to Next. Where a
// transition makes a wall-clock time not exist or occur twice, this package
// follows what AWS documents for EventBridge Scheduler (the "Daylight savings
// time on EventBridge Scheduler" section of
// https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html,
// and the AWS Knowledge Center article
// https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst):
// "When the time shifts forward in Spring, your schedule invocation gets
// skipped if the cron expression falls on a non-existent date and time. When
// the time shifts back in the Fall, your schedule runs only once and doesn't
// repeat its invocation."
//
// So:
//
//   - A wall-clock time inside a spring-forward gap is skipped, not moved:
//     cron(30 2 * * ? *) in America/New_York does not fire on 2026-03-08
//     (02:00 EST jumps to 03:00 EDT) and next fires at 02:30 EDT on
//     2026-03-09. It is not shifted to 03:00, which an earlier draft of the
//     requirements suggested; that would differ from EventBridge Scheduler.
//   - A wall-clock time that occurs twice fires once, at its first occurrence
//     (the earlier instant, still on summer time).
//   - Every-N-minutes expressions stay continuous where the wall clock is: at
//     spring-forward 01:45 EST is followed by 03:00 EDT, fifteen real minutes
//     later. At fall-back the repeated wall-clock hour has already fired, so
//     after 01:45 EDT the next fire of cron(0/15 * * * ? *) is 02:00 EST, an
//     hour and a quarter later; nothing fires twice. Use rate() where a fixed
//     real-time interval matters more than the wall clock.
//   - An at() time in a gap never fires (Next reports ok=false); in an
//     overlap it fires at the first occurrence.
//
// # rate()
//
// rate(N unit) with unit minute|minutes|hour|hours|day|days; N is a whole
// number of at least 1, and the unit is singular exactly when N is 1, as the
// EventBridge rate reference requires ("rate(1 hours) and rate(5 hour) aren't
// valid", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html).
//
// Fire times are start + k×interval for k = 0, 1, 2, … in real time, where
// start is set with Expression.WithStart and plays the role of EventBridge
// Scheduler's StartDate ("use the StartDate property to set the first
// occurrence of the schedule"). A day is 24 hours, so across a DST change
// rate(1 day) keeps its real-time spacing and its wall-clock time moves, as
// the Knowledge Center article above describes ("evaluates the rate expression
// 24 hours after the schedule's last invocation"). Without a start the anchor
// is the Unix epoch, which keeps results deterministic and aligns
// rate(5 minutes) to :00, :05, …; a scheduler should pass the schedule's start
// (or creation) time, since EventBridge Scheduler starts a rate schedule
// without StartDate when it is created.
//
// # Precision
//
// cron() fires on whole minutes and at() keeps its seconds. EventBridge
// Scheduler invokes targets with 60-second precision (within the minute after
// the scheduled time), so a scheduler should use the computed time, not the
// delivery time, as the fire's identity (for example in idempotency keys).
package cron
