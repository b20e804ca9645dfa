package flotillatest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
)

// NewSchedule returns a valid, enabled schedule of the definition, owned by
// owner and created offset after Epoch (so ids sort with creation).
func NewSchedule(definition, owner string, offset time.Duration) flotilla.Schedule {
	at := Epoch.Add(offset)
	s := flotilla.Schedule{
		ID:         ids.New(ids.Schedule, at),
		Name:       "nightly " + definition,
		Definition: definition,
		Cluster:    "default",
		Expression: "cron(0 3 * * ? *)",
		Timezone:   "Europe/Paris",
		Env:        map[string]string{"K": "V"},
		Enabled:    true,
		Owner:      owner,
		CreatedAt:  at,
		UpdatedAt:  at,
	}
	s.Normalize()
	return s
}

// TestScheduleStore runs the ScheduleStore conformance suite. newStore must
// return an empty store for each call.
func TestScheduleStore(t *testing.T, newStore func(t *testing.T) flotilla.ScheduleStore) {
	t.Run("Lifecycle", func(t *testing.T) { t.Parallel(); testScheduleLifecycle(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { t.Parallel(); testScheduleList(t, newStore(t)) })
	t.Run("ConditionalUpdate", func(t *testing.T) { t.Parallel(); testScheduleUpdate(t, newStore(t)) })
	t.Run("RecordFire", func(t *testing.T) { t.Parallel(); testScheduleRecordFire(t, newStore(t)) })
	t.Run("RecordFireRace", func(t *testing.T) { t.Parallel(); testScheduleRecordFireRace(t, newStore(t)) })
	t.Run("Params", func(t *testing.T) { t.Parallel(); testScheduleParams(t, newStore(t)) })
}

func testScheduleLifecycle(t *testing.T, s flotilla.ScheduleStore) {
	ctx := context.Background()
	sch := NewSchedule("hello", "ada", 0)
	sch.NextFireTimes = []time.Time{Epoch.Add(time.Hour)}
	got, err := s.CreateSchedule(ctx, sch)
	if err != nil {
		t.Fatalf("CreateSchedule: %v", err)
	}
	if got.Version != 1 || got.ID != sch.ID {
		t.Fatalf("created = version %d id %s, want version 1 id %s", got.Version, got.ID, sch.ID)
	}
	if _, err := s.CreateSchedule(ctx, sch); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("CreateSchedule(same id) = %v, want ErrConflict", err)
	}
	read, err := s.GetSchedule(ctx, sch.ID)
	if err != nil {
		t.Fatalf("GetSchedule: %v", err)
	}
	if read.Name != sch.Name || read.Definition != "hello" || read.Owner != "ada" || read.Expression != sch.Expression ||
		read.Timezone != "Europe/Paris" || read.Env["K"] != "V" || !read.Enabled || read.CatchUp != flotilla.CatchUpNone ||
		!read.CreatedAt.Equal(Epoch) || read.LastFireTime != nil {
		t.Fatalf("GetSchedule = %+v, want what was created", read)
	}
	if len(read.NextFireTimes) != 0 {
		t.Fatalf("GetSchedule kept next_fire_times %v; stores must not keep computed fields", read.NextFireTimes)
	}
	if _, err := s.GetSchedule(ctx, "sch_missing"); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("GetSchedule(missing) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSchedule(ctx, sch.ID); err != nil {
		t.Fatalf("DeleteSchedule: %v", err)
	}
	if _, err := s.GetSchedule(ctx, sch.ID); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("GetSchedule(deleted) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSchedule(ctx, sch.ID); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("DeleteSchedule(deleted) = %v, want ErrNotFound", err)
	}
}

func testScheduleList(t *testing.T, s flotilla.ScheduleStore) {
	ctx := context.Background()
	var want []string
	for i, c := range []struct {
		def, owner string
		enabled    bool
	}{{"a", "ada", true}, {"b", "ada", false}, {"a", "bob", true}, {"a", "ada", false}, {"c", "bob", true}} {
		sch := NewSchedule(c.def, c.owner, time.Duration(i)*time.Second)
		sch.Enabled = c.enabled
		if _, err := s.CreateSchedule(ctx, sch); err != nil {
			t.Fatalf("CreateSchedule: %v", err)
		}
		want = append(want, sch.ID)
	}
	// Pages of two walk every schedule once, in id order.
	var got []string
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatalf("paging does not end")
		}
		page, err := s.ListSchedules(ctx, flotilla.ScheduleFilter{Limit: 2, NextToken: tok})
		if err != nil {
			t.Fatalf("ListSchedules: %v", err)
		}
		for _, it := range page.Items {
			got = append(got, it.ID)
		}
		if tok = page.NextToken; tok == "" {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("paged ids = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("paged ids = %v, want %v", got, want)
		}
	}
	count := func(f flotilla.ScheduleFilter) int {
		t.Helper()
		page, err := s.ListSchedules(ctx, f)
		if err != nil {
			t.Fatalf("ListSchedules(%+v): %v", f, err)
		}
		return len(page.Items)
	}
	yes, no := true, false
	for _, c := range []struct {
		f    flotilla.ScheduleFilter
		want int
	}{
		{flotilla.ScheduleFilter{Definition: "a"}, 3},
		{flotilla.ScheduleFilter{Owner: "bob"}, 2},
		{flotilla.ScheduleFilter{Enabled: &yes}, 3},
		{flotilla.ScheduleFilter{Enabled: &no}, 2},
		{flotilla.ScheduleFilter{Definition: "a", Owner: "ada", Enabled: &yes}, 1},
		{flotilla.ScheduleFilter{Definition: "zzz"}, 0},
	} {
		if n := count(c.f); n != c.want {
			t.Errorf("ListSchedules(%+v) = %d items, want %d", c.f, n, c.want)
		}
	}
	if _, err := s.ListSchedules(ctx, flotilla.ScheduleFilter{NextToken: "!!not a token"}); !errors.Is(err, flotilla.ErrInvalid) {
		t.Errorf("ListSchedules(bad token) = %v, want ErrInvalid", err)
	}
}

func testScheduleUpdate(t *testing.T, s flotilla.ScheduleStore) {
	ctx := context.Background()
	sch, err := s.CreateSchedule(ctx, NewSchedule("hello", "ada", 0))
	if err != nil {
		t.Fatalf("CreateSchedule: %v", err)
	}
	fired := Epoch.Add(15 * time.Hour)
	if err := s.RecordFire(ctx, sch.ID, fired); err != nil {
		t.Fatalf("RecordFire: %v", err)
	}
	next := sch
	next.Version = 2
	next.Enabled = false
	next.Expression = "rate(5 minutes)"
	next.UpdatedAt = Epoch.Add(time.Hour)
	next.LastFireTime = nil // an update never moves the last fire time
	got, err := s.UpdateSchedule(ctx, next)
	if err != nil {
		t.Fatalf("UpdateSchedule: %v", err)
	}
	if got.Version != 2 || got.Enabled || got.Expression != "rate(5 minutes)" || got.LastFireTime == nil || !got.LastFireTime.Equal(fired) {
		t.Fatalf("UpdateSchedule = %+v, want version 2, paused, rate(5 minutes), last fire %s", got, fired)
	}
	read, _ := s.GetSchedule(ctx, sch.ID)
	if read.Version != 2 || read.Enabled || read.LastFireTime == nil || !read.LastFireTime.Equal(fired) {
		t.Fatalf("GetSchedule after update = %+v", read)
	}
	yes := true
	if page, _ := s.ListSchedules(ctx, flotilla.ScheduleFilter{Enabled: &yes}); len(page.Items) != 0 {
		t.Fatalf("a paused schedule is listed as enabled: %+v", page.Items)
	}
	// The same version again is stale.
	if _, err := s.UpdateSchedule(ctx, next); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("UpdateSchedule(stale) = %v, want ErrConflict", err)
	}
	missing := NewSchedule("hello", "ada", time.Minute)
	missing.Version = 2
	if _, err := s.UpdateSchedule(ctx, missing); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("UpdateSchedule(missing) = %v, want ErrNotFound", err)
	}
}

func testScheduleRecordFire(t *testing.T, s flotilla.ScheduleStore) {
	ctx := context.Background()
	sch, err := s.CreateSchedule(ctx, NewSchedule("hello", "ada", 0))
	if err != nil {
		t.Fatalf("CreateSchedule: %v", err)
	}
	t1 := Epoch.Add(time.Hour)
	t2 := t1.Add(time.Minute)
	if err := s.RecordFire(ctx, sch.ID, t1); err != nil {
		t.Fatalf("RecordFire(t1): %v", err)
	}
	if err := s.RecordFire(ctx, sch.ID, t1); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("RecordFire(t1 again) = %v, want ErrConflict", err)
	}
	if err := s.RecordFire(ctx, sch.ID, t2); err != nil {
		t.Fatalf("RecordFire(t2): %v", err)
	}
	if err := s.RecordFire(ctx, sch.ID, t1); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("RecordFire(t1 after t2) = %v, want ErrConflict: the last fire time only moves forward", err)
	}
	got, _ := s.GetSchedule(ctx, sch.ID)
	if got.LastFireTime == nil || !got.LastFireTime.Equal(t2) {
		t.Fatalf("last_fire_time = %v, want %s", got.LastFireTime, t2)
	}
	if got.Version != 1 {
		t.Fatalf("RecordFire changed the version to %d; it must not, or it would fail users' updates", got.Version)
	}
	if err := s.RecordFire(ctx, "sch_missing", t1); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("RecordFire(missing) = %v, want ErrNotFound", err)
	}
}

// testScheduleRecordFireRace: two schedulers claiming the same fire time,
// many times over; exactly one wins each time.
func testScheduleRecordFireRace(t *testing.T, s flotilla.ScheduleStore) {
	ctx := context.Background()
	sch, err := s.CreateSchedule(ctx, NewSchedule("hello", "ada", 0))
	if err != nil {
		t.Fatalf("CreateSchedule: %v", err)
	}
	for i := range 10 {
		at := Epoch.Add(time.Duration(i+1) * time.Minute)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 4 {
			wg.Go(func() {
				err := s.RecordFire(ctx, sch.ID, at)
				switch {
				case err == nil:
					mu.Lock()
					wins++
					mu.Unlock()
				case !errors.Is(err, flotilla.ErrConflict):
					t.Errorf("RecordFire: %v", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("fire time %s recorded %d times, want exactly 1", at, wins)
		}
	}
}
