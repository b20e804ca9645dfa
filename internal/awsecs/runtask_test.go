package awsecs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/flotilla-run/flotilla/internal/awsecs"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Recorded RunTask responses, replayed through the real client: what each
// failures[] reason means for the run.
func TestStartClassifiesRecordedResponses(t *testing.T) {
	t.Parallel()
	capacity, quota, refused := "capacity", "quota", "refused"
	type expect struct{ class, mention string }
	tests := map[string]expect{
		"resource-cpu":       {capacity, "enough CPU (RESOURCE:CPU)"},
		"resource-memory":    {capacity, "enough memory (RESOURCE:MEMORY)"},
		"resource-eni":       {capacity, "enough network interfaces (RESOURCE:ENI)"},
		"resource-gpu":       {capacity, "enough GPUs (RESOURCE:GPU)"},
		"resource-ports":     {capacity, "enough free ports (RESOURCE:PORTS)"},
		"agent":              {capacity, "agent is disconnected"},
		"fargate-capacity":   {capacity, "Capacity is unavailable at this time"},
		"fargate-vcpu-limit": {quota, "limit on the number of vCPUs"},
		"attribute":          {refused, "ATTRIBUTE (ecs.capability.task-eni)"},
		"location":           {refused, "LOCATION"},
		"missing":            {refused, "MISSING"},
	}
	files, _ := filepath.Glob("testdata/runtask-*.json")
	if len(files) != len(tests)+1 {
		t.Fatalf("%d recorded responses, %d expectations (+ runtask-ok)", len(files), len(tests))
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile("testdata/runtask-" + name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			b := setup(t, awsfake.ECSOptions{})
			r := newRun(t)
			b.fake.SetScript(r.ID, awsfake.Script{Replies: []awsfake.Reply{{Body: body}}})
			_, err = b.exec.Start(context.Background(), r)
			var ce *flotilla.CapacityError
			var re *awsecs.RefusedError
			got := "other"
			switch {
			case errors.As(err, &ce) && ce.Wait == flotilla.WaitEngineCapacity:
				got = capacity
			case errors.As(err, &ce) && ce.Wait == flotilla.WaitAccountQuota:
				got = quota
			case errors.As(err, &re) && errors.Is(err, flotilla.ErrInvalid):
				got = refused
			}
			if got != want.class {
				t.Fatalf("Start = %v, classified %s, want %s", err, got, want.class)
			}
			// The reason reaches the run in plain words.
			if !strings.Contains(err.Error(), want.mention) {
				t.Errorf("error %q does not say %q", err, want.mention)
			}
			// The next call places the task.
			if _, err := b.exec.Start(context.Background(), r); err != nil {
				t.Fatalf("Start after the failure: %v", err)
			}
		})
	}
	t.Run("ok", func(t *testing.T) {
		t.Parallel()
		body, _ := os.ReadFile("testdata/runtask-ok.json")
		b := setup(t, awsfake.ECSOptions{})
		r := newRun(t)
		b.fake.SetScript(r.ID, awsfake.Script{Replies: []awsfake.Reply{{Body: body}}})
		task, err := b.exec.Start(context.Background(), r)
		if err != nil || task.ID != "0b69c4e3a5f24d6c8e1a2b3c4d5e6f70" || task.Engine != flotilla.EngineFargate {
			t.Fatalf("Start = %+v, %v", task, err)
		}
	})
}

// The AWS requests one run costs the executor, by lifecycle, measured by
// the shared awsclient.Counter (a warm process: the task definition is
// cached).
func TestRequestsPerRunLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.ECSOptions{})
	ctx := context.Background()
	if _, err := b.exec.Start(ctx, newRun(t)); err != nil { // warm the cache
		t.Fatal(err)
	}
	lifecycles := []struct {
		name string
		run  func(t *testing.T) map[string]int
		want map[string]int
	}{
		{"succeeded", func(t *testing.T) map[string]int {
			r := newRun(t)
			b.counter.Reset()
			if _, err := b.exec.Start(ctx, r); err != nil {
				t.Fatal(err)
			}
			b.fake.Settle()
			return b.counter.Snapshot()
		}, map[string]int{"ECS.RunTask": 1}},
		{"stopped", func(t *testing.T) map[string]int {
			r := newRun(t)
			b.fake.SetScript(r.ID, awsfake.Script{Lives: []awsfake.Life{{Hold: true}}})
			b.counter.Reset()
			task, err := b.exec.Start(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			b.fake.Settle()
			if err := b.exec.Stop(ctx, withTask(r, task.ID)); err != nil {
				t.Fatal(err)
			}
			b.fake.Settle()
			return b.counter.Snapshot()
		}, map[string]int{"ECS.RunTask": 1, "ECS.StopTask": 1}},
		{"swept", func(t *testing.T) map[string]int {
			r := newRun(t)
			b.counter.Reset()
			task, err := b.exec.Start(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			b.fake.Settle()
			if ev, err := b.exec.Describe(ctx, withTask(r, task.ID)); err != nil || ev.State != flotilla.TaskStopped {
				t.Fatalf("Describe = %+v, %v", ev, err)
			}
			return b.counter.Snapshot()
		}, map[string]int{"ECS.RunTask": 1, "ECS.DescribeTasks": 1}},
		{"capacity wait then start", func(t *testing.T) map[string]int {
			r := newRun(t)
			b.fake.SetScript(r.ID, awsfake.Script{Replies: []awsfake.Reply{awsfake.Fail("RESOURCE:MEMORY", "")}})
			b.counter.Reset()
			if _, err := b.exec.Start(ctx, r); !errors.Is(err, flotilla.ErrNoCapacity) {
				t.Fatalf("Start = %v", err)
			}
			if _, err := b.exec.Start(ctx, r); err != nil {
				t.Fatal(err)
			}
			return b.counter.Snapshot()
		}, map[string]int{"ECS.RunTask": 2}},
		{"task id lost, found by startedBy", func(t *testing.T) map[string]int {
			r := newRun(t)
			b.counter.Reset()
			if _, err := b.exec.Start(ctx, r); err != nil {
				t.Fatal(err)
			}
			if _, err := b.exec.Describe(ctx, r); err != nil {
				t.Fatal(err)
			}
			return b.counter.Snapshot()
		}, map[string]int{"ECS.RunTask": 1, "ECS.ListTasks": 1, "ECS.DescribeTasks": 1}},
		// Already stopped: not among startedBy's (RUNNING) tasks, found among
		// the family's stopped ones.
		{"task id lost and stopped, found in its family", func(t *testing.T) map[string]int {
			r := newRun(t)
			b.counter.Reset()
			if _, err := b.exec.Start(ctx, r); err != nil {
				t.Fatal(err)
			}
			b.fake.Settle()
			ev, err := b.exec.Describe(ctx, r)
			if err != nil || ev.State != flotilla.TaskStopped || ev.RunID != r.ID {
				t.Fatalf("Describe = %+v, %v; want the run's stopped task", ev, err)
			}
			return b.counter.Snapshot()
		}, map[string]int{"ECS.RunTask": 1, "ECS.ListTasks": 2, "ECS.DescribeTasks": 1}},
	}
	for _, lc := range lifecycles {
		got := lc.run(t)
		if !equalCounts(got, lc.want) {
			t.Errorf("%s: requests %v, want %v", lc.name, got, lc.want)
		}
		t.Logf("requests per run, %s: %s", lc.name, format(got))
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func format(m map[string]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+strconv.Itoa(v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
