package awswire_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/runs"
)

// hookExecutor lets a test act at the moment a start is sent, and lose a
// stop (as if StopTask's answer never came back and ECS did nothing).
type hookExecutor struct {
	flotilla.Executor
	beforeStart func(ctx context.Context, r flotilla.Run)
	loseStops   atomic.Bool
}

func (h *hookExecutor) Start(ctx context.Context, r flotilla.Run) (flotilla.Task, error) {
	if h.beforeStart != nil {
		h.beforeStart(ctx, r)
	}
	return h.Executor.Start(ctx, r)
}

func (h *hookExecutor) Stop(ctx context.Context, r flotilla.Run) error {
	if h.loseStops.Load() {
		return nil
	}
	return h.Executor.Stop(ctx, r)
}

// TestFaultsRarePaths drives, one at a time, the paths the load tests
// reach only by chance, each through the function that takes it in AWS, so
// the IAM recording holds their calls (infra/proof/calls.txt):
//   - the sweep restarts a start that died before RunTask, in a process
//     that has not registered the task definition yet;
//   - a stop arrives while RunTask is in flight: the dispatcher stops the
//     task it just started;
//   - a stop of a run whose task id was never written: the API finds the
//     task by startedBy and stops it;
//   - a stop whose StopTask was lost: the sweep sends it again once the
//     task has run on for 2 minutes after the request.
func TestFaultsRarePaths(t *testing.T) {
	s := newFaultStack(t, 0)
	d := &dyingExecutor{Executor: s.svc.Executor, starts: map[string]int{}, lost: map[string]bool{}}
	h := &hookExecutor{Executor: d}
	s.svc.Executor = h
	const owner = "owner0"

	launch := func(cmd string, env map[string]string) flotilla.Run {
		t.Helper()
		var r flotilla.Run
		if err := s.invoke("api", func(ctx context.Context) (err error) {
			r, _, err = s.svc.Launch(ctx, owner, runs.LaunchRequest{Definition: s.def.ID, Command: &cmd, Env: env})
			return err
		}); err != nil {
			t.Fatalf("launch: %v", err)
		}
		return r
	}
	// dispatch hands every queued message to one dispatcher invocation.
	dispatch := func() {
		t.Helper()
		ctx := checking()
		for {
			ds, err := s.w.Queue.Receive(ctx, "default", 10, 200*time.Millisecond)
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			if len(ds) == 0 {
				return
			}
			for _, m := range ds {
				_ = s.invoke("dispatcher", func(ctx context.Context) error { return s.svc.Dispatch(ctx, m.Message) })
				_ = s.w.Queue.Delete(ctx, "default", m.Receipt)
			}
		}
	}
	sweep := func() {
		t.Helper()
		if err := s.invoke("sweep", func(ctx context.Context) error { return s.svc.Sweep(ctx, false) }); err != nil {
			t.Fatalf("sweep: %v", err)
		}
	}
	taskID := func(r flotilla.Run) string {
		if a := r.Current(); a != nil {
			return a.TaskID
		}
		return ""
	}
	get := func(id string) flotilla.Run {
		t.Helper()
		r, err := s.svc.Store.GetRun(checking(), id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// stopAsAPI is the API function's invocation for a stop, even when it
	// happens during another function's call.
	stopAsAPI := func(id string) {
		t.Helper()
		if err := s.invoke("api", func(ctx context.Context) error { _, err := s.svc.Stop(ctx, id, owner); return err }); err != nil {
			t.Fatalf("stop %s: %v", id, err)
		}
	}
	taskStatus := func(id string) string {
		tasks := s.ecs.TasksStarted(id)
		if len(tasks) != 1 {
			t.Fatalf("run %s has tasks %v, want one", id, tasks)
		}
		return s.ecs.TaskStatus(tasks[0])
	}
	waitTask := func(id, want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); taskStatus(id) != want; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("run %s: task %s, want %s", id, taskStatus(id), want)
			}
		}
	}

	// 1. The first run's dispatcher dies before RunTask: nothing is
	// registered yet. Once the run counts as stuck, the sweep starts it.
	first := launch("sleep 30", map[string]string{"DIE": "before"})
	dispatch()
	if got := len(s.ecs.TasksStarted(first.ID)); got != 0 {
		t.Fatalf("the dying dispatcher started %d tasks", got)
	}
	time.Sleep(1100 * time.Millisecond) // StuckAfter
	sweep()
	if r := get(first.ID); taskID(r) == "" {
		t.Fatalf("the sweep did not start the interrupted run: %+v", r)
	}
	waitTask(first.ID, "RUNNING")

	// 2. A stop arrives while RunTask is in flight. The API finds no task
	// yet (ListTasks by startedBy); the dispatcher then stops the task it
	// started (StopTask by the id RunTask returned).
	h.beforeStart = func(_ context.Context, r flotilla.Run) {
		if r.Env["STOP_DURING_START"] != "" {
			stopAsAPI(r.ID)
		}
	}
	racing := launch("sleep 30", map[string]string{"STOP_DURING_START": "1"})
	dispatch()
	h.beforeStart = nil
	waitTask(racing.ID, "STOPPED")

	// 3. The dispatcher dies after RunTask, before writing the task id:
	// the API's stop finds the task by startedBy and stops it.
	orphan := launch("sleep 30", map[string]string{"DIE": "after"})
	dispatch()
	if r := get(orphan.ID); taskID(r) != "" || len(s.ecs.TasksStarted(orphan.ID)) != 1 {
		t.Fatalf("want a task whose id was never written: %+v", r)
	}
	stopAsAPI(orphan.ID)
	waitTask(orphan.ID, "STOPPED")

	// 4. A stop whose StopTask was lost: the task runs on. Two minutes
	// after the request the sweep stops it again.
	waitTask(first.ID, "RUNNING")
	h.loseStops.Store(true)
	stopAsAPI(first.ID)
	h.loseStops.Store(false)
	if st := taskStatus(first.ID); st != "RUNNING" {
		t.Fatalf("the lost stop stopped the task (%s)", st)
	}
	s.svc.NowFunc = func() time.Time { return time.Now().Add(3 * time.Minute) }
	sweep()
	waitTask(first.ID, "STOPPED")
}
