//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestLambdasTemplates: a definition with parameters_schema through the
// deployed path: the API function checks params (400 naming each, nothing
// stored), renders the command, answers a dry run without queueing it; the
// run's params are kept in DynamoDB (minidyn) exactly, and the task ECS is
// asked for (RunTask's container override, sh -c) runs the rendered command.
func TestLambdasTemplates(t *testing.T) {
	s := startStack(t, 0)
	ctx := context.Background()
	def, err := s.api.CreateDefinition(ctx, map[string]any{
		"alias": "report-tpl", "image": "public.ecr.aws/docker/library/alpine:3", "cpu": 256, "memory": 512,
		"command": "echo {{ .params.day }} {{ .params.note }} {{ .params.big }}",
		"parameters_schema": json.RawMessage(`{"type":"object","properties":{"day":{"type":"string","format":"date"},
			"note":{"type":"string","default":"none"},"big":{"type":"integer","default":9007199254740993}},"required":["day"]}`),
	})
	if err != nil {
		t.Fatalf("create definition: %v", err)
	}
	if !strings.Contains(string(def.ParametersSchema), `"format":"date"`) {
		t.Fatalf("definition parameters_schema %s", def.ParametersSchema)
	}
	if _, err := s.api.CreateDefinition(ctx, map[string]any{"alias": "bad-tpl", "image": "alpine:3", "cpu": 256, "memory": 512,
		"command": `echo "{{ .params.x }}"`, "parameters_schema": json.RawMessage(`{"type":"object","properties":{"x":{"type":"string"}}}`)}); !isStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "command") {
		t.Fatalf("a string parameter in quotes: %v, want a 400 naming command", err)
	}

	if _, err := s.api.Launch(ctx, map[string]any{"definition": def.ID, "params": map[string]any{"day": "2026-02-30", "colour": "red"}}); !isStatus(err, http.StatusBadRequest) ||
		!strings.Contains(err.Error(), "params.day") || !strings.Contains(err.Error(), "params.colour") {
		t.Fatalf("bad params: %v, want a 400 naming params.day and params.colour", err)
	}
	var dry flotilla.Run
	code, err := s.api.Do(ctx, "POST", "/v1/runs", nil, map[string]any{"definition": def.ID, "dry_run": true, "params": map[string]any{"day": "2026-12-05"}}, &dry)
	if err != nil || code != http.StatusOK || dry.Command != "echo '2026-12-05' 'none' 9007199254740993" {
		t.Fatalf("dry run: %d %v %q", code, err, dry.Command)
	}
	page, err := s.api.ListRuns(ctx, map[string][]string{"definition": {def.ID}})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("runs after a refused launch and a dry run: %v (%v), want none", page.Items, err)
	}

	r, err := s.api.Launch(ctx, map[string]any{"definition": def.ID, "params": map[string]any{"day": "2026-12-05", "note": "it's; $(x)"}})
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); !r.Status.Terminal(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("run %s is still %s", r.ID, r.Status)
		}
		if r, err = s.api.GetRun(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	const rendered = `echo '2026-12-05' 'it'\''s; $(x)' 9007199254740993`
	if r.Status != flotilla.StatusSucceeded || r.Command != rendered {
		t.Fatalf("run %s %s command %q, want SUCCEEDED with %q", r.ID, r.Status, r.Command, rendered)
	}
	// The integer is beyond float64's exact range: read back from DynamoDB unchanged.
	if got, _ := json.Marshal(r.Params); string(got) != `{"big":9007199254740993,"day":"2026-12-05","note":"it's; $(x)"}` {
		t.Errorf("run params %s", got)
	}
	var cmds [][]string
	for _, req := range s.ecs.RunTaskRequests() {
		if req.StartedBy == r.ID && req.Overrides != nil {
			for _, co := range req.Overrides.ContainerOverrides {
				cmds = append(cmds, co.Command)
			}
		}
	}
	if len(cmds) != 1 || strings.Join(cmds[0], "\x00") != "sh\x00-c\x00"+rendered {
		t.Errorf("RunTask container overrides' commands %q, want one [sh -c %s]", cmds, rendered)
	}

	// A schedule's params: refused when wrong, kept in its item, and sent
	// with the fire the scheduler function makes.
	s.fn["scheduler"] = startFunction(t, s.rie, "scheduler", s.bins["scheduler"], s.env)
	if code, err := s.api.Do(ctx, "POST", "/v1/schedules", nil, map[string]any{"name": "daily-report", "definition": def.ID,
		"expression": "rate(1 day)", "params": map[string]any{"day": "tomorrow"}}, nil); !isStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "params.day") {
		t.Fatalf("schedule with a bad day: %d %v, want a 400 naming params.day", code, err)
	}
	var sched flotilla.Schedule
	if code, err := s.api.Do(ctx, "POST", "/v1/schedules", nil, map[string]any{"name": "daily-report", "definition": def.ID,
		"expression": "rate(1 day)", "params": map[string]any{"day": "2026-12-31", "note": "from the schedule"}}, &sched); err != nil || code != http.StatusCreated {
		t.Fatalf("create schedule: %d %v", code, err)
	}
	names := s.scheduler.Names(scheduleGroup)
	if len(names) != 1 {
		t.Fatalf("EventBridge Scheduler holds %v, want one schedule", names)
	}
	input, err := s.scheduler.Invoke(scheduleGroup, names[0], time.Now().Truncate(time.Hour))
	if err != nil {
		t.Fatalf("fire: %v", err)
	}
	var event any
	if err := json.Unmarshal([]byte(input), &event); err != nil {
		t.Fatal(err)
	}
	if _, err := s.fn["scheduler"].invoke(ctx, event); err != nil {
		t.Fatalf("scheduler function: %v", err)
	}
	fired, err := s.api.ListRuns(ctx, url.Values{"schedule_id": {sched.ID}})
	if err != nil || len(fired.Items) != 1 {
		t.Fatalf("runs of the schedule: %v %v, want one", fired.Items, err)
	}
	if got := fired.Items[0].Command; got != "echo '2026-12-31' 'from the schedule' 9007199254740993" {
		t.Errorf("the fired run's command %q", got)
	}
}
