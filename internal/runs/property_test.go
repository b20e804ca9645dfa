package runs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/runs"
)

// TestRunStateMachineProperty drives the use cases on the real embedded
// store and queue through random interleavings of launches by several
// owners, stops, capacity changes, queue deliveries (in order, duplicated,
// dropped) and engine events (delivered late, duplicated, reordered,
// dropped and recovered by the sweep's Describe), and checks after every
// step that each run is where a small reference model says, that the slot
// counters match the model, and that no attempt is started twice.
func TestRunStateMachineProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		m := newMachine(rt)
		defer m.close()
		rt.Repeat(map[string]func(*rapid.T){
			"launch":   m.launch,
			"stop":     m.stop,
			"capacity": m.capacity,
			"deliver":  m.deliverMessage,
			"advance":  m.advanceTask,
			"event":    m.deliverEvent,
			"sweep":    m.sweep,
			"":         m.check,
		})
		m.settle(rt)
	})
}

// modelRun is the reference model of one run.
type modelRun struct {
	id, owner     string
	status        flotilla.RunStatus
	attempt       int
	stopRequested bool
	exitCode      *int
	// admitted lists the attempts that took a slot (each must have been
	// started exactly once).
	admitted []int
}

// truth is what the scripted engine knows of one task: its latest state.
type truth struct {
	ev flotilla.TaskEvent
}

// propEngine is a scripted Executor whose tasks move only when the test
// says so; every state change is also queued as an event in the inbox,
// which the test delivers in any order, twice, or never.
type propEngine struct {
	starts   map[string]int // run#attempt → successful Start calls
	tasks    map[string]*truth
	inbox    []flotilla.TaskEvent
	failNext int // the next Start calls fail with no room on the engine
	version  int64
}

func (e *propEngine) Start(_ context.Context, r flotilla.Run) (flotilla.Task, error) {
	if e.failNext > 0 {
		e.failNext--
		return flotilla.Task{}, &flotilla.CapacityError{Wait: flotilla.WaitEngineCapacity, Detail: "RESOURCE:CPU"}
	}
	k := key(r)
	e.starts[k]++
	id := "task-" + k
	e.version++
	ev := flotilla.TaskEvent{RunID: r.ID, Attempt: r.Attempt, TaskID: id, Cluster: r.Cluster, State: flotilla.TaskPending, Version: e.version}
	e.tasks[k] = &truth{ev: ev}
	e.inbox = append(e.inbox, ev)
	return flotilla.Task{ID: id, Engine: "fake"}, nil
}

func (e *propEngine) Stop(_ context.Context, r flotilla.Run) error {
	tr, ok := e.tasks[key(r)]
	if !ok {
		return flotilla.ErrNotFound
	}
	if tr.ev.State != flotilla.TaskStopped {
		e.move(tr, flotilla.TaskStopped, ptr(143), flotilla.StopCodeUserInitiated)
	}
	return nil
}

func (e *propEngine) Describe(_ context.Context, r flotilla.Run) (flotilla.TaskEvent, error) {
	tr, ok := e.tasks[key(r)]
	if !ok {
		return flotilla.TaskEvent{}, flotilla.ErrNotFound
	}
	return tr.ev, nil
}

func (e *propEngine) move(tr *truth, state flotilla.TaskState, exit *int, stopCode string) {
	e.version++
	tr.ev.State, tr.ev.ExitCode, tr.ev.StopCode, tr.ev.Version = state, exit, stopCode, e.version
	if stopCode == flotilla.StopCodeTaskFailedToStart {
		tr.ev.StoppedReason = "ResourceInitializationError: unable to pull secrets"
	}
	e.inbox = append(e.inbox, tr.ev)
}

type machine struct {
	ctx      context.Context
	dir      string
	db       *embedded.DB
	svc      *runs.Service
	queue    *embedded.Queue
	eng      *propEngine
	now      time.Time
	max      int
	perOwner int // 0: no cap
	owners   []string
	runs     map[string]*modelRun
	order    []string
	maxAtt   int
}

func newMachine(rt *rapid.T) *machine {
	dir, err := os.MkdirTemp(tempRoot(), "flotilla-prop")
	if err != nil {
		rt.Fatal(err)
	}
	ctx := context.Background()
	db, err := embedded.OpenDB(ctx, dir)
	if err != nil {
		os.RemoveAll(dir)
		rt.Fatal(err)
	}
	m := &machine{ctx: ctx, dir: dir, db: db, now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		eng:    &propEngine{starts: map[string]int{}, tasks: map[string]*truth{}},
		owners: []string{"alice", "bob", "carol"}, runs: map[string]*modelRun{},
		max:    rapid.IntRange(1, 4).Draw(rt, "max_running"),
		maxAtt: rapid.IntRange(1, 3).Draw(rt, "max_attempts")}
	m.queue = embedded.NewQueue(db, []string{"default"}, time.Minute)
	m.svc = &runs.Service{Store: embedded.NewStore(db), Queue: m.queue, Executor: m.eng,
		Clusters: map[string]flotilla.Cluster{"default": {Name: "default", MaxRunning: m.max}}, DefaultCluster: "default",
		NowFunc: func() time.Time { return m.now }}
	def := flotilla.Definition{ID: "def_1", Alias: "job", Image: "alpine:3", Command: "true", CPU: 256, Memory: 512, Revision: 1,
		Retry: flotilla.RetryPolicy{MaxAttempts: m.maxAtt}}
	def.Normalize()
	if _, err := m.svc.Store.CreateDefinition(ctx, def); err != nil {
		m.close()
		rt.Fatal(err)
	}
	return m
}

func (m *machine) close() {
	m.db.Close()
	os.RemoveAll(m.dir)
}

// tick moves the clock a little, so runs queue in a known order; never
// near the sweep's stuck or timeout limits.
func (m *machine) tick() { m.now = m.now.Add(time.Millisecond) }

func (m *machine) launch(rt *rapid.T) {
	m.tick()
	owner := rapid.SampledFrom(m.owners).Draw(rt, "owner")
	r, created, err := m.svc.Launch(m.ctx, owner, runs.LaunchRequest{Definition: "job"})
	if err != nil || !created {
		rt.Fatalf("launch: created %v, %v", created, err)
	}
	m.runs[r.ID] = &modelRun{id: r.ID, owner: owner, status: flotilla.StatusQueued, attempt: 1}
	m.order = append(m.order, r.ID)
	m.observe(rt, "launch")
}

func (m *machine) pick(rt *rapid.T, label string, ok func(*modelRun) bool) *modelRun {
	var ids []string
	for _, id := range m.order {
		if ok == nil || ok(m.runs[id]) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		rt.Skip("no run to " + label)
	}
	return m.runs[rapid.SampledFrom(ids).Draw(rt, label)]
}

func (m *machine) stop(rt *rapid.T) {
	m.tick()
	mr := m.pick(rt, "stop", nil)
	_, err := m.svc.Stop(m.ctx, mr.id, "tester")
	switch {
	case mr.status.Terminal():
		if !errors.Is(err, flotilla.ErrConflict) {
			rt.Fatalf("stop of ended run %s (%s) = %v, want ErrConflict", mr.id, mr.status, err)
		}
	case err != nil:
		rt.Fatalf("stop %s: %v", mr.id, err)
	case mr.status == flotilla.StatusQueued:
		mr.status = flotilla.StatusStopped
	default:
		mr.stopRequested = true
	}
	m.observe(rt, "stop")
}

func (m *machine) capacity(rt *rapid.T) {
	m.max = rapid.IntRange(1, 4).Draw(rt, "new_max_running")
	m.perOwner = rapid.IntRange(0, 2).Draw(rt, "new_max_running_per_owner")
	m.svc.Clusters = map[string]flotilla.Cluster{"default": {Name: "default", MaxRunning: m.max, MaxRunningPerOwner: m.perOwner}}
}

// deliverMessage receives one queue message and dispatches it once, twice
// (a redelivery), or drops it (a lost message: the sweep must recover).
func (m *machine) deliverMessage(rt *rapid.T) {
	m.tick()
	ds, err := m.queue.Receive(m.ctx, "default", 1, 0)
	if err != nil {
		rt.Fatal(err)
	}
	if len(ds) == 0 {
		rt.Skip("queue empty")
	}
	m.eng.failNext = rapid.SampledFrom([]int{0, 0, 0, 1}).Draw(rt, "engine_full")
	times := rapid.SampledFrom([]int{1, 1, 2, 0}).Draw(rt, "dispatch_times")
	for range times {
		if err := m.svc.Dispatch(m.ctx, ds[0].Message); err != nil {
			rt.Fatalf("dispatch %s: %v", ds[0].RunID, err)
		}
	}
	m.eng.failNext = 0
	if err := m.queue.Delete(m.ctx, "default", ds[0].Receipt); err != nil {
		rt.Fatal(err)
	}
	m.observe(rt, "dispatch")
}

// advanceTask moves one live task on the engine: it starts running, fails
// to start, or exits with a code. The news goes to the inbox.
func (m *machine) advanceTask(rt *rapid.T) {
	var keys []string
	for k, tr := range m.eng.tasks {
		if tr.ev.State != flotilla.TaskStopped {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		rt.Skip("no live task")
	}
	sort.Strings(keys)
	tr := m.eng.tasks[rapid.SampledFrom(keys).Draw(rt, "task")]
	if tr.ev.State == flotilla.TaskPending && rapid.Bool().Draw(rt, "runs") {
		m.eng.move(tr, flotilla.TaskRunning, nil, "")
		return
	}
	if tr.ev.State == flotilla.TaskPending && rapid.Bool().Draw(rt, "fails_to_start") {
		m.eng.move(tr, flotilla.TaskStopped, nil, flotilla.StopCodeTaskFailedToStart)
		return
	}
	code := rapid.SampledFrom([]int{0, 0, 1, 3}).Draw(rt, "exit_code")
	m.eng.move(tr, flotilla.TaskStopped, &code, flotilla.StopCodeEssentialContainerExited)
}

// deliverEvent hands one inbox event (any of them: reordering) to
// Reconcile; it may stay in the inbox (a duplicate later) or be dropped
// unseen (the sweep must recover).
func (m *machine) deliverEvent(rt *rapid.T) {
	if len(m.eng.inbox) == 0 {
		rt.Skip("no event")
	}
	m.tick()
	i := rapid.IntRange(0, len(m.eng.inbox)-1).Draw(rt, "event")
	ev := m.eng.inbox[i]
	fate := rapid.SampledFrom([]string{"deliver", "deliver", "duplicate", "drop"}).Draw(rt, "fate")
	if fate != "duplicate" {
		m.eng.inbox = slices.Delete(m.eng.inbox, i, i+1)
	}
	if fate == "drop" {
		return
	}
	if err := m.svc.Reconcile(m.ctx, ev); err != nil {
		rt.Fatalf("reconcile %+v: %v", ev, err)
	}
	m.apply(ev)
	m.observe(rt, "event "+string(ev.State))
}

// sweep runs the safety net as a restarted server does (every active run
// is described, however young).
func (m *machine) sweep(rt *rapid.T) {
	m.tick()
	if err := m.svc.Sweep(m.ctx, true); err != nil {
		rt.Fatalf("sweep: %v", err)
	}
	for _, id := range m.order {
		mr := m.runs[id]
		if !mr.status.HoldsSlot() {
			continue
		}
		if tr, ok := m.eng.tasks[fmt.Sprintf("%s#%d", mr.id, mr.attempt)]; ok {
			m.apply(tr.ev)
		}
	}
	m.observe(rt, "sweep")
}

// apply is the reference model of Reconcile: only forward, only for the
// current attempt, a slot-holding run ends once.
func (m *machine) apply(ev flotilla.TaskEvent) {
	mr := m.runs[ev.RunID]
	if mr == nil || mr.status.Terminal() || ev.Attempt != mr.attempt {
		return
	}
	switch ev.State {
	case flotilla.TaskRunning:
		if mr.status == flotilla.StatusPending {
			mr.status = flotilla.StatusRunning
		}
	case flotilla.TaskStopped:
		if !mr.status.HoldsSlot() {
			return
		}
		// A job that ended on its own before the stop reached it keeps its
		// own end.
		ownEnd := ev.StopCode == flotilla.StopCodeEssentialContainerExited && ev.ExitCode != nil
		switch {
		case mr.stopRequested && !ownEnd:
			mr.status = flotilla.StatusStopped
		case ev.ExitCode == nil && mr.attempt < m.maxAtt:
			mr.status, mr.attempt = flotilla.StatusQueued, mr.attempt+1
		case ev.ExitCode == nil:
			mr.status = flotilla.StatusFailed
		case *ev.ExitCode == 0:
			mr.status, mr.exitCode = flotilla.StatusSucceeded, ev.ExitCode
		default:
			mr.status, mr.exitCode = flotilla.StatusFailed, ev.ExitCode
		}
	}
}

// observe compares the store with the model after a step. The model does
// not choose which waiting run is admitted (turns between owners do):
// it accepts an admission the store made when the run was waiting and a
// slot was free, and checks everything else exactly.
func (m *machine) observe(rt *rapid.T, step string) {
	holding := 0
	ownerHolding := map[string]int{}
	for _, mr := range m.runs {
		if mr.status.HoldsSlot() {
			holding++
			ownerHolding[mr.owner]++
		}
	}
	admissions := 0
	ownerAdmissions := map[string]int{}
	for _, id := range m.order {
		mr := m.runs[id]
		r, err := m.svc.Store.GetRun(m.ctx, id)
		if err != nil {
			rt.Fatalf("%s: run %s lost: %v", step, id, err)
		}
		if mr.status == flotilla.StatusQueued && r.Status == flotilla.StatusPending && r.Attempt == mr.attempt {
			mr.status = flotilla.StatusPending
			mr.admitted = append(mr.admitted, mr.attempt)
			admissions++
			ownerAdmissions[mr.owner]++
		}
		if r.Status != mr.status || r.Attempt != mr.attempt {
			rt.Fatalf("%s: run %s (%s) is %s attempt %d (%q), the model says %s attempt %d",
				step, id, mr.owner, r.Status, r.Attempt, r.StatusReason, mr.status, mr.attempt)
		}
		if r.Status.Terminal() && mr.exitCode != nil && (r.ExitCode == nil || *r.ExitCode != *mr.exitCode) {
			rt.Fatalf("%s: run %s exit code %v, want %d", step, id, r.ExitCode, *mr.exitCode)
		}
	}
	if admissions > 0 && holding+admissions > m.max {
		rt.Fatalf("%s: %d runs admitted with %d of %d slots held", step, admissions, holding, m.max)
	}
	for o, n := range ownerAdmissions {
		if m.perOwner > 0 && ownerHolding[o]+n > m.perOwner {
			rt.Fatalf("%s: %d runs of %s admitted while it held %d of its %d", step, n, o, ownerHolding[o], m.perOwner)
		}
	}
	for k, n := range m.eng.starts {
		if n > 1 {
			rt.Fatalf("%s: %s started %d times", step, k, n)
		}
	}
	m.checkUsage(rt, step)
}

func (m *machine) check(rt *rapid.T) { m.observe(rt, "check") }

// checkUsage compares the store's counters with the model's.
func (m *machine) checkUsage(rt *rapid.T, step string) {
	u, err := m.svc.Store.ClusterUsage(m.ctx, "default")
	if err != nil {
		rt.Fatal(err)
	}
	queued, running := 0, 0
	perOwner := map[string]int{}
	for _, mr := range m.runs {
		switch {
		case mr.status == flotilla.StatusQueued:
			queued++
		case mr.status.HoldsSlot():
			running++
			perOwner[mr.owner]++
		}
	}
	if u.Queued != queued || u.Running != running {
		rt.Fatalf("%s: usage queued %d running %d, the model says %d and %d", step, u.Queued, u.Running, queued, running)
	}
	for _, o := range m.owners {
		if u.RunningOwner[o] != perOwner[o] {
			rt.Fatalf("%s: %s holds %d slots, the model says %d", step, o, u.RunningOwner[o], perOwner[o])
		}
	}
}

// settle lets the system finish: every live task exits 0, every event and
// message is delivered, the sweep runs; then every run has ended as the
// model says, each admitted attempt started exactly once, and the
// counters are back to zero.
func (m *machine) settle(rt *rapid.T) {
	for round := 0; ; round++ {
		active := 0
		for _, mr := range m.runs {
			if !mr.status.Terminal() {
				active++
			}
		}
		if active == 0 {
			break
		}
		if round > 200 {
			rt.Fatalf("%d runs never ended", active)
		}
		for _, tr := range m.eng.tasks {
			if tr.ev.State != flotilla.TaskStopped {
				m.eng.move(tr, flotilla.TaskStopped, ptr(0), flotilla.StopCodeEssentialContainerExited)
			}
		}
		for len(m.eng.inbox) > 0 {
			ev := m.eng.inbox[0]
			m.eng.inbox = m.eng.inbox[1:]
			if err := m.svc.Reconcile(m.ctx, ev); err != nil {
				rt.Fatalf("settle: reconcile: %v", err)
			}
			m.apply(ev)
			m.observe(rt, "settle event")
		}
		for {
			ds, err := m.queue.Receive(m.ctx, "default", 10, 0)
			if err != nil {
				rt.Fatal(err)
			}
			if len(ds) == 0 {
				break
			}
			for _, d := range ds {
				if err := m.svc.Dispatch(m.ctx, d.Message); err != nil {
					rt.Fatalf("settle: dispatch: %v", err)
				}
				m.queue.Delete(m.ctx, "default", d.Receipt)
				m.observe(rt, "settle dispatch")
			}
		}
		m.sweep(rt)
	}
	u, err := m.svc.Store.ClusterUsage(m.ctx, "default")
	if err != nil {
		rt.Fatal(err)
	}
	if u.Running != 0 || u.Queued != 0 || len(u.RunningOwner) > 0 && slices.ContainsFunc(m.owners, func(o string) bool { return u.RunningOwner[o] != 0 }) {
		rt.Fatalf("usage after every run ended: %+v", u)
	}
	for _, mr := range m.runs {
		for _, a := range mr.admitted {
			if n := m.eng.starts[fmt.Sprintf("%s#%d", mr.id, a)]; n != 1 {
				rt.Fatalf("run %s attempt %d was admitted and started %d times", mr.id, a, n)
			}
		}
	}
	if len(m.eng.starts) != countAdmitted(m.runs) {
		rt.Fatalf("the engine started %d attempts, %d were admitted", len(m.eng.starts), countAdmitted(m.runs))
	}
}

func countAdmitted(rs map[string]*modelRun) int {
	n := 0
	for _, mr := range rs {
		n += len(mr.admitted)
	}
	return n
}

// tempRoot prefers a memory file system: each rapid iteration opens a fresh
// database, and the disk's sync cost would dominate the test's time.
func tempRoot() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return ""
}
