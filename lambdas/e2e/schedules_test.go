//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestLambdasSchedulesAndStops covers the calls the main scenario does not
// make, so that the IAM proof (infra/proof_test.go) sees them made by the
// real functions: a schedule created, fired through the scheduler function
// and deleted, and a running run stopped over the API. (ListTasks, the
// executor's look-up of a task whose id was never recorded, is made by the
// sweep in internal/awswire's fault tests.)
func TestLambdasSchedulesAndStops(t *testing.T) {
	s := startStack(t, 0)
	ctx := context.Background()
	s.fn["scheduler"] = startFunction(t, s.rie, "scheduler", s.bins["scheduler"], s.env)

	def, err := s.api.CreateDefinition(ctx, map[string]any{
		"alias": "sleepy", "image": "public.ecr.aws/docker/library/alpine:3", "command": "echo start; sleep 600",
		"cpu": 256, "memory": 512,
	})
	if err != nil {
		t.Fatalf("create definition: %v", err)
	}

	// A schedule: created through the API (CreateSchedule, PassRole of the
	// scheduler role), fired by the scheduler function, deleted.
	var sched struct {
		ID string `json:"schedule_id"`
	}
	if code, err := s.api.Do(ctx, "POST", "/v1/schedules", nil, map[string]any{
		"name": "hourly", "definition": def.Alias, "expression": "rate(1 hour)", "timezone": "UTC",
	}, &sched); err != nil || code != http.StatusCreated {
		t.Fatalf("create schedule: %d %v", code, err)
	}
	names := s.scheduler.Names(scheduleGroup)
	if len(names) != 1 {
		t.Fatalf("EventBridge Scheduler holds %v, want one schedule", names)
	}
	// A firing EventBridge Scheduler cannot deliver is kept, not dropped.
	if sc, _ := s.scheduler.Schedule(scheduleGroup, names[0]); sc.Target == nil || sc.Target.DeadLetterConfig == nil || sc.Target.DeadLetterConfig.Arn != scheduleDLQ {
		t.Errorf("schedule target %+v has no dead-letter queue %s", sc.Target, scheduleDLQ)
	}
	input, err := s.scheduler.Invoke(scheduleGroup, names[0], time.Now().Truncate(time.Hour))
	if err != nil {
		t.Fatalf("fire: %v", err)
	}
	var event any
	if err := json.Unmarshal([]byte(input), &event); err != nil {
		t.Fatalf("schedule input %q: %v", input, err)
	}
	if _, err := s.fn["scheduler"].invoke(ctx, event); err != nil {
		t.Fatalf("scheduler function: %v", err)
	}
	page, err := s.api.ListRuns(ctx, url.Values{"schedule_id": {sched.ID}})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("runs of the schedule: %v %v, want one", page.Items, err)
	}
	fired := page.Items[0]

	// Once its owner is disabled in the user pool, the schedule fires as
	// nobody: the next fire makes no run (and is not retried).
	s.cognito.SetUser(owner, false)
	next, err := s.scheduler.Invoke(scheduleGroup, names[0], time.Now().Truncate(time.Hour).Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var nextEvent any
	json.Unmarshal([]byte(next), &nextEvent)
	if _, err := s.fn["scheduler"].invoke(ctx, nextEvent); err != nil {
		t.Fatalf("scheduler function with a disabled owner: %v (want the fire dropped, not an error)", err)
	}
	if page, err := s.api.ListRuns(ctx, url.Values{"schedule_id": {sched.ID}}); err != nil || len(page.Items) != 1 {
		t.Fatalf("runs of the schedule after its owner was disabled: %d %v, want still one", len(page.Items), err)
	}
	if s.cognito.Calls() != 2 {
		t.Errorf("the user pool was asked %d times, want once per fire", s.cognito.Calls())
	}
	s.cognito.SetUser(owner, true)

	// The fired run is stopped once it runs (StopTask by task id).
	waitStatus(t, s, fired.ID, flotilla.StatusRunning)
	if _, err := s.api.StopRun(ctx, fired.ID); err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitStatus(t, s, fired.ID, flotilla.StatusStopped)

	// A change of expression reaches EventBridge Scheduler (UpdateSchedule).
	if code, err := s.api.Do(ctx, "PATCH", "/v1/schedules/"+sched.ID, nil, map[string]any{"expression": "rate(2 hours)"}, nil); err != nil || code != http.StatusOK {
		t.Fatalf("change schedule: %d %v", code, err)
	}
	if sc, _ := s.scheduler.Schedule(scheduleGroup, names[0]); sc.ScheduleExpression != "rate(2 hours)" {
		t.Errorf("EventBridge Scheduler holds %q after the change, want rate(2 hours)", sc.ScheduleExpression)
	}

	if code, err := s.api.Do(ctx, "DELETE", "/v1/schedules/"+sched.ID, nil, nil, nil); err != nil || code != http.StatusNoContent {
		t.Fatalf("delete schedule: %d %v", code, err)
	}
	if names := s.scheduler.Names(scheduleGroup); len(names) != 0 {
		t.Fatalf("EventBridge Scheduler still holds %v", names)
	}
	// With its schedule gone, the definition can be deleted (its revisions
	// go in one BatchWriteItem).
	if code, err := s.api.Do(ctx, "DELETE", "/v1/definitions/"+def.ID, nil, nil, nil); err != nil || code != http.StatusNoContent {
		t.Fatalf("delete definition: %d %v", code, err)
	}
}

func waitStatus(t *testing.T, s *stack, id string, want flotilla.RunStatus) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := s.api.GetRun(context.Background(), id)
		if err == nil && r.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: %s (%v), want %s", id, r.Status, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
