package runs_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
	"github.com/flotilla-run/flotilla/internal/runs"
)

// children lists every child of parent, oldest first.
func (f *fixture) children(t *testing.T, parent string) []flotilla.Run {
	t.Helper()
	var out []flotilla.Run
	filter := flotilla.RunFilter{Parent: parent, Limit: 500}
	for {
		page, err := f.svc.Store.ListRuns(context.Background(), filter)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Items...)
		if page.NextToken == "" {
			break
		}
		filter.NextToken = page.NextToken
	}
	slices.Reverse(out)
	return out
}

// runAll dispatches and ends every started run (exit code from code)
// until none is left going, as the engine and its events would.
func (f *fixture) runAll(t *testing.T, code func(r flotilla.Run) int) {
	t.Helper()
	for range 10000 {
		f.drain(t)
		page, err := f.svc.Store.ListRuns(context.Background(), flotilla.RunFilter{Statuses: []flotilla.RunStatus{flotilla.StatusPending}, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) == 0 {
			return
		}
		for _, r := range page.Items {
			f.exit(t, r.ID, code(r))
		}
	}
	t.Fatal("runs never stop coming")
}

func failIndex(bad ...int) func(r flotilla.Run) int {
	return func(r flotilla.Run) int {
		if r.ArrayIndex != nil && slices.Contains(bad, *r.ArrayIndex) {
			return 1
		}
		return 0
	}
}

func TestArrayRunsEachChildOnceAndSummarises(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	p := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 620}, Tags: []string{"sweep"}})
	if p.Status != flotilla.StatusWaiting || p.WaitReason != flotilla.WaitChildren || p.Array == nil || p.Array.Size != 620 || p.Array.Created != 0 {
		t.Fatalf("parent = %s %s %+v", p.Status, p.WaitReason, p.Array)
	}
	// One big array does not starve another owner: bob's run starts in
	// the first round of turns.
	bob := f.launch(t, "bob", runs.LaunchRequest{})
	f.drain(t)
	if got := f.get(t, bob.ID); got.Status != flotilla.StatusPending {
		t.Fatalf("bob's run is %s (%s) behind alice's array", got.Status, got.StatusReason)
	}
	f.runAll(t, failIndex(7, 300, 619))
	kids := f.children(t, p.ID)
	if len(kids) != 620 {
		t.Fatalf("%d children, want 620", len(kids))
	}
	for i, c := range kids {
		want, _ := ids.Child(p.ID, i)
		if c.ID != want || c.ArrayIndex == nil || *c.ArrayIndex != i || c.Parent != p.ID || !slices.Contains(c.Tags, "sweep") {
			t.Fatalf("child %d = %s index %v parent %s tags %v", i, c.ID, c.ArrayIndex, c.Parent, c.Tags)
		}
		if n := f.eng.started(c); n != 1 {
			t.Fatalf("child %d started %d times", i, n)
		}
		if env := flotilla.RunEnv(c); env["FLOTILLA_ARRAY_INDEX"] != itoa(i) || env["FLOTILLA_PARENT_RUN_ID"] != p.ID {
			t.Fatalf("child %d env %v", i, env)
		}
	}
	got, err := f.svc.WithSummary(ctx, f.get(t, p.ID))
	if err != nil {
		t.Fatal(err)
	}
	sum := got.Array.Summary
	if got.Status != flotilla.StatusFailed || got.ReasonCode != flotilla.ReasonChildrenFailed || !strings.Contains(got.StatusReason, "7, 300, 619") ||
		sum.Counts[flotilla.StatusSucceeded] != 617 || sum.Ended != 620 || !slices.Equal(sum.FailedIndexes, []int{7, 300, 619}) {
		t.Fatalf("parent ended %s %s %q, summary %+v", got.Status, got.ReasonCode, got.StatusReason, sum)
	}
	// Run the three failed children again, with their indexes.
	again, created, err := f.svc.RetryFailed(ctx, "alice", p.ID)
	if err != nil || !created || again.Array.Size != 3 || again.Array.RetryOf != p.ID {
		t.Fatalf("RetryFailed = %+v, %v, %v", again.Array, created, err)
	}
	if same, created, err := f.svc.RetryFailed(ctx, "alice", p.ID); err != nil || created || same.ID != again.ID {
		t.Fatalf("RetryFailed again = %s %v %v", same.ID, created, err)
	}
	f.runAll(t, failIndex())
	var idx []int
	for _, c := range f.children(t, again.ID) {
		idx = append(idx, *c.ArrayIndex)
	}
	if ended := f.get(t, again.ID); ended.Status != flotilla.StatusSucceeded || !slices.Equal(idx, []int{7, 300, 619}) {
		t.Fatalf("retry ended %s with children %v", ended.Status, idx)
	}
	if _, _, err := f.svc.RetryFailed(ctx, "alice", again.ID); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("retrying an array with no failures: %v", err)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestArrayChildrenAreMadeOnceWhateverTheWorkers(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	p := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 1300}})
	// Four workers take the same message at once (a redelivery, a sweep),
	// each more than once.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if err := f.svc.WorkArray(ctx, p.ID); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	f.drain(t)
	kids := f.children(t, p.ID)
	seen := map[int]bool{}
	for _, c := range kids {
		if seen[*c.ArrayIndex] {
			t.Fatalf("child %d made twice", *c.ArrayIndex)
		}
		seen[*c.ArrayIndex] = true
	}
	u, _ := f.svc.Store.ClusterUsage(ctx, "default")
	sum, _ := f.svc.Store.ChildSummary(ctx, p.ID)
	if len(kids) != 1300 || f.get(t, p.ID).Array.Created != 1300 || u.Queued+u.Running != 1300 || sum.Counts[flotilla.StatusQueued]+sum.Counts[flotilla.StatusPending] != 1300 {
		t.Fatalf("%d children, created %d, usage %+v, summary %v", len(kids), f.get(t, p.ID).Array.Created, u, sum.Counts)
	}
}

func TestArrayItemsRenderEachChild(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	def := flotilla.Definition{ID: "def_tpl", Alias: "tpl", Image: "alpine:3", Command: "report --date {{ .params.date }} --n {{ .params.n }}", CPU: 256, Memory: 512, Revision: 1,
		ParametersSchema: json.RawMessage(`{"type":"object","required":["date"],"properties":{"date":{"type":"string","format":"date"},"n":{"type":"integer","default":1}}}`)}
	def.Normalize()
	if _, err := f.svc.Store.CreateDefinition(ctx, def); err != nil {
		t.Fatal(err)
	}
	items := []json.RawMessage{json.RawMessage(`{"date":"2026-01-01"}`), json.RawMessage(`{"date": "2026-01-02", "n": 5}`)}
	p := f.launch(t, "alice", runs.LaunchRequest{Definition: "tpl", Array: &runs.ArrayRequest{Items: items}, Params: flotilla.Params{"n": json.Number("2")}})
	if p.Command != def.Command || p.Array.Size != 2 || !p.Array.Items {
		t.Fatalf("parent command %q array %+v", p.Command, p.Array)
	}
	f.drain(t)
	kids := f.children(t, p.ID)
	if len(kids) != 2 || kids[0].Command != "report --date '2026-01-01' --n 2" || kids[1].Command != "report --date '2026-01-02' --n 5" ||
		string(kids[1].ArrayItem) != `{"date":"2026-01-02","n":5}` || flotilla.RunEnv(kids[1])["FLOTILLA_ARRAY_ITEM"] != `{"date":"2026-01-02","n":5}` {
		t.Fatalf("children: %q %q %s", kids[0].Command, kids[1].Command, kids[1].ArrayItem)
	}
	// Items without parameters only reach the job's environment.
	plain := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Items: items[:1]}})
	f.drain(t)
	if k := f.children(t, plain.ID); len(k) != 1 || k[0].Command != "true" || string(k[0].ArrayItem) != `{"date":"2026-01-01"}` {
		t.Fatalf("plain child: %+v", k)
	}

	bad := []struct {
		name  string
		req   runs.LaunchRequest
		field string
	}{
		{"both", runs.LaunchRequest{Definition: "tpl", Array: &runs.ArrayRequest{Size: 2, Items: items}}, "array"},
		{"size 0", runs.LaunchRequest{Definition: "job", Array: &runs.ArrayRequest{}}, "array.size"},
		{"too large", runs.LaunchRequest{Definition: "job", Array: &runs.ArrayRequest{Size: 10001}}, "array.size"},
		{"not an object", runs.LaunchRequest{Definition: "job", Array: &runs.ArrayRequest{Items: []json.RawMessage{json.RawMessage(`[1]`)}}}, "array.items[0]"},
		{"huge item", runs.LaunchRequest{Definition: "job", Array: &runs.ArrayRequest{Items: []json.RawMessage{json.RawMessage(`{"x":"` + strings.Repeat("y", 5000) + `"}`)}}}, "array.items[0]"},
		{"bad param in item", runs.LaunchRequest{Definition: "tpl", Array: &runs.ArrayRequest{Items: []json.RawMessage{items[0], json.RawMessage(`{"date":"yesterday"}`)}}}, "array.items[1].date"},
		{"missing param", runs.LaunchRequest{Definition: "tpl", Array: &runs.ArrayRequest{Items: []json.RawMessage{json.RawMessage(`{"n":3}`)}}}, "params.date"},
		{"after_each without array", runs.LaunchRequest{Definition: "job", AfterEach: []string{p.ID}}, "after_each"},
		{"after_each of another size", runs.LaunchRequest{Definition: "job", Array: &runs.ArrayRequest{Size: 3}, AfterEach: []string{p.ID}}, "after_each[0]"},
		{"after_each not an array", runs.LaunchRequest{Definition: "job", Array: &runs.ArrayRequest{Size: 1}, AfterEach: []string{f.children(t, p.ID)[0].ID}}, "after_each[0]"},
		{"parent an array", runs.LaunchRequest{Definition: "job", Parent: p.ID}, "parent"},
	}
	before := len(f.children(t, p.ID))
	for _, b := range bad {
		_, _, err := f.svc.Launch(ctx, "alice", b.req)
		var v *flotilla.ValidationError
		if !errors.As(err, &v) || v.Fields[0].Field != b.field {
			t.Errorf("%s: err = %v, want a validation error on %s", b.name, err, b.field)
		}
	}
	if page, _ := f.svc.Store.ListRuns(ctx, flotilla.RunFilter{Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}}); len(page.Items) != 2 || before != 2 {
		t.Fatalf("bad launches wrote runs: %d waiting, want the 2 arrays", len(page.Items))
	}
}

func TestDependencies(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	a := f.launch(t, "alice", runs.LaunchRequest{})
	b := f.launch(t, "alice", runs.LaunchRequest{After: []string{a.ID}})
	if b.Status != flotilla.StatusWaiting || b.WaitReason != flotilla.WaitDependencies || !strings.Contains(b.StatusReason, a.ID) {
		t.Fatalf("b = %s %s %q", b.Status, b.WaitReason, b.StatusReason)
	}
	f.drain(t)
	if got := f.get(t, b.ID); got.Status != flotilla.StatusWaiting {
		t.Fatalf("b started before a ended: %s", got.Status)
	}
	f.advance(time.Hour) // a long wait must not count as time in the queue
	f.exit(t, a.ID, 0)
	got := f.get(t, b.ID)
	if got.Status != flotilla.StatusQueued || !got.Current().QueuedAt.Equal(f.clock()) {
		t.Fatalf("b after a succeeded = %s, attempt queued at %v", got.Status, got.Current().QueuedAt)
	}
	f.drain(t)
	if got := f.get(t, b.ID); got.Status != flotilla.StatusPending {
		t.Fatalf("b = %s, want started", got.Status)
	}

	c := f.launch(t, "alice", runs.LaunchRequest{})
	d := f.launch(t, "alice", runs.LaunchRequest{After: []string{c.ID, a.ID}})
	e := f.launch(t, "alice", runs.LaunchRequest{After: []string{d.ID}})
	f.drain(t)
	f.exit(t, c.ID, 3)
	for _, x := range []struct {
		run  flotilla.Run
		dep  string
		text string
	}{{d, c.ID, "ended FAILED"}, {e, d.ID, "ended STOPPED"}} {
		got := f.get(t, x.run.ID)
		if got.Status != flotilla.StatusStopped || got.ReasonCode != flotilla.ReasonDependencyFailed || !strings.Contains(got.StatusReason, x.dep) || !strings.Contains(got.StatusReason, x.text) {
			t.Fatalf("%s after a failure = %s %s %q", x.run.ID, got.Status, got.ReasonCode, got.StatusReason)
		}
	}
	// After runs that have ended already: queued at once, or stopped at once.
	if r := f.launch(t, "alice", runs.LaunchRequest{After: []string{a.ID}}); r.Status != flotilla.StatusQueued {
		t.Fatalf("after a succeeded run: %s", r.Status)
	}
	if r := f.launch(t, "alice", runs.LaunchRequest{After: []string{c.ID}}); r.Status != flotilla.StatusStopped || r.ReasonCode != flotilla.ReasonDependencyFailed {
		t.Fatalf("after a failed run: %s %s", r.Status, r.ReasonCode)
	}
	// A WAITING run can be stopped.
	w := f.launch(t, "alice", runs.LaunchRequest{After: []string{b.ID}})
	if s, err := f.svc.Stop(ctx, w.ID, "alice"); err != nil || s.Status != flotilla.StatusStopped {
		t.Fatalf("stop a waiting run: %s %v", s.Status, err)
	}
	for _, bad := range []struct {
		after []string
		field string
	}{
		{[]string{"run_nope"}, "after[0]"},
		{[]string{a.ID, a.ID}, "after[1]"},
		{[]string{""}, "after[0]"},
		{make([]string, 21), "after"},
	} {
		_, _, err := f.svc.Launch(ctx, "alice", runs.LaunchRequest{Definition: "job", After: bad.after})
		var v *flotilla.ValidationError
		if !errors.As(err, &v) || v.Fields[0].Field != bad.field {
			t.Errorf("after %v: err = %v, want a validation error on %s", bad.after, err, bad.field)
		}
	}
}

func TestArraysAfterArrays(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 10})
	x := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 3}})
	y := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 3}, AfterEach: []string{x.ID}})
	z := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 2}, After: []string{x.ID}})
	if z.Status != flotilla.StatusWaiting || z.WaitReason != flotilla.WaitDependencies {
		t.Fatalf("z = %s %s", z.Status, z.WaitReason)
	}
	f.drain(t)
	xs, ys := f.children(t, x.ID), f.children(t, y.ID)
	if len(xs) != 3 || len(ys) != 3 || len(f.children(t, z.ID)) != 0 {
		t.Fatalf("children: x %d, y %d, z %d", len(xs), len(ys), len(f.children(t, z.ID)))
	}
	for i, c := range ys {
		if c.Status != flotilla.StatusWaiting || !slices.Equal(c.After, []string{xs[i].ID}) {
			t.Fatalf("y child %d = %s after %v", i, c.Status, c.After)
		}
	}
	f.exit(t, xs[0].ID, 0)
	if got := f.get(t, ys[0].ID); got.Status != flotilla.StatusQueued {
		t.Fatalf("y child 0 after x child 0 succeeded: %s", got.Status)
	}
	f.exit(t, xs[1].ID, 1)
	if got := f.get(t, ys[1].ID); got.Status != flotilla.StatusStopped || got.ReasonCode != flotilla.ReasonDependencyFailed {
		t.Fatalf("y child 1 after x child 1 failed: %s %s", got.Status, got.ReasonCode)
	}
	f.runAll(t, failIndex())
	for _, want := range []struct {
		id     string
		status flotilla.RunStatus
		code   flotilla.ReasonCode
	}{{x.ID, flotilla.StatusFailed, flotilla.ReasonChildrenFailed}, {y.ID, flotilla.StatusFailed, flotilla.ReasonChildrenFailed}, {z.ID, flotilla.StatusStopped, flotilla.ReasonDependencyFailed}} {
		if got := f.get(t, want.id); got.Status != want.status || got.ReasonCode != want.code {
			t.Errorf("%s ended %s %s (%s), want %s %s", want.id, got.Status, got.ReasonCode, got.StatusReason, want.status, want.code)
		}
	}
	// A whole array after a succeeded one makes its children once released.
	ok := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 2}})
	next := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 4}, After: []string{ok.ID}})
	f.runAll(t, failIndex())
	if got := f.get(t, next.ID); got.Status != flotilla.StatusSucceeded || len(f.children(t, next.ID)) != 4 {
		t.Fatalf("array after an array: %s with %d children", got.Status, len(f.children(t, next.ID)))
	}
}

func TestStopArray(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 3})
	ctx := context.Background()
	p := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 1200}})
	f.drain(t)
	asked, err := f.svc.Stop(ctx, p.ID, "alice")
	if err != nil || asked.Status != flotilla.StatusWaiting || asked.StopRequest == nil {
		t.Fatalf("Stop = %s %+v, %v", asked.Status, asked.StopRequest, err)
	}
	f.drain(t)
	// The running children were asked to stop; their tasks end.
	for _, id := range slices.Compact(slices.Sorted(slices.Values(f.eng.stops))) {
		r := f.get(t, id)
		f.reconcile(t, f.eng.event(r, flotilla.TaskStopped, ptr(143), flotilla.StopCodeUserInitiated, "stopped"))
	}
	f.drain(t)
	got, _ := f.svc.WithSummary(ctx, f.get(t, p.ID))
	sum := got.Array.Summary
	total := 0
	for _, n := range sum.Counts {
		total += n
	}
	if got.Status != flotilla.StatusStopped || sum.Ended != total || sum.Counts[flotilla.StatusStopped] != total || total > 1200 {
		t.Fatalf("stopped array = %s (%s), summary %+v", got.Status, got.StatusReason, sum)
	}
	if _, err := f.svc.Stop(ctx, p.ID, "alice"); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("stopping it again: %v", err)
	}
}

func TestSweepSettlesWhatACrashLeft(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 5})
	ctx := context.Background()
	// The array's message is lost (the server died after storing it).
	p := f.launch(t, "alice", runs.LaunchRequest{Array: &runs.ArrayRequest{Size: 3}})
	ds, _ := f.queue.Receive(ctx, "default", 10, 0)
	for _, d := range ds {
		f.queue.Delete(ctx, "default", d.Receipt)
	}
	// A run ended without its waiting run hearing of it.
	a := f.launch(t, "alice", runs.LaunchRequest{})
	b := f.launch(t, "alice", runs.LaunchRequest{After: []string{a.ID}})
	if _, err := f.svc.Store.TransitionRun(ctx, flotilla.Transition{RunID: a.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusStopped,
		At: f.clock(), Source: flotilla.SourceAPI, ReasonCode: flotilla.ReasonStopped, Reason: "stopped"}); err != nil {
		t.Fatal(err)
	}
	f.advance(2 * time.Minute)
	if err := f.svc.Sweep(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := f.get(t, b.ID); got.Status != flotilla.StatusStopped || got.ReasonCode != flotilla.ReasonDependencyFailed {
		t.Fatalf("b after the sweep: %s %s", got.Status, got.ReasonCode)
	}
	f.runAll(t, failIndex())
	if got := f.get(t, p.ID); got.Status != flotilla.StatusSucceeded || len(f.children(t, p.ID)) != 3 {
		t.Fatalf("array after the sweep: %s, %d children", got.Status, len(f.children(t, p.ID)))
	}
}

func TestStopReachesAnArrayLaunchedFromARun(t *testing.T) {
	t.Parallel()
	f := setup(t, flotilla.Cluster{Name: "default", MaxRunning: 2})
	ctx := context.Background()
	x := f.launch(t, "alice", runs.LaunchRequest{})
	f.drain(t)
	arr := f.launch(t, "alice", runs.LaunchRequest{Parent: x.ID, Array: &runs.ArrayRequest{Size: 40}})
	f.drain(t)
	if _, err := f.svc.Stop(ctx, x.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := f.get(t, arr.ID); got.StopRequest == nil {
		t.Fatalf("the array launched from a stopped run has no stop request: %s", got.Status)
	}
	f.drain(t)
	for _, id := range slices.Compact(slices.Sorted(slices.Values(f.eng.stops))) {
		f.reconcile(t, f.eng.event(f.get(t, id), flotilla.TaskStopped, ptr(143), flotilla.StopCodeUserInitiated, "stopped"))
	}
	f.drain(t)
	if got := f.get(t, arr.ID); got.Status != flotilla.StatusStopped {
		t.Fatalf("array = %s (%s)", got.Status, got.StatusReason)
	}
	for _, c := range f.children(t, arr.ID) {
		if c.Status != flotilla.StatusStopped {
			t.Fatalf("child %d = %s", *c.ArrayIndex, c.Status)
		}
	}
}
