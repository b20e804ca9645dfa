package flotillatest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
)

// NewWaitingRun returns a WAITING run that waits for after.
func NewWaitingRun(cluster, owner string, offset time.Duration, after ...string) flotilla.Run {
	r := NewRun(cluster, owner, offset)
	r.Status, r.WaitReason, r.StatusReason = flotilla.StatusWaiting, flotilla.WaitDependencies, "waiting for its dependencies"
	r.After = after
	return r
}

// NewArrayParent returns an array's parent of size children, WAITING.
func NewArrayParent(cluster, owner string, offset time.Duration, size int) flotilla.Run {
	r := NewRun(cluster, owner, offset)
	r.Status, r.WaitReason, r.StatusReason = flotilla.StatusWaiting, flotilla.WaitChildren, "creating its children"
	r.Array = &flotilla.Array{Size: size}
	return r
}

// NewArrayChild returns child index of parent, QUEUED, as the service
// materialises it.
func NewArrayChild(parent flotilla.Run, index int) flotilla.Run {
	r := NewRun(parent.Cluster, parent.Owner, 0)
	id, err := ids.Child(parent.ID, index)
	if err != nil {
		panic(err)
	}
	r.ID, r.QueuedAt, r.Parent, r.ArrayIndex = id, parent.QueuedAt, parent.ID, ptr(index)
	r.Tags = append(slices.Clone(parent.Tags), flotilla.ParentTag(parent.ID))
	return r
}

// testWaitingRuns: a WAITING run is stored and found by what it waits
// for, is neither queued nor counted as queued until it moves to QUEUED
// (its attempt's queue time restarting then), and can be stopped while it
// waits.
func testWaitingRuns(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	a := mustCreateRun(t, s, NewRun("default", "ana", 0))
	b := mustCreateRun(t, s, NewRun("default", "ana", time.Second))
	w1 := mustCreateRun(t, s, NewWaitingRun("default", "ana", 2*time.Second, a.ID, b.ID))
	w2 := mustCreateRun(t, s, NewWaitingRun("default", "ben", 3*time.Second, b.ID))
	mustCreateRun(t, s, NewWaitingRun("gpu", "ben", 4*time.Second, a.ID))
	if got, _ := s.GetRun(ctx, w1.ID); got.Status != flotilla.StatusWaiting || !slices.Equal(got.After, []string{a.ID, b.ID}) ||
		got.WaitReason != flotilla.WaitDependencies {
		t.Fatalf("stored waiting run = %s %v %s", got.Status, got.After, got.WaitReason)
	}
	if u := usage(t, s, "default"); u.Queued != 2 {
		t.Fatalf("queued = %d with 2 QUEUED and 2 WAITING runs, want 2", u.Queued)
	}
	if q, err := s.ListQueued(ctx, "default", 10); err != nil || len(q) != 2 {
		t.Fatalf("ListQueued = %d runs, %v; want the 2 QUEUED ones", len(q), err)
	}
	if h, err := s.OldestQueuedPerOwner(ctx, "default", 10); err != nil || len(h) != 1 || h[0].ID != a.ID {
		t.Fatalf("OldestQueuedPerOwner = %v, %v; want only ana's QUEUED head", h, err)
	}
	if got := collectRuns(t, s, flotilla.RunFilter{After: b.ID, Limit: 1}); !slices.Equal(got, []string{w2.ID, w1.ID}) {
		t.Fatalf("runs after b = %v, want %v", got, []string{w2.ID, w1.ID})
	}
	if got := collectRuns(t, s, flotilla.RunFilter{After: a.ID, Cluster: "default", Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}}); !slices.Equal(got, []string{w1.ID}) {
		t.Fatalf("waiting runs after a on default = %v, want %v", got, []string{w1.ID})
	}
	if got := collectRuns(t, s, flotilla.RunFilter{Cluster: "default", Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}}); !slices.Equal(got, []string{w2.ID, w1.ID}) {
		t.Fatalf("waiting runs on default = %v", got)
	}
	released := Epoch.Add(time.Hour)
	q := mustTransition(t, s, flotilla.Transition{RunID: w1.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, To: flotilla.StatusQueued,
		At: released, Source: flotilla.SourceAPI, Reason: "the runs it waited for succeeded", WaitReason: flotilla.WaitNoFreeSlot})
	if !q.Current().QueuedAt.Equal(released) || q.WaitReason != flotilla.WaitNoFreeSlot {
		t.Fatalf("released run: attempt queued at %v (want %v), wait %s", q.Current().QueuedAt, released, q.WaitReason)
	}
	if u := usage(t, s, "default"); u.Queued != 3 {
		t.Fatalf("queued = %d after a WAITING run was queued, want 3", u.Queued)
	}
	if h, _ := s.OldestQueuedPerOwner(ctx, "default", 10); len(h) != 1 {
		t.Fatalf("heads = %d, want 1 (ana's)", len(h))
	}
	stopped := mustTransition(t, s, flotilla.Transition{RunID: w2.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, To: flotilla.StatusStopped,
		At: released, Source: flotilla.SourceAPI, ReasonCode: flotilla.ReasonDependencyFailed, Reason: "run b failed"})
	if stopped.Status != flotilla.StatusStopped || stopped.FinishedAt == nil {
		t.Fatalf("stopped waiting run = %s finished %v", stopped.Status, stopped.FinishedAt)
	}
	if u := usage(t, s, "default"); u.Queued != 3 || u.Running != 0 {
		t.Fatalf("usage = %+v after a WAITING run stopped, want 3 queued, none running", u)
	}
	if got := collectRuns(t, s, flotilla.RunFilter{After: b.ID, Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}}); len(got) != 0 {
		t.Fatalf("runs still waiting for b = %v", got)
	}
}

// testArrays: an array's elements are stored apart and read back by
// range; its children are created in batches, exactly once however often
// a batch is repeated; they are found by parent; the parent records how
// many exist only forward; and the children's summary stays exact while
// they change concurrently.
func testArrays(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	p := NewArrayParent("default", "ana", 0, 12)
	p.Array.Listed, p.Array.Items = true, true
	var elems []flotilla.ArrayElement
	for i := range 12 {
		elems = append(elems, flotilla.ArrayElement{Index: 100 + i, Item: json.RawMessage(fmt.Sprintf(`{"date":"2026-01-%02d"}`, i+1))})
	}
	for range 2 { // stored again after a crash: harmless
		if err := s.PutArrayElements(ctx, p.ID, elems); err != nil {
			t.Fatalf("PutArrayElements: %v", err)
		}
	}
	p = mustCreateRun(t, s, p)
	if got, err := s.ArrayElements(ctx, p.ID, 3, 7); err != nil || len(got) != 4 || got[0].Index != 103 || string(got[3].Item) != `{"date":"2026-01-07"}` {
		t.Fatalf("ArrayElements(3,7) = %v, %v", got, err)
	}
	if got, err := s.ArrayElements(ctx, p.ID, 10, 20); err != nil || len(got) != 2 {
		t.Fatalf("ArrayElements(10,20) = %d elements, %v; want the last 2", len(got), err)
	}
	var kids []flotilla.Run
	for i := range 12 {
		kids = append(kids, NewArrayChild(p, 100+i))
	}
	for _, batch := range [][]flotilla.Run{kids[:5], kids[:5], kids[3:12], kids} {
		if _, err := s.CreateRuns(ctx, batch); err != nil {
			t.Fatalf("CreateRuns: %v", err)
		}
	}
	if n, err := s.CreateRuns(ctx, kids); err != nil || n != 0 {
		t.Fatalf("CreateRuns of existing children = %d, %v; want 0", n, err)
	}
	if u := usage(t, s, "default"); u.Queued != 12 {
		t.Fatalf("queued = %d, want the 12 children", u.Queued)
	}
	got := collectRuns(t, s, flotilla.RunFilter{Parent: p.ID, Limit: 5})
	want := make([]string, 0, 12)
	for i := len(kids) - 1; i >= 0; i-- {
		want = append(want, kids[i].ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("children = %v, want %v", got, want)
	}
	if c, err := s.GetRun(ctx, kids[4].ID); err != nil || c.ArrayIndex == nil || *c.ArrayIndex != 104 || c.Parent != p.ID {
		t.Fatalf("child 4 = %+v, %v", c, err)
	}
	p = mustTransition(t, s, flotilla.Transition{RunID: p.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, To: flotilla.StatusWaiting,
		At: Epoch.Add(time.Second), Source: flotilla.SourceDispatcher, ArrayCreated: 12})
	if p.Array.Created != 12 {
		t.Fatalf("parent created = %d, want 12", p.Array.Created)
	}
	_, err := s.TransitionRun(ctx, flotilla.Transition{RunID: p.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, To: flotilla.StatusWaiting,
		At: Epoch.Add(time.Second), Source: flotilla.SourceDispatcher, ArrayCreated: 5})
	if !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("moving created back = %v, want ErrConflict", err)
	}
	checkSummary(t, s, p.ID, map[flotilla.RunStatus]int{flotilla.StatusQueued: 12}, nil)

	// Every child moves through its life at once; the summary must match
	// what the children say.
	var wg sync.WaitGroup
	ends := []flotilla.RunStatus{flotilla.StatusSucceeded, flotilla.StatusFailed, flotilla.StatusStopped, flotilla.StatusRunning}
	for i, k := range kids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			end := ends[i%len(ends)]
			try := func(tr flotilla.Transition) {
				for range 20 {
					if _, err := s.TransitionRun(ctx, tr); err == nil || errors.Is(err, flotilla.ErrConflict) {
						return
					} else if !errors.Is(err, flotilla.ErrThrottled) {
						t.Errorf("child %d: %v", i, err)
						return
					}
					time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
				}
			}
			if end == flotilla.StatusStopped {
				try(flotilla.Transition{RunID: k.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusStopped,
					At: Epoch.Add(time.Minute), Source: flotilla.SourceAPI, ReasonCode: flotilla.ReasonStopped})
				return
			}
			try(admit(k.ID, 0))
			try(flotilla.Transition{RunID: k.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusRunning,
				At: Epoch.Add(2 * time.Minute), Source: flotilla.SourceEngine, Reason: "running"})
			if end != flotilla.StatusRunning {
				try(finish(k.ID, end, map[bool]int{true: 0, false: 1}[end == flotilla.StatusSucceeded]))
			}
		}()
	}
	wg.Wait()
	checkSummary(t, s, p.ID, map[flotilla.RunStatus]int{flotilla.StatusSucceeded: 3, flotilla.StatusFailed: 3, flotilla.StatusStopped: 3, flotilla.StatusRunning: 3},
		[]int{101, 102, 105, 106, 109, 110})
	if u := usage(t, s, "default"); u.Queued != 0 || u.Running != 3 {
		t.Fatalf("usage = %+v, want 3 running children and none queued", u)
	}
	// A run with no children has an empty summary.
	checkSummary(t, s, kids[0].ID, map[flotilla.RunStatus]int{}, nil)
}

func checkSummary(t *testing.T, s flotilla.Store, parent string, counts map[flotilla.RunStatus]int, failed []int) {
	t.Helper()
	sum, err := s.ChildSummary(context.Background(), parent)
	if err != nil {
		t.Fatalf("ChildSummary(%s): %v", parent, err)
	}
	ended := 0
	for st, n := range counts {
		if st.Terminal() {
			ended += n
		}
	}
	got := map[flotilla.RunStatus]int{}
	for st, n := range sum.Counts {
		if n != 0 {
			got[st] = n
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(counts) || sum.Ended != ended || !slices.Equal(sum.FailedIndexes, failed) {
		t.Fatalf("summary of %s = %v ended %d failed %v; want %v ended %d failed %v", parent, got, sum.Ended, sum.FailedIndexes, counts, ended, failed)
	}
}
