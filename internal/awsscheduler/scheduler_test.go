package awsscheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/awsscheduler"
	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
	"github.com/flotilla-run/flotilla/internal/runs"
	"github.com/flotilla-run/flotilla/internal/schedules"
)

const (
	lambdaArn = "arn:aws:lambda:us-east-1:123456789012:function:flotilla-scheduler"
	roleArn   = "arn:aws:iam::123456789012:role/flotilla-scheduler-invoke"
)

// client returns a real EventBridge Scheduler client of the fake.
func client(t *testing.T, fake *awsfake.Scheduler) *scheduler.Client {
	t.Helper()
	cfg, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", StaticCredentials: true, MaxAttempts: 10})
	if err != nil {
		t.Fatalf("awsclient.Load: %v", err)
	}
	url := awsfake.Serve(t, fake)
	return scheduler.NewFromConfig(cfg, func(o *scheduler.Options) { o.BaseEndpoint = aws.String(url) })
}

func newAdapter(t *testing.T, fake *awsfake.Scheduler) *awsscheduler.Scheduler {
	t.Helper()
	a, err := awsscheduler.New(client(t, fake), awsscheduler.Config{TargetArn: lambdaArn, RoleArn: roleArn})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestPutAndDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := awsfake.NewScheduler(awsfake.SchedulerOptions{Groups: []string{"flotilla"}})
	a := newAdapter(t, fake)
	sch := flotillatest.NewSchedule("def_1", "ada", 0)
	sch.Version = 1
	sch.Timezone = "America/New_York"
	if err := a.Put(ctx, sch); err != nil {
		t.Fatalf("Put(new): %v", err)
	}
	got, ok := fake.Schedule("flotilla", sch.ID)
	if !ok {
		t.Fatalf("no schedule %s in group flotilla; groups hold %v", sch.ID, fake.Names("flotilla"))
	}
	if got.ScheduleExpression != "cron(0 3 * * ? *)" || got.ScheduleExpressionTimezone != "America/New_York" || got.State != "ENABLED" ||
		got.FlexibleTimeWindow == nil || got.FlexibleTimeWindow.Mode != "OFF" || got.Description != sch.Name ||
		got.Target == nil || got.Target.Arn != lambdaArn || got.Target.RoleArn != roleArn || got.Target.Input == nil {
		t.Fatalf("created %+v", got)
	}
	// Literally: EventBridge substitutes the placeholder in the raw text,
	// so an escaped \u003c…\u003e would be delivered as is.
	if !strings.Contains(*got.Target.Input, `"scheduled_time":"<aws.scheduler.scheduled-time>"`) {
		t.Fatalf("target input %s does not hold the literal placeholder", *got.Target.Input)
	}
	var input map[string]string
	if err := json.Unmarshal([]byte(*got.Target.Input), &input); err != nil || len(input) != 2 ||
		input["schedule_id"] != sch.ID || input["scheduled_time"] != "<aws.scheduler.scheduled-time>" {
		t.Fatalf("target input = %s, %v", *got.Target.Input, err)
	}
	remote, err := a.Get(ctx, sch.ID)
	if err != nil || !remote.Enabled || remote.Expression != sch.Expression || remote.Timezone != sch.Timezone || remote.TargetArn != lambdaArn {
		t.Fatalf("Get = %+v, %v", remote, err)
	}

	// Paused and changed: an update of every field.
	sch.Version, sch.Enabled, sch.Expression, sch.Timezone = 2, false, "rate(15 minutes)", "UTC"
	if err := a.Put(ctx, sch); err != nil {
		t.Fatalf("Put(paused): %v", err)
	}
	got, _ = fake.Schedule("flotilla", sch.ID)
	if got.State != "DISABLED" || got.ScheduleExpression != "rate(15 minutes)" || got.ScheduleExpressionTimezone != "UTC" || got.Target.Input == nil {
		t.Fatalf("updated %+v", got)
	}
	if _, err := fake.Invoke("flotilla", sch.ID, time.Now()); err == nil {
		t.Fatalf("a DISABLED schedule was invoked")
	}

	if err := a.Delete(ctx, sch.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok := fake.Schedule("flotilla", sch.ID); ok {
		t.Fatalf("schedule still there after Delete")
	}
	if err := a.Delete(ctx, sch.ID); err != nil {
		t.Fatalf("Delete(again) = %v, want nil", err)
	}
	if _, err := a.Get(ctx, sch.ID); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("Get(deleted) = %v, want ErrNotFound", err)
	}
}

// TestPutConverges: a create that already happened and an update of a
// schedule EventBridge lost both end with the right schedule.
func TestPutConverges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := awsfake.NewScheduler(awsfake.SchedulerOptions{Groups: []string{"flotilla"}})
	a := newAdapter(t, fake)
	sch := flotillatest.NewSchedule("def_1", "ada", 0)
	sch.Version = 1
	for range 2 {
		if err := a.Put(ctx, sch); err != nil {
			t.Fatalf("Put(version 1): %v", err)
		}
	}
	lost := flotillatest.NewSchedule("def_2", "ada", time.Second)
	lost.Version = 4
	if err := a.Put(ctx, lost); err != nil {
		t.Fatalf("Put(version 4, missing remotely): %v", err)
	}
	if names := fake.Names("flotilla"); len(names) != 2 {
		t.Fatalf("group holds %v, want both schedules", names)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// No flotilla group: a deployment error, never a 404 for the caller.
	fake := awsfake.NewScheduler(awsfake.SchedulerOptions{})
	a := newAdapter(t, fake)
	err := a.Put(ctx, flotillatest.NewSchedule("def_1", "ada", 0))
	if err == nil || errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("Put without the group = %v, want a plain error", err)
	}
	// A bad expression that slipped past validation is ErrInvalid.
	b := newAdapter(t, awsfake.NewScheduler(awsfake.SchedulerOptions{Groups: []string{"flotilla"}}))
	bad := flotillatest.NewSchedule("def_1", "ada", 0)
	bad.Expression = "every day"
	if err := b.Put(ctx, bad); !errors.Is(err, flotilla.ErrInvalid) {
		t.Fatalf("Put(bad expression) = %v, want ErrInvalid", err)
	}
	if _, err := awsscheduler.New(nil, awsscheduler.Config{TargetArn: lambdaArn}); err == nil {
		t.Fatalf("New without a role = nil error")
	}
}

// TestFaults: throttling and 500s on a fifth of the calls are absorbed by
// the SDK's retryer.
func TestFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := awsfake.NewScheduler(awsfake.SchedulerOptions{Groups: []string{"flotilla"}, Faults: awsfake.Faults{Rate: 0.2, Seed: 7}})
	a := newAdapter(t, fake)
	for i := range 8 {
		sch := flotillatest.NewSchedule("def_1", "ada", time.Duration(i)*time.Second)
		sch.Version = 1
		if err := a.Put(ctx, sch); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		sch.Version, sch.Enabled = 2, false
		if err := a.Put(ctx, sch); err != nil {
			t.Fatalf("Put %d (update): %v", i, err)
		}
		if i%2 == 0 {
			if err := a.Delete(ctx, sch.ID); err != nil {
				t.Fatalf("Delete %d: %v", i, err)
			}
		}
	}
	if n := len(fake.Names("flotilla")); n != 4 {
		t.Fatalf("%d schedules left, want 4", n)
	}
	req := fake.Requests()
	if req["CreateSchedule"]+req["UpdateSchedule"]+req["DeleteSchedule"] <= 20 {
		t.Fatalf("requests %v: no faults were injected, so the test proves nothing", req)
	}
}

// TestFireThroughEventBridge: the whole AWS path with the fake playing
// EventBridge Scheduler. A schedule created through the use case appears in
// the fake; a delivery (three times: at least once) of its input to
// HandleScheduledEvent makes one run with the schedule's id; paused, the
// fake stops delivering; deleted, it is gone.
func TestFireThroughEventBridge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := awsfake.NewScheduler(awsfake.SchedulerOptions{Groups: []string{"flotilla"}})
	a := newAdapter(t, fake)
	db, err := embedded.OpenDB(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rs := &runs.Service{Store: embedded.NewStore(db), Queue: embedded.NewQueue(db, []string{"default"}, 0),
		Clusters: map[string]flotilla.Cluster{"default": {Name: "default", MaxRunning: 1}}, DefaultCluster: "default"}
	if _, err := rs.Store.CreateDefinition(ctx, flotillatest.NewDefinition("hello")); err != nil {
		t.Fatal(err)
	}
	svc := &schedules.Service{Store: embedded.NewScheduleStore(db), Runs: rs, Trigger: a}
	sch, err := svc.Create(ctx, "ada", schedules.CreateRequest{Name: "nightly", Definition: "hello",
		Expression: "cron(0 3 * * ? *)", Timezone: "Europe/Paris"})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	at := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC) // 03:00 in Paris
	for range 3 {
		input, err := fake.Invoke("flotilla", sch.ID, at)
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		var ev schedules.ScheduledEvent
		if err := json.Unmarshal([]byte(input), &ev); err != nil {
			t.Fatalf("input %s: %v", input, err)
		}
		if err := svc.HandleScheduledEvent(ctx, ev); err != nil {
			t.Fatalf("HandleScheduledEvent(%s): %v", input, err)
		}
	}
	page, err := rs.Store.ListRuns(ctx, flotilla.RunFilter{ScheduleID: sch.ID})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("runs = %+v, %v; want exactly one", page.Items, err)
	}
	if r := page.Items[0]; r.Owner != "ada" || r.IdempotencyKey != sch.ID+"#2026-11-27T02:00:00Z" {
		t.Fatalf("run = %+v", r)
	}
	if _, err := svc.Update(ctx, sch.ID, flotilla.SchedulePatch{Enabled: aws.Bool(false)}); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if _, err := fake.Invoke("flotilla", sch.ID, at.Add(24*time.Hour)); err == nil {
		t.Fatalf("EventBridge still delivers a paused schedule")
	}
	if err := svc.Delete(ctx, sch.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if names := fake.Names("flotilla"); len(names) != 0 {
		t.Fatalf("EventBridge schedules left after delete: %v", names)
	}
	// A trigger failure undoes the create: no schedule that never fires.
	svc.Trigger, _ = awsscheduler.New(client(t, awsfake.NewScheduler(awsfake.SchedulerOptions{})), awsscheduler.Config{TargetArn: lambdaArn, RoleArn: roleArn})
	if _, err := svc.Create(ctx, "ada", schedules.CreateRequest{Name: "x", Definition: "hello", Expression: "rate(1 hour)"}); err == nil {
		t.Fatalf("Create with a broken trigger = nil error")
	}
	if list, _ := svc.List(ctx, flotilla.ScheduleFilter{}); len(list.Items) != 0 {
		t.Fatalf("a schedule without its trigger was kept: %+v", list.Items)
	}
}
