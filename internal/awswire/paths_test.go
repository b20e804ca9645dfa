package awswire_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/awswire"
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

// A run Fargate Spot interrupts twice continues on its Spot cluster's
// on-demand twin, through the deployed wiring: FLOTILLA_CLUSTERS' spot_fallback,
// the Spot capacity provider, the second cluster's queue and ECS cluster.
func TestFaultsSpotFallback(t *testing.T) {
	s := buildFaultStack(t, 0, func(o *awsfake.ECSOptions) {
		// A run's first two tasks (on the Spot cluster) are reclaimed once
		// they run; its third runs as its command says. (The fake scripts a
		// run's tasks in order when its first one starts.)
		o.Script = func(l awsfake.Launch) awsfake.Script {
			if strings.HasSuffix(l.Cluster, "flotilla-spot") {
				return awsfake.Script{Lives: []awsfake.Life{{SpotInterruption: true}, {SpotInterruption: true}, {}}}
			}
			return awsfake.Script{}
		}
	}, func(c *awswire.Config, queue func() string) {
		c.Clusters = []awswire.Cluster{
			{Name: "spot", MaxRunning: 2, QueueURL: queue(), ECSCluster: "arn:aws:ecs:us-east-1:123456789012:cluster/flotilla-spot",
				LaunchType: "FARGATE_SPOT", Subnets: []string{"subnet-0a"}, SpotFallback: "default"},
			{Name: "default", MaxRunning: 2, QueueURL: queue(), ECSCluster: "arn:aws:ecs:us-east-1:123456789012:cluster/flotilla-default",
				LaunchType: "FARGATE", Subnets: []string{"subnet-0a"}},
		}
	})
	ctx := context.Background()
	var r flotilla.Run
	cmd := "echo on demand"
	if err := s.invoke("api", func(ctx context.Context) (err error) {
		r, _, err = s.svc.Launch(ctx, "owner0", runs.LaunchRequest{Definition: s.def.ID, Cluster: "spot", Command: &cmd})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The event source on both queues, and EventBridge's delivery of the
	// task events to the events function.
	s.ecs.Subscribe(func(ev []byte) { s.deliver(ctx, ev) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur, err := s.svc.Store.GetRun(checking(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Status.Terminal() {
			r = cur
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run is still %s on %s (%s)", cur.Status, cur.Cluster, cur.StatusReason)
		}
		for _, c := range []string{"spot", "default"} {
			ds, err := s.w.Queue.Receive(checking(), c, 10, 50*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				_ = s.invoke("dispatcher", func(ctx context.Context) error { return s.svc.Dispatch(ctx, d.Message) })
				_ = s.w.Queue.Delete(checking(), c, d.Receipt)
			}
		}
	}
	s.inflght.Wait()
	if r.Status != flotilla.StatusSucceeded || r.Cluster != "default" || r.Attempt != 3 {
		t.Fatalf("run %s on %s after %d attempts (%s), want SUCCEEDED on default after 3", r.Status, r.Cluster, r.Attempt, r.StatusReason)
	}
	evs, err := s.svc.Store.ListRunEvents(checking(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(evs), "it continues on the on-demand cluster default") {
		t.Errorf("the life story does not say why it moved: %v", evs)
	}
	spotTasks, onDemand := 0, 0
	for _, req := range s.ecs.RunTaskRequests() {
		if req.StartedBy != r.ID {
			continue
		}
		switch {
		case strings.HasSuffix(req.Cluster, "flotilla-spot") && len(req.CapacityProviderStrategy) == 1 && req.CapacityProviderStrategy[0].CapacityProvider == "FARGATE_SPOT":
			spotTasks++
		case strings.HasSuffix(req.Cluster, "flotilla-default") && req.LaunchType == "FARGATE":
			onDemand++
		default:
			t.Errorf("RunTask %+v", req)
		}
	}
	if spotTasks != 2 || onDemand != 1 {
		t.Errorf("%d Spot tasks and %d on-demand ones, want 2 and 1", spotTasks, onDemand)
	}
	for _, c := range []string{"spot", "default"} {
		if u, err := s.svc.Store.ClusterUsage(checking(), c); err != nil || u.Running != 0 || u.Queued != 0 {
			t.Errorf("cluster %s usage %+v (%v), want empty", c, u, err)
		}
	}
}
