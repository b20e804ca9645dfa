package schedules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// ScheduledEvent is the payload an EventBridge Scheduler schedule made by
// package awsscheduler delivers to its target: the Flotilla schedule id and
// the scheduled time, which EventBridge Scheduler fills in from the context
// attribute <aws.scheduler.scheduled-time> (for example
// "2026-11-26T03:00:00Z").
type ScheduledEvent struct {
	ScheduleID    string `json:"schedule_id"`
	ScheduledTime string `json:"scheduled_time"`
}

// HandleScheduledEvent fires the schedule of an EventBridge Scheduler
// delivery. It returns an error only when a retry could help (EventBridge
// Scheduler then retries, and Fire's idempotency makes the retry safe); a
// deleted or paused schedule, a malformed payload and a launch that can
// never succeed (its definition was deleted) are logged and dropped.
func (s *Service) HandleScheduledEvent(ctx context.Context, ev ScheduledEvent) error {
	at, err := time.Parse(time.RFC3339, ev.ScheduledTime)
	if ev.ScheduleID == "" || err != nil {
		s.log().Error("dropping a malformed scheduled event", "schedule_id", ev.ScheduleID, "scheduled_time", ev.ScheduledTime)
		return nil
	}
	_, _, err = s.Fire(ctx, ev.ScheduleID, at)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flotilla.ErrNotFound), errors.Is(err, ErrPaused), errors.Is(err, flotilla.ErrInvalid), errors.Is(err, flotilla.ErrForbidden):
		s.log().Warn("scheduled fire dropped", "schedule_id", ev.ScheduleID, "scheduled_time", ev.ScheduledTime, "err", err)
		return nil
	}
	return fmt.Errorf("scheduled event %s at %s: %w", ev.ScheduleID, ev.ScheduledTime, err)
}
