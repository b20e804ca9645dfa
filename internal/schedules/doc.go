// Package schedules is the schedule use case: creating, changing and
// deleting schedules (DESIGN §3, /v1/schedules), and firing them, which
// launches a run through the same launch use case as POST /v1/runs, owned by
// the schedule's creator and marked with its schedule_id.
//
// # Firing exactly once
//
// Every fire is identified by the schedule id and the scheduled time (not
// the delivery time): the run's idempotency key is "<schedule_id>#<time in
// RFC 3339 UTC>", so a duplicate delivery — EventBridge Scheduler delivers
// at least once, and two local schedulers may race — returns the run already
// made. After launching, Fire records the scheduled time with
// ScheduleStore.RecordFire, which only moves forward; that record is what
// catch-up reads after a restart.
//
// # Where fires come from
//
// Locally, Scheduler runs in `flotilla serve`: it sleeps on an injectable
// Clock until the earliest next fire time of the enabled schedules, fires
// what is due, and wakes early when a schedule changes. Fire times come from
// package cron, so they match EventBridge Scheduler's, across daylight saving
// time too (a wall-clock time in a spring-forward gap is skipped; one that
// occurs twice fires once). A fire up to Tolerance late (one minute, the
// precision EventBridge Scheduler itself promises) counts as on time. Older
// fire times — the server was down or the machine asleep — are "missed",
// and the schedule's catch_up policy decides: "none" skips them, "latest"
// makes one run for the most recent of them. Pausing (enabled=false) skips
// the times it covers, and resuming never catches up on them.
//
// In AWS, the Trigger is package awsscheduler: one EventBridge Scheduler
// schedule per Flotilla schedule, whose target (a Lambda function) calls
// HandleScheduledEvent with the schedule id and the scheduled time. There is
// no downtime to catch up on there, so catch_up has no effect.
package schedules
