package schedules_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/schedules"
)

var now = time.Date(2026, 11, 26, 12, 0, 30, 0, time.UTC)

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	ok := schedules.CreateRequest{Name: "nightly", Definition: "hello", Expression: "cron(0 3 * * ? *)"}
	for _, c := range []struct {
		name   string
		change func(*schedules.CreateRequest)
		field  string
		says   string
	}{
		{"minutes out of range", func(r *schedules.CreateRequest) { r.Expression = "cron(60 3 * * ? *)" }, "expression", `minutes field "60"`},
		{"both day fields", func(r *schedules.CreateRequest) { r.Expression = "cron(0 3 * * MON *)" }, "expression", "?"},
		{"rate unit", func(r *schedules.CreateRequest) { r.Expression = "rate(1 minutes)" }, "expression", `use the singular "minute"`},
		{"not an expression", func(r *schedules.CreateRequest) { r.Expression = "every day" }, "expression", "cron(...), rate(...) or at(...)"},
		{"missing expression", func(r *schedules.CreateRequest) { r.Expression = "" }, "expression", "is required"},
		{"never fires", func(r *schedules.CreateRequest) { r.Expression = "cron(0 0 30 2 ? *)" }, "expression", "never fires"},
		{"past at()", func(r *schedules.CreateRequest) { r.Expression = "at(2020-01-01T00:00:00)" }, "expression", "never fires"},
		{"unknown zone", func(r *schedules.CreateRequest) { r.Timezone = "Mars/Olympus" }, "timezone", `"Mars/Olympus"`},
		{"Local zone", func(r *schedules.CreateRequest) { r.Timezone = "Local" }, "timezone", "IANA"},
		{"no name", func(r *schedules.CreateRequest) { r.Name = " " }, "name", "is required"},
		{"no definition", func(r *schedules.CreateRequest) { r.Definition = "" }, "definition", "is required"},
		{"unknown definition", func(r *schedules.CreateRequest) { r.Definition = "nope" }, "definition", `"nope"`},
		{"unknown cluster", func(r *schedules.CreateRequest) { r.Cluster = "mars" }, "cluster", `"mars"`},
		{"catch_up", func(r *schedules.CreateRequest) { r.CatchUp = "all" }, "catch_up", `"none" or "latest"`},
		{"env name", func(r *schedules.CreateRequest) { r.Env = map[string]string{"1X": "y"} }, "env.1X", "name must start with a letter or _"},
		{"reserved env", func(r *schedules.CreateRequest) { r.Env = map[string]string{"FLOTILLA_X": "y"} }, "env.FLOTILLA_X", "reserved"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := ok
			c.change(&req)
			_, err := b.svc.Create(context.Background(), owner, req)
			var v *flotilla.ValidationError
			if !errors.As(err, &v) || !errors.Is(err, flotilla.ErrInvalid) {
				t.Fatalf("Create = %v, want a ValidationError", err)
			}
			for _, f := range v.Fields {
				if f.Field == c.field && strings.Contains(f.Message, c.says) {
					return
				}
			}
			t.Fatalf("Create = %v, want field %s saying %q", err, c.field, c.says)
		})
	}
	page, _ := b.svc.List(context.Background(), flotilla.ScheduleFilter{})
	if len(page.Items) != 0 {
		t.Fatalf("invalid creates stored %d schedules", len(page.Items))
	}
}

func TestCreateNormalizesAndComputesNextFireTimes(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	sch := b.create(schedules.CreateRequest{Name: " nightly ", Expression: " cron(0 3 ? * mon-fri *) ", Timezone: "America/New_York",
		Env: map[string]string{"MODE": "full"}})
	if sch.Name != "nightly" || sch.Expression != "cron(0 3 ? * MON-FRI *)" || sch.Definition != b.def.ID || sch.Cluster != "default" ||
		!sch.Enabled || sch.CatchUp != flotilla.CatchUpNone || sch.Owner != owner || sch.Version != 1 || !strings.HasPrefix(sch.ID, "sch_") {
		t.Fatalf("created %+v", sch)
	}
	// 03:00 in New York is 08:00 UTC in winter; Thanksgiving 2026-11-26 is a
	// Thursday, so the next five weekdays from noon UTC are 27, 30, 1, 2, 3.
	want := []string{"2026-11-27T08:00:00Z", "2026-11-30T08:00:00Z", "2026-12-01T08:00:00Z", "2026-12-02T08:00:00Z", "2026-12-03T08:00:00Z"}
	if len(sch.NextFireTimes) != len(want) {
		t.Fatalf("next_fire_times = %v, want %v", sch.NextFireTimes, want)
	}
	for i, w := range want {
		if got := sch.NextFireTimes[i].Format(time.RFC3339); got != w {
			t.Fatalf("next_fire_times = %v, want %v", sch.NextFireTimes, want)
		}
	}
	paused, err := b.svc.Update(context.Background(), sch.ID, flotilla.SchedulePatch{Enabled: ptr(false)})
	if err != nil || paused.Enabled || len(paused.NextFireTimes) != 0 || paused.Version != 2 {
		t.Fatalf("paused = %+v, %v; want no next fire times, version 2", paused, err)
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	ctx := context.Background()
	sch := b.create(schedules.CreateRequest{Expression: "rate(5 minutes)"})
	got, err := b.svc.Update(ctx, sch.ID, flotilla.SchedulePatch{Expression: ptr("cron(*/10 * * * ? *)"), Cluster: ptr("gpu")})
	if err != nil || got.Expression != "cron(*/10 * * * ? *)" || got.Cluster != "gpu" || got.Name != sch.Name || got.Owner != owner {
		t.Fatalf("Update = %+v, %v", got, err)
	}
	if _, err := b.svc.Update(ctx, sch.ID, flotilla.SchedulePatch{Timezone: ptr("Nowhere/Land")}); !errors.Is(err, flotilla.ErrInvalid) {
		t.Fatalf("Update(bad zone) = %v, want ErrInvalid", err)
	}
	if _, err := b.svc.Update(ctx, "sch_missing", flotilla.SchedulePatch{}); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("Update(missing) = %v, want ErrNotFound", err)
	}
	if err := b.svc.Delete(ctx, sch.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := b.svc.Get(ctx, sch.ID); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("Get(deleted) = %v, want ErrNotFound", err)
	}
}

func TestFireIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	ctx := context.Background()
	sch := b.create(schedules.CreateRequest{Expression: "cron(0 3 * * ? *)", Cluster: "gpu", Env: map[string]string{"MODE": "full"}})
	at := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	first, created, err := b.svc.Fire(ctx, sch.ID, at)
	if err != nil || !created {
		t.Fatalf("Fire = created %v, %v", created, err)
	}
	if first.ScheduleID != sch.ID || first.Owner != owner || first.Cluster != "gpu" || first.Env["MODE"] != "full" || first.Env["K"] != "V" ||
		first.IdempotencyKey != sch.ID+"#2026-11-27T03:00:00Z" || first.Status != flotilla.StatusQueued {
		t.Fatalf("fired run = %+v", first)
	}
	// A duplicate delivery, even in another zone's notation, makes no run.
	again, created, err := b.svc.Fire(ctx, sch.ID, at.In(time.FixedZone("x", 3600)))
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("second Fire = %s created %v, %v; want %s, not created", again.ID, created, err, first.ID)
	}
	if got := b.fired(sch.ID); len(got) != 1 {
		t.Fatalf("runs = %v, want one", got)
	}
	read, _ := b.svc.Get(ctx, sch.ID)
	if read.LastFireTime == nil || !read.LastFireTime.Equal(at) {
		t.Fatalf("last_fire_time = %v, want %s", read.LastFireTime, at)
	}
	if _, err := b.svc.Update(ctx, sch.ID, flotilla.SchedulePatch{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.svc.Fire(ctx, sch.ID, at.Add(24*time.Hour)); !errors.Is(err, schedules.ErrPaused) {
		t.Fatalf("Fire(paused) = %v, want ErrPaused", err)
	}
	if _, _, err := b.svc.Fire(ctx, "sch_missing", at); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("Fire(missing) = %v, want ErrNotFound", err)
	}
}

func TestHandleScheduledEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	ctx := context.Background()
	sch := b.create(schedules.CreateRequest{Expression: "rate(1 hour)"})
	ev := schedules.ScheduledEvent{ScheduleID: sch.ID, ScheduledTime: "2026-11-26T13:00:00Z"}
	for range 3 { // at-least-once delivery
		if err := b.svc.HandleScheduledEvent(ctx, ev); err != nil {
			t.Fatalf("HandleScheduledEvent: %v", err)
		}
	}
	if got := b.fired(sch.ID); len(got) != 1 || got[0] != "2026-11-26T13:00:00Z" {
		t.Fatalf("fired %v, want one run for 13:00", got)
	}
	// Dropped, not retried: nothing a retry could fix.
	for _, bad := range []schedules.ScheduledEvent{
		{ScheduleID: "sch_missing", ScheduledTime: "2026-11-26T13:00:00Z"},
		{ScheduleID: sch.ID, ScheduledTime: "yesterday"},
		{ScheduledTime: "2026-11-26T13:00:00Z"},
	} {
		if err := b.svc.HandleScheduledEvent(ctx, bad); err != nil {
			t.Errorf("HandleScheduledEvent(%+v) = %v, want nil", bad, err)
		}
	}
	if got := b.fired(sch.ID); len(got) != 1 {
		t.Fatalf("fired %v after bad events", got)
	}
}

func ptr[T any](v T) *T { return &v }

// members is a user pool in which only the listed owners may launch.
type members map[string]bool

func (m members) MayLaunch(_ context.Context, owner string) (bool, error) { return m[owner], nil }

// A schedule fires as its owner only while the owner may launch; a fire
// for an owner who may not makes no run and is dropped, not retried.
func TestFireOnlyWhileTheOwnerMayLaunch(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	sch := b.create(schedules.CreateRequest{Expression: "rate(1 hour)"})
	ctx := context.Background()
	b.svc.Members = members{owner: true}
	if _, created, err := b.svc.Fire(ctx, sch.ID, now); err != nil || !created {
		t.Fatalf("fire as an enabled owner: created %v, %v", created, err)
	}
	b.svc.Members = members{}
	if _, _, err := b.svc.Fire(ctx, sch.ID, now.Add(time.Hour)); !errors.Is(err, schedules.ErrOwnerGone) || !errors.Is(err, flotilla.ErrForbidden) {
		t.Fatalf("fire as a gone owner: %v, want ErrOwnerGone", err)
	}
	if err := b.svc.HandleScheduledEvent(ctx, schedules.ScheduledEvent{ScheduleID: sch.ID, ScheduledTime: now.Add(time.Hour).Format(time.RFC3339)}); err != nil {
		t.Errorf("the scheduler function would retry a fire for a gone owner: %v", err)
	}
	page, err := b.runs.Store.ListRuns(ctx, flotilla.RunFilter{ScheduleID: sch.ID})
	if err != nil || len(page.Items) != 1 {
		t.Errorf("runs of the schedule: %d (%v), want only the first fire's", len(page.Items), err)
	}
}
