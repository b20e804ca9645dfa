package schedules

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/flotilla-run/flotilla/internal/cron"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// DefaultTolerance is how late a fire may be and still count as on time:
// EventBridge Scheduler's own precision.
const DefaultTolerance = time.Minute

// retryAfter is how soon the Scheduler looks again after it failed to list
// the schedules.
const retryAfter = 5 * time.Second

// maxScan bounds the fire times scanned for one schedule in one pass (more
// than 400 days of an every-minute cron()).
const maxScan = 600_000

// Scheduler fires schedules in this process (local mode). It implements
// Trigger: a change wakes it, and it re-reads the store. See the package doc
// for catch-up and pausing. Run it with Run; one per database is the
// intended setup, and a second one does no harm (fires are idempotent).
type Scheduler struct {
	svc   *Service
	clock Clock
	log   *slog.Logger
	// Tolerance is how late a fire still counts as on time (DefaultTolerance).
	Tolerance time.Duration
	// MaxSleep, when set, bounds each sleep so the wall clock is read again
	// at least that often: timers stand still while a laptop sleeps, and a
	// fire due meanwhile should come (or be skipped as missed) on waking,
	// not a whole sleep later. 0: sleep until the next fire time.
	MaxSleep time.Duration
	kick     chan struct{}
	// cursors holds, per enabled schedule, the instant up to which its
	// fire times were handled (fired, or skipped on purpose).
	cursors map[string]time.Time
}

var _ Trigger = (*Scheduler)(nil)

// NewScheduler returns a scheduler firing svc's schedules on clock (nil:
// the system clock). Set svc.Trigger to it so it hears of changes.
func NewScheduler(svc *Service, clock Clock, log *slog.Logger) *Scheduler {
	if clock == nil {
		clock = SystemClock()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{svc: svc, clock: clock, log: log, Tolerance: DefaultTolerance,
		kick: make(chan struct{}, 1), cursors: map[string]time.Time{}}
}

// Put implements Trigger: it wakes the scheduler to re-read the schedules.
func (s *Scheduler) Put(context.Context, flotilla.Schedule) error { s.wake(); return nil }

// Delete implements Trigger.
func (s *Scheduler) Delete(context.Context, string) error { s.wake(); return nil }

func (s *Scheduler) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run fires schedules until ctx ends. Call it once per Scheduler; for a
// second scheduler on the same store, make a second Scheduler.
func (s *Scheduler) Run(ctx context.Context) {
	for {
		wakeAt := s.pass(ctx)
		var timer Timer
		var due <-chan time.Time
		if !wakeAt.IsZero() {
			d := wakeAt.Sub(s.clock.Now())
			if s.MaxSleep > 0 && d > s.MaxSleep {
				d = s.MaxSleep
			}
			timer = s.clock.NewTimer(d)
			due = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-due:
		case <-s.kick:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// pass fires what is due now and returns when to look again (zero: only
// when a schedule changes).
func (s *Scheduler) pass(ctx context.Context) time.Time {
	now := s.clock.Now()
	enabled := true
	var wakeAt time.Time
	seen := map[string]bool{}
	f := flotilla.ScheduleFilter{Enabled: &enabled, Limit: 500}
	for {
		page, err := s.svc.Store.ListSchedules(ctx, f)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("scheduler: listing schedules failed", "err", err)
			}
			return now.Add(retryAfter)
		}
		for _, sch := range page.Items {
			seen[sch.ID] = true
			next, ok := s.handle(ctx, sch, now)
			if ok && (wakeAt.IsZero() || next.Before(wakeAt)) {
				wakeAt = next
			}
		}
		if f.NextToken = page.NextToken; f.NextToken == "" {
			break
		}
	}
	// Paused and deleted schedules start afresh when they come back.
	for id := range s.cursors {
		if !seen[id] {
			delete(s.cursors, id)
		}
	}
	return wakeAt
}

// handle fires sch when one of its fire times is due at now and returns its
// next fire time.
func (s *Scheduler) handle(ctx context.Context, sch flotilla.Schedule, now time.Time) (time.Time, bool) {
	expr, loc, err := fireTimes(sch)
	if err != nil {
		s.log.Error("scheduler: unreadable schedule", "schedule_id", sch.ID, "err", err)
		return time.Time{}, false
	}
	// Everything up to the last fire, and up to the last change (when this
	// server was up and handled the times before it), is done.
	cursor := sch.UpdatedAt
	if sch.LastFireTime != nil && sch.LastFireTime.After(cursor) {
		cursor = *sch.LastFireTime
	}
	if c, ok := s.cursors[sch.ID]; ok && c.After(cursor) {
		cursor = c
	}
	if at, ok := latestBetween(expr, loc, cursor, now); ok {
		switch late := now.Sub(at); {
		case late <= s.tolerance() || sch.CatchUp == flotilla.CatchUpLatest:
			s.fire(ctx, sch, at, late)
		default:
			s.log.Info("scheduler: skipped missed fire times (catch_up none)", "schedule_id", sch.ID,
				"latest_missed", at.UTC().Format(time.RFC3339), "since", cursor.UTC().Format(time.RFC3339))
		}
	}
	s.cursors[sch.ID] = now
	return expr.Next(now, loc)
}

func (s *Scheduler) tolerance() time.Duration {
	if s.Tolerance > 0 {
		return s.Tolerance
	}
	return DefaultTolerance
}

func (s *Scheduler) fire(ctx context.Context, sch flotilla.Schedule, at time.Time, late time.Duration) {
	_, _, err := s.svc.Fire(ctx, sch.ID, at)
	switch {
	case err == nil, errors.Is(err, flotilla.ErrNotFound), errors.Is(err, ErrPaused):
		// Fired, or deleted or paused since it was listed.
	default:
		s.log.Error("scheduler: fire failed", "schedule_id", sch.ID, "definition", sch.Definition, "cluster", sch.Cluster,
			"scheduled_time", at.UTC().Format(time.RFC3339), "late", late.String(), "err", err)
	}
}

// latestBetween returns the latest fire time in (after, until].
func latestBetween(e cron.Expression, loc *time.Location, after, until time.Time) (time.Time, bool) {
	if !until.After(after) {
		return time.Time{}, false
	}
	// Only the last interval of a rate() can hold the latest time; for
	// the others, a bounded look back keeps a long downtime cheap.
	lookBack := 400 * 24 * time.Hour
	if e.Kind() == cron.KindRate {
		lookBack = e.Interval()
	}
	from := after
	if f := until.Add(-lookBack); f.After(from) {
		from = f
	}
	var last time.Time
	found := false
	for range maxScan {
		t, ok := e.Next(from, loc)
		if !ok || t.After(until) {
			break
		}
		last, found, from = t, true, t
	}
	return last, found
}
