package runs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/runs"
)

// engine is a scripted Executor: it records every start and lets the test
// send the task events.
type engine struct {
	mu      sync.Mutex
	starts  map[string]int // run#attempt → Start calls that started a task
	tasks   map[string]flotilla.TaskEvent
	stops   []string
	startFn func(r flotilla.Run) error
	now     func() time.Time
}

func newEngine() *engine {
	return &engine{starts: map[string]int{}, tasks: map[string]flotilla.TaskEvent{}}
}

func key(r flotilla.Run) string { return fmt.Sprintf("%s#%d", r.ID, r.Attempt) }

func (e *engine) Start(_ context.Context, r flotilla.Run) (flotilla.Task, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.startFn != nil {
		if err := e.startFn(r); err != nil {
			return flotilla.Task{}, err
		}
	}
	k := key(r)
	if ev, ok := e.tasks[k]; ok {
		return flotilla.Task{ID: ev.TaskID, Engine: "fake"}, nil
	}
	e.starts[k]++
	id := "task-" + k
	e.tasks[k] = flotilla.TaskEvent{RunID: r.ID, Attempt: r.Attempt, TaskID: id, Cluster: r.Cluster, State: flotilla.TaskPending}
	return flotilla.Task{ID: id, Engine: "fake"}, nil
}

func (e *engine) Stop(_ context.Context, r flotilla.Run) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.tasks[key(r)]; !ok {
		return flotilla.ErrNotFound
	}
	e.stops = append(e.stops, r.ID)
	return nil
}

func (e *engine) Describe(_ context.Context, r flotilla.Run) (flotilla.TaskEvent, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ev, ok := e.tasks[key(r)]
	if !ok {
		return flotilla.TaskEvent{}, flotilla.ErrNotFound
	}
	return ev, nil
}

// event builds (and remembers, for Describe) a task event of r's attempt.
func (e *engine) event(r flotilla.Run, state flotilla.TaskState, exit *int, stopCode, reason string) flotilla.TaskEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := key(r)
	ev := e.tasks[k]
	ev.State, ev.ExitCode, ev.StopCode, ev.StoppedReason = state, exit, stopCode, reason
	ev.At = e.now()
	e.tasks[k] = ev
	return ev
}

func (e *engine) started(r flotilla.Run) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.starts[key(r)]
}

type fixture struct {
	svc   *runs.Service
	eng   *engine
	queue *embedded.Queue
	now   time.Time
	mu    sync.Mutex
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func setup(t *testing.T, cluster flotilla.Cluster, more ...flotilla.Cluster) *fixture {
	t.Helper()
	db, err := embedded.OpenDB(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{eng: newEngine(), now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	f.eng.now = f.clock
	names, clusters := []string{cluster.Name}, map[string]flotilla.Cluster{cluster.Name: cluster}
	for _, c := range more {
		names, clusters[c.Name] = append(names, c.Name), c
	}
	f.queue = embedded.NewQueue(db, names, time.Second)
	f.svc = &runs.Service{Store: embedded.NewStore(db), Queue: f.queue, Executor: f.eng,
		Clusters: clusters, DefaultCluster: cluster.Name, NowFunc: f.clock}
	def := flotilla.Definition{ID: "def_1", Alias: "job", Image: "alpine:3", Command: "true", CPU: 256, Memory: 512, Revision: 1,
		Env: map[string]string{"A": "1", "B": "2"}, Secrets: map[string]string{"TOKEN": "ssm:/job/token"}, Tags: []string{"base"}}
	def.Normalize()
	if _, err := f.svc.Store.CreateDefinition(context.Background(), def); err != nil {
		t.Fatal(err)
	}
	return f
}

// drain dispatches every queued message, as the event source would.
func (f *fixture) drain(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for range 100 {
		ds, err := f.queue.Receive(ctx, "default", 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return
		}
		for _, d := range ds {
			if err := f.svc.Dispatch(ctx, d.Message); err != nil {
				t.Fatalf("Dispatch(%s): %v", d.RunID, err)
			}
			f.queue.Delete(ctx, "default", d.Receipt)
		}
	}
	t.Fatal("the queue does not drain")
}

func (f *fixture) launch(t *testing.T, owner string, req runs.LaunchRequest) flotilla.Run {
	t.Helper()
	if req.Definition == "" {
		req.Definition = "job"
	}
	r, created, err := f.svc.Launch(context.Background(), owner, req)
	if err != nil || !created {
		t.Fatalf("Launch = created %v, %v", created, err)
	}
	return r
}

func (f *fixture) get(t *testing.T, id string) flotilla.Run {
	t.Helper()
	r, err := f.svc.Store.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) reconcile(t *testing.T, ev flotilla.TaskEvent) {
	t.Helper()
	if err := f.svc.Reconcile(context.Background(), ev); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
}

func (f *fixture) exit(t *testing.T, id string, code int) flotilla.Run {
	t.Helper()
	r := f.get(t, id)
	f.reconcile(t, f.eng.event(r, flotilla.TaskRunning, nil, "", ""))
	f.reconcile(t, f.eng.event(r, flotilla.TaskStopped, &code, flotilla.StopCodeEssentialContainerExited, "Essential container in task exited"))
	return f.get(t, id)
}

func ptr[T any](v T) *T { return &v }

func TestLaunchSnapshotsAndValidates(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 2})
	r := f.launch(t, "alice", runs.LaunchRequest{Env: map[string]string{"B": "override", "C": "3"}, Command: ptr("echo hi"), Memory: ptr(1024), Tags: []string{"extra"}})
	if r.Status != flotilla.StatusQueued || r.Owner != "alice" || r.Revision != 1 || r.Command != "echo hi" || r.Memory != 1024 || r.CPU != 256 ||
		r.Env["A"] != "1" || r.Env["B"] != "override" || r.Env["C"] != "3" || len(r.Tags) != 2 || r.EstimatedCostUSD != nil ||
		len(r.Secrets) != 1 || r.Secrets["TOKEN"] != "ssm:/job/token" {
		t.Fatalf("launched %+v", r)
	}
	bad := []struct {
		name  string
		req   runs.LaunchRequest
		field string
	}{
		{"no definition", runs.LaunchRequest{Definition: " "}, "definition"},
		{"unknown definition", runs.LaunchRequest{Definition: "nope"}, "definition"},
		{"unknown cluster", runs.LaunchRequest{Definition: "job", Cluster: "gpu"}, "cluster"},
		{"bad env name", runs.LaunchRequest{Definition: "job", Env: map[string]string{"1X": "v"}}, "env.1X"},
		{"reserved env", runs.LaunchRequest{Definition: "job", Env: map[string]string{"FLOTILLA_X": "v"}}, "env.FLOTILLA_X"},
		{"env over a secret", runs.LaunchRequest{Definition: "job", Env: map[string]string{"TOKEN": "plain"}}, "secrets.TOKEN"},
		{"cpu too small", runs.LaunchRequest{Definition: "job", CPU: ptr(1)}, "cpu"},
		{"empty command", runs.LaunchRequest{Definition: "job", Command: ptr("  ")}, "command"},
	}
	for _, b := range bad {
		_, _, err := f.svc.Launch(context.Background(), "alice", b.req)
		var v *flotilla.ValidationError
		if !errors.As(err, &v) || v.Fields[0].Field != b.field {
			t.Errorf("%s: err = %v, want a validation error on %s", b.name, err, b.field)
		}
	}
	page, _ := f.svc.Store.ListRuns(context.Background(), flotilla.RunFilter{})
	if len(page.Items) != 1 {
		t.Fatalf("bad launches wrote runs: %d runs", len(page.Items))
	}
}

func TestFargateSizes(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 2, LaunchType: flotilla.EngineFargate})
	_, _, err := f.svc.Launch(context.Background(), "alice", runs.LaunchRequest{Definition: "job", CPU: ptr(512), Memory: ptr(512)})
	var v *flotilla.ValidationError
	if !errors.As(err, &v) || v.Fields[0].Field != "memory" || v.Fields[0].Message != "on Fargate, cpu 512 allows memory 1024 to 4096 MiB in steps of 1024, not 512" {
		t.Fatalf("err = %v", err)
	}
	f.launch(t, "alice", runs.LaunchRequest{CPU: ptr(512), Memory: ptr(2048)})
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 2})
	first := f.launch(t, "alice", runs.LaunchRequest{IdempotencyKey: "k1"})
	again, created, err := f.svc.Launch(context.Background(), "alice", runs.LaunchRequest{Definition: "job", IdempotencyKey: "k1"})
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("second launch = %s created %v, %v", again.ID, created, err)
	}
	f.drain(t)
	if n := f.eng.started(first); n != 1 {
		t.Fatalf("started %d times", n)
	}
}

func TestCapacityAndHandOff(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 2})
	var ids []string
	for range 5 {
		ids = append(ids, f.launch(t, "alice", runs.LaunchRequest{}).ID)
		// Launched one after the other: runs queued in the same instant
		// have no order between them (their ids' random parts decide), and
		// this test is about the order.
		f.advance(time.Millisecond)
	}
	f.drain(t)
	want := []flotilla.RunStatus{flotilla.StatusPending, flotilla.StatusPending, flotilla.StatusQueued, flotilla.StatusQueued, flotilla.StatusQueued}
	for i, id := range ids {
		r := f.get(t, id)
		if r.Status != want[i] {
			t.Fatalf("run %d is %s, want %s", i, r.Status, want[i])
		}
		if r.Status == flotilla.StatusQueued && (r.WaitReason != flotilla.WaitNoFreeSlot || r.StatusReason != "waiting for a free slot: 2 of 2 running on cluster default") {
			t.Fatalf("waiting run %d: %s %q", i, r.WaitReason, r.StatusReason)
		}
	}
	// Each end hands its slot to the oldest waiting run.
	for i := range ids {
		done := f.exit(t, ids[i], 0)
		if done.Status != flotilla.StatusSucceeded || done.ReasonCode != flotilla.ReasonSucceeded || done.CostUSD == nil {
			t.Fatalf("run %d ended as %+v", i, done)
		}
		f.drain(t)
		if i+2 < len(ids) {
			if r := f.get(t, ids[i+2]); r.Status != flotilla.StatusPending {
				t.Fatalf("after run %d ended, run %d is %s", i, i+2, r.Status)
			}
		}
	}
	u, _ := f.svc.Store.ClusterUsage(context.Background(), "default")
	if u.Running != 0 || u.Queued != 0 {
		t.Fatalf("usage after all ended: %+v", u)
	}
	for _, id := range ids {
		if n := f.eng.started(f.get(t, id)); n != 1 {
			t.Fatalf("run %s started %d times", id, n)
		}
	}
	// With history, a launch carries an estimate.
	if r := f.launch(t, "alice", runs.LaunchRequest{}); r.EstimatedCostUSD == nil {
		t.Fatalf("no estimate with history")
	}
}

func TestDuplicateAndReorderedEvents(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 1})
	r := f.launch(t, "alice", runs.LaunchRequest{})
	f.drain(t)
	r = f.get(t, r.ID)
	code := 3
	stopped := f.eng.event(r, flotilla.TaskStopped, &code, flotilla.StopCodeEssentialContainerExited, "")
	running := stopped
	running.State, running.ExitCode, running.StopCode = flotilla.TaskRunning, nil, ""
	// The end arrives first, then the running event, then duplicates.
	for _, ev := range []flotilla.TaskEvent{stopped, running, stopped, running} {
		f.reconcile(t, ev)
	}
	got := f.get(t, r.ID)
	if got.Status != flotilla.StatusFailed || *got.ExitCode != 3 || got.StatusReason != "exit code 3" {
		t.Fatalf("run = %s %q", got.Status, got.StatusReason)
	}
	u, _ := f.svc.Store.ClusterUsage(context.Background(), "default")
	if u.Running != 0 {
		t.Fatalf("slot released %d times too few", u.Running)
	}
	evs, _ := f.svc.Store.ListRunEvents(context.Background(), r.ID)
	if len(evs) != 3 { // queued, pending, failed
		t.Fatalf("life story has %d entries: %+v", len(evs), evs)
	}
	// An event of another task (an older attempt) changes nothing.
	other := stopped
	other.TaskID, other.Attempt = "task-old", 0
	f.reconcile(t, other)
}

func TestStop(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 1})
	running := f.launch(t, "alice", runs.LaunchRequest{})
	queued := f.launch(t, "alice", runs.LaunchRequest{})
	f.drain(t)
	// A queued run stops at once.
	got, err := f.svc.Stop(context.Background(), queued.ID, "bob")
	if err != nil || got.Status != flotilla.StatusStopped || got.ReasonCode != flotilla.ReasonStopped || got.StatusReason != "stopped by bob before it started" {
		t.Fatalf("stop queued = %+v, %v", got, err)
	}
	// A started run is asked to stop and ends STOPPED when its task does.
	r := f.get(t, running.ID)
	f.reconcile(t, f.eng.event(r, flotilla.TaskRunning, nil, "", ""))
	got, err = f.svc.Stop(context.Background(), running.ID, "bob")
	if err != nil || got.Status != flotilla.StatusRunning || got.StopRequest == nil || len(f.eng.stops) != 1 {
		t.Fatalf("stop running = %+v, %v (stops %v)", got, err, f.eng.stops)
	}
	code := 143
	f.reconcile(t, f.eng.event(got, flotilla.TaskStopped, &code, flotilla.StopCodeUserInitiated, "stopped"))
	got = f.get(t, running.ID)
	if got.Status != flotilla.StatusStopped || got.StatusReason != "stopped by bob" || got.ReasonCode != flotilla.ReasonStopped {
		t.Fatalf("after the task ended: %s %q", got.Status, got.StatusReason)
	}
	if _, err := f.svc.Stop(context.Background(), running.ID, "bob"); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("stop of a finished run = %v, want ErrConflict", err)
	}
}

func TestInfrastructureRetry(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 1})
	r := f.launch(t, "alice", runs.LaunchRequest{})
	f.drain(t)
	for attempt := 1; attempt <= 3; attempt++ {
		cur := f.get(t, r.ID)
		if cur.Attempt != attempt || cur.Status != flotilla.StatusPending {
			t.Fatalf("attempt %d: %s attempt %d", attempt, cur.Status, cur.Attempt)
		}
		f.reconcile(t, f.eng.event(cur, flotilla.TaskStopped, nil, flotilla.StopCodeTaskFailedToStart, "ResourceInitializationError: unable to pull secrets"))
		f.drain(t)
	}
	got := f.get(t, r.ID)
	if got.Status != flotilla.StatusFailed || got.ReasonCode != flotilla.ReasonRetriesExhausted || len(got.Attempts) != 3 {
		t.Fatalf("after 3 failed starts: %s %s %q (%d attempts)", got.Status, got.ReasonCode, got.StatusReason, len(got.Attempts))
	}
}

func TestEngineCapacityAndInvalid(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 2})
	f.eng.startFn = func(flotilla.Run) error {
		return &flotilla.CapacityError{Wait: flotilla.WaitEngineCapacity, Detail: "RESOURCE:MEMORY"}
	}
	r := f.launch(t, "alice", runs.LaunchRequest{})
	f.drain(t)
	got := f.get(t, r.ID)
	if got.Status != flotilla.StatusQueued || got.WaitReason != flotilla.WaitEngineCapacity || got.StatusReason != "waiting for engine capacity: RESOURCE:MEMORY" {
		t.Fatalf("no room on the engine: %s %s %q", got.Status, got.WaitReason, got.StatusReason)
	}
	if u, _ := f.svc.Store.ClusterUsage(context.Background(), "default"); u.Running != 0 {
		t.Fatalf("slot kept: %+v", u)
	}
	// The sweep admits it again once the engine has room.
	f.eng.startFn = nil
	if err := f.svc.Sweep(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if got := f.get(t, r.ID); got.Status != flotilla.StatusPending || f.eng.started(got) != 1 {
		t.Fatalf("after the sweep: %s", got.Status)
	}
	// A run the engine can never start fails with the reason.
	f.eng.startFn = func(flotilla.Run) error { return fmt.Errorf("task definition rejected: %w", flotilla.ErrInvalid) }
	bad := f.launch(t, "alice", runs.LaunchRequest{})
	f.drain(t)
	if got := f.get(t, bad.ID); got.Status != flotilla.StatusFailed || got.ReasonCode != flotilla.ReasonCouldNotStart {
		t.Fatalf("invalid start: %s %s", got.Status, got.ReasonCode)
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 1, QueueTimeout: time.Hour})
	r := f.launch(t, "alice", runs.LaunchRequest{TimeoutSeconds: ptr(60)})
	waiting := f.launch(t, "alice", runs.LaunchRequest{})
	f.drain(t)
	cur := f.get(t, r.ID)
	f.reconcile(t, f.eng.event(cur, flotilla.TaskRunning, nil, "", ""))
	f.advance(61 * time.Second)
	if err := f.svc.Sweep(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	cur = f.get(t, r.ID)
	if cur.StopRequest == nil || cur.StopRequest.Code != flotilla.ReasonRunTimeout || len(f.eng.stops) != 1 {
		t.Fatalf("after its timeout: %+v", cur)
	}
	f.reconcile(t, f.eng.event(cur, flotilla.TaskStopped, ptr(143), flotilla.StopCodeUserInitiated, ""))
	cur = f.get(t, r.ID)
	if cur.Status != flotilla.StatusFailed || cur.ReasonCode != flotilla.ReasonRunTimeout || cur.StatusReason != "timed out after 1m0s" {
		t.Fatalf("timed out run: %s %s %q", cur.Status, cur.ReasonCode, cur.StatusReason)
	}
	// The waiting run got the slot; a new one waits past the queue timeout.
	f.drain(t)
	if got := f.get(t, waiting.ID); got.Status != flotilla.StatusPending {
		t.Fatalf("waiting run: %s", got.Status)
	}
	late := f.launch(t, "alice", runs.LaunchRequest{})
	f.drain(t)
	f.advance(61 * time.Minute)
	if err := f.svc.Sweep(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if got := f.get(t, late.ID); got.Status != flotilla.StatusFailed || got.ReasonCode != flotilla.ReasonQueueTimeout {
		t.Fatalf("queue timeout: %s %s %q", got.Status, got.ReasonCode, got.StatusReason)
	}
}

func TestSweepRestartsAnInterruptedStart(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 1})
	r := f.launch(t, "alice", runs.LaunchRequest{})
	// The dispatcher admits, then "crashes" before calling the engine.
	f.eng.startFn = func(flotilla.Run) error { return errors.New("crash") }
	f.drain(t) // the transient error gives the slot back and waits
	f.eng.startFn = nil
	if got := f.get(t, r.ID); got.Status != flotilla.StatusQueued {
		t.Fatalf("after a failed start: %s", got.Status)
	}
	// Admit by hand and leave it PENDING with no task: a crash between the two.
	if _, err := f.svc.Store.TransitionRun(context.Background(), flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusQueued},
		To: flotilla.StatusPending, At: f.clock(), Source: flotilla.SourceDispatcher, MaxRunning: 1}); err != nil {
		t.Fatal(err)
	}
	f.advance(2 * time.Minute)
	for range 2 { // twice: idempotent
		if err := f.svc.Sweep(context.Background(), false); err != nil {
			t.Fatal(err)
		}
	}
	got := f.get(t, r.ID)
	if got.Status != flotilla.StatusPending || got.Current().TaskID == "" || f.eng.started(got) != 1 {
		t.Fatalf("after the sweep: %s task %q started %d", got.Status, got.Current().TaskID, f.eng.started(got))
	}
}

func TestFairTurns(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 2})
	var alice []string
	for range 20 {
		alice = append(alice, f.launch(t, "alice", runs.LaunchRequest{}).ID)
	}
	f.drain(t)
	bob := f.launch(t, "bob", runs.LaunchRequest{})
	f.drain(t)
	if got := f.get(t, bob.ID); got.Status != flotilla.StatusQueued {
		t.Fatalf("bob: %s", got.Status)
	}
	// The next free slot goes to bob, not alice's third run.
	f.exit(t, alice[0], 0)
	f.drain(t)
	if got := f.get(t, bob.ID); got.Status != flotilla.StatusPending {
		t.Fatalf("bob after one end: %s %q", got.Status, got.StatusReason)
	}
	if got := f.get(t, alice[2]); got.Status != flotilla.StatusQueued {
		t.Fatalf("alice's third run: %s", got.Status)
	}
}

func TestOwnerCap(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 4, MaxRunningPerOwner: 1})
	a1 := f.launch(t, "alice", runs.LaunchRequest{})
	a2 := f.launch(t, "alice", runs.LaunchRequest{})
	f.drain(t)
	if got := f.get(t, a2.ID); got.Status != flotilla.StatusQueued || got.WaitReason != flotilla.WaitOwnerTurn {
		t.Fatalf("alice's second run: %s %s %q", got.Status, got.WaitReason, got.StatusReason)
	}
	f.exit(t, a1.ID, 0)
	f.drain(t)
	if got := f.get(t, a2.ID); got.Status != flotilla.StatusPending {
		t.Fatalf("after the first ended: %s", got.Status)
	}
}

// A run is priced at the rates of its architecture and of the capacity its
// task reported (Fargate Spot here), and the attempt records that capacity.
func TestCostFollowsArchitectureAndCapacity(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 2})
	r := f.launch(t, "alice", runs.LaunchRequest{})
	if r.Architecture != flotilla.ArchX86 {
		t.Fatalf("run architecture %q, want the definition's x86_64", r.Architecture)
	}
	f.drain(t)
	r = f.get(t, r.ID)
	running := f.eng.event(r, flotilla.TaskRunning, nil, "", "")
	running.Capacity = "FARGATE_SPOT"
	f.reconcile(t, running)
	f.now = f.now.Add(10 * time.Minute)
	code := 0
	stopped := f.eng.event(r, flotilla.TaskStopped, &code, flotilla.StopCodeEssentialContainerExited, "Essential container in task exited")
	stopped.Capacity = "FARGATE_SPOT"
	f.reconcile(t, stopped)
	done := f.get(t, r.ID)
	if done.CostUSD == nil || done.StartedAt == nil {
		t.Fatalf("ended without a cost: %+v", done)
	}
	want := flotilla.FargateRates(flotilla.ArchX86, true).Cost(done.CPU, done.Memory, done.FinishedAt.Sub(*done.StartedAt))
	if *done.CostUSD != want || done.Current().Capacity != "FARGATE_SPOT" {
		t.Errorf("cost %v on %q, want %v at x86 Fargate Spot rates", *done.CostUSD, done.Current().Capacity, want)
	}
}

// A run Fargate Spot interrupts twice continues on its cluster's on-demand
// twin: the second retry is queued there, the Spot cluster's slot is given
// back, and the life story says why.
func TestSpotFallback(t *testing.T) {
	t.Parallel()
	spot := flotilla.Cluster{Name: "default", MaxRunning: 2, LaunchType: flotilla.EngineFargate, SpotFallback: "ondemand"}
	f := setup(t, spot, flotilla.Cluster{Name: "ondemand", MaxRunning: 2, LaunchType: flotilla.EngineFargate})
	ctx := context.Background()
	drainAll := func() {
		for _, c := range []string{"default", "ondemand"} {
			ds, err := f.queue.Receive(ctx, c, 10, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if err := f.svc.Dispatch(ctx, d.Message); err != nil {
					t.Fatalf("Dispatch(%s): %v", d.RunID, err)
				}
				f.queue.Delete(ctx, c, d.Receipt)
			}
		}
	}
	interrupt := func(r flotilla.Run) {
		f.reconcile(t, f.eng.event(r, flotilla.TaskRunning, nil, "", ""))
		f.reconcile(t, f.eng.event(r, flotilla.TaskStopped, ptr(143), flotilla.StopCodeSpotInterruption, "Your Spot Task was interrupted."))
	}
	r := f.launch(t, "alice", runs.LaunchRequest{})
	drainAll()
	interrupt(f.get(t, r.ID))
	if got := f.get(t, r.ID); got.Cluster != "default" || got.Attempt != 2 {
		t.Fatalf("after one interruption: cluster %s attempt %d, want default, 2", got.Cluster, got.Attempt)
	}
	drainAll()
	interrupt(f.get(t, r.ID))
	got := f.get(t, r.ID)
	if got.Cluster != "ondemand" || got.Attempt != 3 || got.Status != flotilla.StatusQueued ||
		!strings.Contains(got.StatusReason, "interrupted by Spot 2 times, it continues on the on-demand cluster ondemand") {
		t.Fatalf("after two interruptions: %s on %s attempt %d (%s), want QUEUED on ondemand, attempt 3", got.Status, got.Cluster, got.Attempt, got.StatusReason)
	}
	if u, _ := f.svc.Store.ClusterUsage(ctx, "default"); u.Running != 0 || u.Queued != 0 {
		t.Errorf("the Spot cluster still holds the run: %+v", u)
	}
	drainAll()
	if cur := f.get(t, r.ID); cur.Status != flotilla.StatusPending || cur.Cluster != "ondemand" {
		t.Fatalf("not admitted on the on-demand cluster: %s on %s", cur.Status, cur.Cluster)
	}
	if end := f.exit(t, r.ID, 0); end.Status != flotilla.StatusSucceeded {
		t.Errorf("ended %s (%s)", end.Status, end.StatusReason)
	}
	// A cluster without a twin keeps retrying in place.
	f.svc.Clusters["default"] = flotilla.Cluster{Name: "default", MaxRunning: 2, LaunchType: flotilla.EngineFargate}
	other := f.launch(t, "bob", runs.LaunchRequest{})
	for range 2 {
		drainAll()
		interrupt(f.get(t, other.ID))
	}
	if got := f.get(t, other.ID); got.Cluster != "default" {
		t.Errorf("without a twin the run moved to %s", got.Cluster)
	}
}

// A run launched from another (its parent) is found by the parent's tag
// and stopped with it, and so are its own children; an unknown parent is
// refused at launch.
func TestCascadeStop(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 1})
	ctx := context.Background()
	parent := f.launch(t, "alice", runs.LaunchRequest{})
	f.drain(t)
	child := f.launch(t, "bob", runs.LaunchRequest{Parent: parent.ID})
	grandchild := f.launch(t, "carol", runs.LaunchRequest{Parent: child.ID})
	other := f.launch(t, "dave", runs.LaunchRequest{})
	if child.Parent != parent.ID || !slices.Contains(child.Tags, "parent:"+parent.ID) {
		t.Fatalf("child parent %q tags %v", child.Parent, child.Tags)
	}
	if _, _, err := f.svc.Launch(ctx, "bob", runs.LaunchRequest{Definition: "job", Parent: "run_01NOSUCHRUN00000000000000"}); !errors.Is(err, flotilla.ErrInvalid) || !strings.Contains(err.Error(), "parent") {
		t.Errorf("unknown parent: %v", err)
	}
	if _, err := f.svc.Stop(ctx, parent.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{child.ID, grandchild.ID} {
		r := f.get(t, id)
		if r.Status != flotilla.StatusStopped || !strings.Contains(r.StatusReason, "with its parent") {
			t.Errorf("descendant %s: %s (%s), want STOPPED with its parent", id, r.Status, r.StatusReason)
		}
	}
	if r := f.get(t, other.ID); r.Status != flotilla.StatusQueued {
		t.Errorf("an unrelated run is %s", r.Status)
	}
	if r := f.get(t, parent.ID); r.StopRequest == nil {
		t.Errorf("the parent was not asked to stop: %+v", r)
	}
	// A parent being stopped, or ended, takes no new children.
	if _, _, err := f.svc.Launch(ctx, "bob", runs.LaunchRequest{Definition: "job", Parent: parent.ID}); !errors.Is(err, flotilla.ErrInvalid) || !strings.Contains(err.Error(), "being stopped") {
		t.Errorf("a child of a stopping parent: %v", err)
	}
	// A run that ends stopped by its engine (outside Flotilla) takes its
	// children along too.
	f2 := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 1})
	p2 := f2.launch(t, "alice", runs.LaunchRequest{})
	f2.drain(t)
	c2 := f2.launch(t, "bob", runs.LaunchRequest{Parent: p2.ID})
	cur := f2.get(t, p2.ID)
	f2.reconcile(t, f2.eng.event(cur, flotilla.TaskRunning, nil, "", ""))
	f2.reconcile(t, f2.eng.event(cur, flotilla.TaskStopped, ptr(143), flotilla.StopCodeUserInitiated, "Task stopped by user"))
	if r := f2.get(t, p2.ID); r.Status != flotilla.StatusStopped {
		t.Fatalf("parent stopped outside Flotilla: %s", r.Status)
	}
	if r := f2.get(t, c2.ID); r.Status != flotilla.StatusStopped {
		t.Errorf("its child is %s, want STOPPED with it", r.Status)
	}
	if _, _, err := f2.svc.Launch(ctx, "bob", runs.LaunchRequest{Definition: "job", Parent: p2.ID}); !errors.Is(err, flotilla.ErrInvalid) || !strings.Contains(err.Error(), "has ended") {
		t.Errorf("a child of an ended parent: %v", err)
	}
}
