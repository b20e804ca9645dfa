package runs_test

// The tests of this file came from an adversarial review of arrays and
// dependencies: each failed against the first version of pipelines.go.

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
	"github.com/flotilla-run/flotilla/internal/runs"
)

// hookStore lets a test act between the service's store calls.
type hookStore struct {
	flotilla.Store
	mu              sync.Mutex
	beforeCreateRun func() // once, before the first CreateRuns
	crashAfter      bool   // CreateRuns commits, then "the process dies"
	elemsPut        []string
	afterCreateRuns func() // once, after the first CreateRuns committed
}

func (h *hookStore) CreateRuns(ctx context.Context, rs []flotilla.Run) (int, error) {
	h.mu.Lock()
	hook := h.beforeCreateRun
	h.beforeCreateRun = nil
	crash := h.crashAfter
	h.crashAfter = false
	h.mu.Unlock()
	if hook != nil {
		hook()
	}
	n, err := h.Store.CreateRuns(ctx, rs)
	h.mu.Lock()
	after := h.afterCreateRuns
	h.afterCreateRuns = nil
	h.mu.Unlock()
	if after != nil {
		after()
	}
	if err == nil && crash {
		return n, errors.New("simulated crash after the batch was committed")
	}
	return n, err
}

func (h *hookStore) CreateRun(ctx context.Context, r flotilla.Run) (flotilla.Run, bool, error) {
	h.mu.Lock()
	hook := h.beforeCreateRun
	h.beforeCreateRun = nil
	crash := h.crashAfter
	h.crashAfter = false
	h.mu.Unlock()
	if hook != nil {
		hook()
	}
	out, created, err := h.Store.CreateRun(ctx, r)
	if err == nil && crash {
		return out, created, errors.New("simulated crash after the run was committed")
	}
	return out, created, err
}

func (h *hookStore) PutArrayElements(ctx context.Context, parent string, e []flotilla.ArrayElement) error {
	h.mu.Lock()
	h.elemsPut = append(h.elemsPut, parent)
	h.mu.Unlock()
	return h.Store.PutArrayElements(ctx, parent, e)
}

// A stop that settles the array while a batch is being made, then a crash
// before the maker sees the stop: the batch's children are QUEUED under a
// STOPPED parent, and nothing ever stops them; they are dispatched and run.
func TestReviewStopRacingBatchThenCrashLeavesChildrenRunning(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	h := &hookStore{Store: f.svc.Store}
	f.svc.Store = h
	p := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 20}})
	h.crashAfter = true
	h.beforeCreateRun = func() {
		// Another worker handles the stop while this batch is being written.
		if _, err := f.svc.Stop(ctx, p.ID, "alice"); err != nil {
			t.Error(err)
		}
		if err := f.svc.WorkArray(ctx, p.ID); err != nil {
			t.Error(err)
		}
	}
	if err := f.svc.WorkArray(ctx, p.ID); err == nil {
		t.Fatal("want the simulated crash")
	}
	// After the restart: the message comes again, the sweep recovers.
	if err := f.svc.WorkArray(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Sweep(ctx, true); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	par := f.get(t, p.ID)
	started, active := 0, 0
	for _, c := range f.children(t, p.ID) {
		if f.eng.started(c) > 0 {
			started++
		}
		if !c.Status.Terminal() {
			active++
		}
	}
	// The stop reaches every child before it can start, and the array
	// then ends STOPPED.
	if par.Status != flotilla.StatusStopped || started > 0 || active > 0 {
		t.Fatalf("parent %s (%s); %d children started after the stop and %d have not ended", par.Status, par.StatusReason, started, active)
	}
}

// An idempotent retry of an array launch with items (same key, same body)
// stores all its elements again under a run id that is never created.
func TestReviewIdempotentArrayRetryStoresOrphanElements(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	h := &hookStore{Store: f.svc.Store}
	f.svc.Store = h
	items := []json.RawMessage{json.RawMessage(`{"d":1}`), json.RawMessage(`{"d":2}`)}
	req := runs.LaunchRequest{Definition: "job", IdempotencyKey: "k1", Array: &runs.ArrayRequest{Items: items}}
	first, created, err := f.svc.Launch(ctx, "alice", req)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	for range 3 {
		again, created, err := f.svc.Launch(ctx, "alice", req)
		if err != nil || created || again.ID != first.ID {
			t.Fatal(again.ID, created, err)
		}
	}
	for _, id := range h.elemsPut {
		if _, err := f.svc.Store.GetRun(ctx, id); errors.Is(err, flotilla.ErrNotFound) {
			e, _ := h.Store.ArrayElements(ctx, id, 0, 10)
			t.Errorf("elements of run %s, which does not exist, are stored: %d of them", id, len(e))
		}
	}
}

// Items on a definition without parameters_schema: params are refused
// without an array, but silently dropped with one.
func TestReviewItemsWithParamsOnSchemalessDefinition(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	_, _, plainErr := f.svc.Launch(ctx, "alice", runs.LaunchRequest{Definition: "job", Params: flotilla.Params{"x": json.Number("1")}})
	r, _, err := f.svc.Launch(ctx, "alice", runs.LaunchRequest{Definition: "job", Params: flotilla.Params{"x": json.Number("1")},
		Array: &runs.ArrayRequest{Items: []json.RawMessage{json.RawMessage(`{"a":1}`)}}})
	var v *flotilla.ValidationError
	if !errors.As(err, &v) || v.Fields[0].Field != "params" {
		t.Fatalf("plain launch: %v; array launch with items: run %s params %v, err %v; want a validation error on params", plainErr, r.ID, r.Params, err)
	}
}

// The sweep looks at the 5,000 newest WAITING runs of a cluster, from the
// newest, every time: an older WAITING run whose dependency ended while
// the news was lost is never settled while 5,000 newer ones wait.
func TestReviewSweepNeverReachesOlderWaitingRuns(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	a := f.launch(t, "alice", runs.LaunchRequest{}) // runs for long
	d := f.launch(t, "alice", runs.LaunchRequest{})
	old := f.launch(t, "alice", runs.LaunchRequest{After: []string{d.ID}})
	// d fails; the process dies before old hears of it.
	if _, err := f.svc.Store.TransitionRun(ctx, flotilla.Transition{RunID: d.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusFailed,
		At: f.clock(), Source: flotilla.SourceSweep, ReasonCode: flotilla.ReasonQueueTimeout, Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	// 5,000 newer runs wait for a (a big after_each array would do too).
	var batch []flotilla.Run
	for i := range 5000 {
		w := old
		w.ID = ids.New(ids.Run, f.clock().Add(time.Duration(i+1)*time.Millisecond))
		w.After = []string{a.ID}
		w.StatusReason = "waiting for " + a.ID
		w.IdempotencyKey, w.RequestHash = "", ""
		batch = append(batch, w)
	}
	if _, err := f.svc.Store.CreateRuns(ctx, batch); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Hour)
	for range 3 {
		if err := f.svc.Sweep(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.get(t, old.ID); got.Status != flotilla.StatusStopped {
		t.Fatalf("the old run waiting for a failed run is %s (%s) after 3 sweeps", got.Status, got.StatusReason)
	}
}

// A launch refused 409 (idempotency_key reused with another body) has
// stored its array's elements already.
func TestReviewConflictingLaunchStoresElements(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	h := &hookStore{Store: f.svc.Store}
	f.svc.Store = h
	item := func(s string) []json.RawMessage { return []json.RawMessage{json.RawMessage(s)} }
	if _, _, err := f.svc.Launch(ctx, "alice", runs.LaunchRequest{Definition: "job", IdempotencyKey: "k", Array: &runs.ArrayRequest{Items: item(`{"a":1}`)}}); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.svc.Launch(ctx, "alice", runs.LaunchRequest{Definition: "job", IdempotencyKey: "k", Array: &runs.ArrayRequest{Items: item(`{"a":2}`)}})
	if !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("want 409, got %v", err)
	}
	last := h.elemsPut[len(h.elemsPut)-1]
	if _, gerr := f.svc.Store.GetRun(ctx, last); errors.Is(gerr, flotilla.ErrNotFound) {
		e, _ := h.Store.ArrayElements(ctx, last, 0, 10)
		t.Fatalf("the launch was refused (%v), yet %d elements of %s are stored", err, len(e), last)
	}
}

// When an array x ends before making child i, the child i of an array y
// that waits for each child of x waits on until a sweep: x's end settles
// only the runs whose after names x.
func TestReviewAfterEachPartnerNeverMadeWaitsForTheSweep(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	d := f.launch(t, "alice", runs.LaunchRequest{})
	x := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 3}, After: []string{d.ID}})
	y := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 3}, AfterEach: []string{x.ID}})
	f.drain(t)
	if n := len(f.children(t, y.ID)); n != 3 {
		t.Fatalf("y has %d children", n)
	}
	if _, err := f.svc.Stop(ctx, x.ID, "alice"); err != nil { // x never made a child
		t.Fatal(err)
	}
	f.drain(t)
	if got := f.get(t, x.ID); got.Status != flotilla.StatusStopped {
		t.Fatalf("x = %s", got.Status)
	}
	for _, c := range f.children(t, y.ID) {
		if c.Status == flotilla.StatusWaiting {
			t.Errorf("y child %d still %s (%s) after x ended without making its partner", *c.ArrayIndex, c.Status, c.StatusReason)
		}
	}
	if got := f.get(t, y.ID); !got.Status.Terminal() {
		t.Errorf("y = %s (%s)", got.Status, got.StatusReason)
	}
}

// retry-failed is idempotent per caller only: the owner and an admin each
// get a new array, and the failed children run twice.
func TestReviewRetryFailedTwiceByTwoCallers(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	p := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 3}})
	f.runAll(t, failIndex(1))
	a, _, err := f.svc.RetryFailed(ctx, "alice", p.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, createdB, err := f.svc.RetryFailed(ctx, "admin@example.com", p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != a.ID || createdB {
		f.runAll(t, failIndex())
		t.Fatalf("retry-failed of %s made two arrays, %s and %s: child 1 ran again %d times", p.ID, a.ID, b.ID, len(f.children(t, a.ID))+len(f.children(t, b.ID)))
	}
}

// retry-failed drops after_each: a child that was stopped because its
// partner failed runs again although its partner never succeeded.
func TestReviewRetryFailedRunsChildWhosePartnerFailed(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	x := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 2}})
	y := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 2}, AfterEach: []string{x.ID}})
	f.drain(t)
	xs := f.children(t, x.ID)
	f.exit(t, xs[0].ID, 0)
	f.exit(t, xs[1].ID, 1) // x's child 1 fails: y's child 1 is stopped, dependency_failed
	f.runAll(t, failIndex())
	if got := f.get(t, y.ID); got.Status != flotilla.StatusFailed {
		t.Fatalf("y = %s", got.Status)
	}
	again, _, err := f.svc.RetryFailed(ctx, "alice", y.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	for _, c := range f.children(t, again.ID) {
		if f.eng.started(c) > 0 {
			t.Errorf("retried child %d of y started though child %d of x, which it waits for, %s", *c.ArrayIndex, *c.ArrayIndex, f.get(t, xs[1].ID).Status)
		}
	}
}

// An items array's children are rendered from the definition's schema read
// when they are made: deleted meanwhile, the children get the raw template.
func TestReviewItemsChildrenAfterTheDefinitionIsDeleted(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	def := flotilla.Definition{ID: "def_tpl", Alias: "tpl", Image: "alpine:3", Command: "report --date {{ .params.date }}", CPU: 256, Memory: 512, Revision: 1,
		ParametersSchema: json.RawMessage(`{"type":"object","required":["date"],"properties":{"date":{"type":"string","format":"date"}}}`)}
	def.Normalize()
	if _, err := f.svc.Store.CreateDefinition(ctx, def); err != nil {
		t.Fatal(err)
	}
	p := f.launch(t, "alice", runs.LaunchRequest{Definition: "tpl", Array: &runs.ArrayRequest{Items: []json.RawMessage{json.RawMessage(`{"date":"2026-01-01"}`)}}})
	if err := f.svc.Store.DeleteDefinition(ctx, "tpl"); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	for _, c := range f.children(t, p.ID) {
		if c.Command != "report --date '2026-01-01'" {
			t.Errorf("child %d command %q (started %d times)", *c.ArrayIndex, c.Command, f.eng.started(c))
		}
	}
}

// The command a child runs is rendered from its item, but only the
// template is checked at launch: a child's command may exceed the limit
// that the same launch without an array is refused for.
func TestReviewItemRenderedCommandIsNotChecked(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	def := flotilla.Definition{ID: "def_tpl", Alias: "tpl", Image: "alpine:3", Command: "echo {{ .params.x }} {{ .params.x }}", CPU: 256, Memory: 512, Revision: 1,
		ParametersSchema: json.RawMessage(`{"type":"object","required":["x"],"properties":{"x":{"type":"string"}}}`)}
	def.Normalize()
	if _, err := f.svc.Store.CreateDefinition(ctx, def); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 3000)
	_, _, plain := f.svc.Launch(ctx, "alice", runs.LaunchRequest{Definition: "tpl", Params: flotilla.Params{"x": long}})
	p, _, err := f.svc.Launch(ctx, "alice", runs.LaunchRequest{Definition: "tpl", Array: &runs.ArrayRequest{Items: []json.RawMessage{json.RawMessage(`{"x":"` + long + `"}`)}}})
	if err == nil {
		f.drain(t)
		kids := f.children(t, p.ID)
		t.Fatalf("without an array: %v; with items: accepted, child command of %d bytes (limit %d)", plain, len(kids[0].Command), flotilla.MaxCommandBytes)
	}
}

// The same hole for a run launched from another: the parent is stopped
// while the run is stored, and the process dies before Launch looks at the
// parent again; the stop's cascade missed it, and it runs.
func TestReviewLinkedRunStoredDuringStopThenCrashRuns(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	parent := f.launch(t, "alice", runs.LaunchRequest{})
	f.drain(t)
	h := &hookStore{Store: f.svc.Store}
	f.svc.Store = h
	h.crashAfter = true
	h.beforeCreateRun = func() {
		if _, err := f.svc.Stop(ctx, parent.ID, "alice"); err != nil {
			t.Error(err)
		}
		f.reconcile(t, f.eng.event(f.get(t, parent.ID), flotilla.TaskStopped, ptr(143), flotilla.StopCodeUserInitiated, "stopped"))
	}
	if _, _, err := f.svc.Launch(ctx, "bob", runs.LaunchRequest{Definition: "job", Parent: parent.ID}); err == nil {
		t.Fatal("want the simulated crash")
	}
	if err := f.svc.Sweep(ctx, true); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	page, _ := f.svc.Store.ListRuns(ctx, flotilla.RunFilter{Parent: parent.ID})
	for _, c := range page.Items {
		if f.eng.started(c) > 0 || !c.Status.Terminal() {
			t.Errorf("parent %s; its child %s is %s, started %d times", f.get(t, parent.ID).Status, c.ID, c.Status, f.eng.started(c))
		}
	}
}

// An array launched from run x: its children carry x's tag parent:x as
// well as their own, so ?tag=parent:x lists them as x's children.
func TestReviewArrayChildrenCarryTheirGrandparentsTag(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	x := f.launch(t, "alice", runs.LaunchRequest{})
	f.drain(t)
	arr := f.launch(t, "alice", runs.LaunchRequest{Parent: x.ID, Array: &runs.ArrayRequest{Size: 3}})
	f.drain(t)
	byTag, _ := f.svc.Store.ListRuns(ctx, flotilla.RunFilter{Tag: flotilla.ParentTag(x.ID)})
	byParent, _ := f.svc.Store.ListRuns(ctx, flotilla.RunFilter{Parent: x.ID})
	if len(byTag.Items) != len(byParent.Items) {
		t.Fatalf("tag parent:%s finds %d runs, parent %s finds %d (array %s)", x.ID, len(byTag.Items), x.ID, len(byParent.Items), arr.ID)
	}
}

// A bad launch-level param is reported once per item, on the items.
func TestReviewBadLaunchParamNamedOnItems(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	def := flotilla.Definition{ID: "def_tpl", Alias: "tpl", Image: "alpine:3", Command: "report {{ .params.date }} {{ .params.n }}", CPU: 256, Memory: 512, Revision: 1,
		ParametersSchema: json.RawMessage(`{"type":"object","required":["date"],"properties":{"date":{"type":"string"},"n":{"type":"integer"}}}`)}
	def.Normalize()
	if _, err := f.svc.Store.CreateDefinition(ctx, def); err != nil {
		t.Fatal(err)
	}
	_, _, plain := f.svc.Launch(ctx, "alice", runs.LaunchRequest{Definition: "tpl", Params: flotilla.Params{"date": "x", "n": "seven"}})
	items := []json.RawMessage{json.RawMessage(`{"date":"a"}`), json.RawMessage(`{"date":"b"}`), json.RawMessage(`{"date":"c"}`)}
	_, _, err := f.svc.Launch(ctx, "alice", runs.LaunchRequest{Definition: "tpl", Params: flotilla.Params{"n": "seven"}, Array: &runs.ArrayRequest{Items: items}})
	var v *flotilla.ValidationError
	if !errors.As(err, &v) || v.Fields[0].Field != "params.n" || len(v.Fields) != 1 {
		t.Fatalf("without an array: %v\nwith items: %v", plain, err)
	}
}

// Without a crash: a dispatch that comes between the batch's write and the
// maker's look at its parent starts children of an array that has ended.
func TestReviewStopRacingBatchStartsChildrenOfAnEndedArray(t *testing.T) {
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	h := &hookStore{Store: f.svc.Store}
	f.svc.Store = h
	p := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 20}})
	h.beforeCreateRun = func() {
		f.svc.Stop(ctx, p.ID, "alice")
		f.svc.WorkArray(ctx, p.ID)
	}
	ended := false
	h.afterCreateRuns = func() {
		ended = f.get(t, p.ID).Status.Terminal()
		f.svc.Readmit(ctx, "default") // another run's end, say
		f.drain(t)
	}
	if err := f.svc.WorkArray(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range f.children(t, p.ID) {
		n += f.eng.started(c)
	}
	if ended && n > 0 {
		t.Fatalf("the array ended %s before its batch was written; %d of the batch's children were started", f.get(t, p.ID).Status, n)
	}
}
