package schedules_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/schedules"
)

func TestSchedulerFiresOneRunPerFire(t *testing.T) {
	t.Parallel()
	b := setup(t, now) // 12:00:30; rate() is anchored at 12:00
	b.start()
	sch := b.create(schedules.CreateRequest{Expression: "rate(1 minute)"})
	var want []string
	for range 4 {
		at := b.step()
		want = append(want, at.UTC().Format(time.RFC3339))
		if got := b.fired(sch.ID); !slices.Equal(got, want) {
			t.Fatalf("after the clock reached %s: fired %v, want %v", at.Format(time.RFC3339), got, want)
		}
	}
	if want[0] != "2026-11-26T12:01:00Z" || want[3] != "2026-11-26T12:04:00Z" {
		t.Fatalf("fire times %v, want 12:01 … 12:04", want)
	}
	// A change wakes the scheduler without firing anything twice.
	if _, err := b.svc.Update(context.Background(), sch.ID, flotilla.SchedulePatch{Name: ptr("renamed")}); err != nil {
		t.Fatal(err)
	}
	b.idle()
	if got := b.fired(sch.ID); !slices.Equal(got, want) {
		t.Fatalf("after an update: fired %v, want %v", got, want)
	}
	read, _ := b.svc.Get(context.Background(), sch.ID)
	if read.LastFireTime == nil || read.LastFireTime.Format(time.RFC3339) != want[3] {
		t.Fatalf("last_fire_time = %v, want %s", read.LastFireTime, want[3])
	}
}

func TestSchedulerTwoInstancesFireOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	sch := b.create(schedules.CreateRequest{Expression: "rate(1 minute)"})
	second := schedules.NewScheduler(b.svc, b.clock, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, s := range []*schedules.Scheduler{b.scheduler, second} {
		go func() { s.Run(ctx); done <- struct{}{} }()
	}
	defer func() { cancel(); <-done; <-done }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	for i := range 3 {
		if err := b.clock.WaitForTimers(wctx, 2); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(time.Minute)
		if err := b.clock.WaitForTimers(wctx, 2); err != nil {
			t.Fatal(err)
		}
		if got := b.fired(sch.ID); len(got) != i+1 {
			t.Fatalf("two schedulers made runs %v, want %d", got, i+1)
		}
	}
}

// TestSchedulerCatchUp restarts the scheduler after a downtime over three
// hourly fire times.
func TestSchedulerCatchUp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		catchUp flotilla.CatchUp
		restart time.Time
		want    []string // fired at restart
	}{
		{"none skips the missed times", flotilla.CatchUpNone, time.Date(2026, 11, 26, 15, 30, 0, 0, time.UTC), nil},
		{"latest fires the most recent once", flotilla.CatchUpLatest, time.Date(2026, 11, 26, 15, 30, 0, 0, time.UTC),
			[]string{"2026-11-26T15:00:00Z"}},
		{"none still fires a time less than a minute late", flotilla.CatchUpNone, time.Date(2026, 11, 26, 15, 0, 40, 0, time.UTC),
			[]string{"2026-11-26T15:00:00Z"}},
		{"nothing missed, nothing fired", flotilla.CatchUpLatest, time.Date(2026, 11, 26, 12, 50, 0, 0, time.UTC), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, time.Date(2026, 11, 26, 11, 30, 0, 0, time.UTC))
			sch := b.create(schedules.CreateRequest{Expression: "cron(0 * * * ? *)", CatchUp: c.catchUp})
			// It last fired at 12:00, then the server went down.
			if _, _, err := b.svc.Fire(context.Background(), sch.ID, time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
			b.clock.Set(c.restart)
			b.start()
			b.idle()
			want := append([]string{"2026-11-26T12:00:00Z"}, c.want...)
			if got := b.fired(sch.ID); !slices.Equal(got, want) {
				t.Fatalf("after restart at %s: fired %v, want %v", c.restart.Format(time.RFC3339), got, want)
			}
			// Then it keeps its hourly beat.
			next := b.step()
			want = append(want, next.Format(time.RFC3339))
			if got := b.fired(sch.ID); !slices.Equal(got, want) || next.Minute() != 0 || next.Sub(c.restart) > time.Hour {
				t.Fatalf("next fire at %s: fired %v, want %v", next, got, want)
			}
		})
	}
}

func TestSchedulerPauseAndResume(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	b.start()
	ctx := context.Background()
	sch := b.create(schedules.CreateRequest{Expression: "rate(1 minute)", CatchUp: flotilla.CatchUpLatest})
	b.step()
	b.step()
	if _, err := b.svc.Update(ctx, sch.ID, flotilla.SchedulePatch{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.clock.WaitForTimers(wctx, 0); err != nil {
		t.Fatalf("a paused schedule keeps a timer: %v", err)
	}
	for range 10 {
		b.clock.Advance(time.Minute)
	}
	if got := b.fired(sch.ID); len(got) != 2 {
		t.Fatalf("paused schedule fired: %v", got)
	}
	// Resuming does not catch up on the paused minutes, even with latest.
	if _, err := b.svc.Update(ctx, sch.ID, flotilla.SchedulePatch{Enabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	b.idle()
	if got := b.fired(sch.ID); len(got) != 2 {
		t.Fatalf("resume caught up: %v", got)
	}
	at := b.step()
	if got := b.fired(sch.ID); len(got) != 3 || got[2] != at.Format(time.RFC3339) {
		t.Fatalf("after resume fired %v, want a third run at %s", got, at)
	}
	// Deleting stops it too.
	if err := b.svc.Delete(ctx, sch.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.clock.WaitForTimers(wctx, 0); err != nil {
		t.Fatalf("a deleted schedule keeps a timer: %v", err)
	}
}

// TestSchedulerDST drives a daily 02:30 and a daily 01:30 New York schedule
// through both 2026 transitions: 02:30 does not exist on 8 March (skipped,
// as EventBridge Scheduler skips it) and 01:30 happens twice on 1 November
// (fired once, at the first).
func TestSchedulerDST(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, expr string
		start      time.Time
		want       []string
	}{
		{"spring forward skips the gap", "cron(30 2 * * ? *)", time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC), []string{
			"2026-03-07T07:30:00Z", // 02:30 EST
			"2026-03-09T06:30:00Z", // 02:30 EDT; 8 March has no 02:30
			"2026-03-10T06:30:00Z",
		}},
		{"fall back fires once", "cron(30 1 * * ? *)", time.Date(2026, 10, 30, 12, 0, 0, 0, time.UTC), []string{
			"2026-10-31T05:30:00Z", // 01:30 EDT
			"2026-11-01T05:30:00Z", // the first 01:30, still EDT; not again at 06:30Z
			"2026-11-02T06:30:00Z", // 01:30 EST
		}},
		{"every 30 minutes across the gap", "cron(0/30 * * * ? *)", time.Date(2026, 3, 8, 6, 10, 0, 0, time.UTC), []string{
			"2026-03-08T06:30:00Z", // 01:30 EST
			"2026-03-08T07:00:00Z", // 03:00 EDT, 30 real minutes later
			"2026-03-08T07:30:00Z",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, c.start)
			b.start()
			sch := b.create(schedules.CreateRequest{Expression: c.expr, Timezone: "America/New_York"})
			for range c.want {
				b.step()
			}
			if got := b.fired(sch.ID); !slices.Equal(got, c.want) {
				t.Fatalf("fired %v, want %v", got, c.want)
			}
		})
	}
}

// TestSchedulerMaxSleep: with MaxSleep the scheduler re-reads the clock at
// least that often, so a fire due while the machine slept (its timers stood
// still) comes on waking.
func TestSchedulerMaxSleep(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	b.scheduler.MaxSleep = time.Hour
	b.start()
	sch := b.create(schedules.CreateRequest{Expression: "cron(0 3 * * ? *)"})
	b.idle()
	if at, _ := b.clock.NextTimer(); !at.Equal(now.Add(time.Hour)) {
		t.Fatalf("timer at %s, want %s (MaxSleep)", at, now.Add(time.Hour))
	}
	// The wall clock jumps past 03:00 while the timer stood still.
	b.clock.Set(time.Date(2026, 11, 27, 3, 0, 20, 0, time.UTC))
	b.idle()
	if got := b.fired(sch.ID); !slices.Equal(got, []string{"2026-11-27T03:00:00Z"}) {
		t.Fatalf("fired %v, want 03:00 on waking", got)
	}
}
