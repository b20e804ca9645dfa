package flotillatest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestStore runs the Store conformance suite. newStore must return an
// empty store for each call.
func TestStore(t *testing.T, newStore func(t *testing.T) flotilla.Store) {
	t.Run("DefinitionLifecycle", func(t *testing.T) { t.Parallel(); testDefinitionLifecycle(t, newStore(t)) })
	t.Run("DefinitionList", func(t *testing.T) { t.Parallel(); testDefinitionList(t, newStore(t)) })
	t.Run("RunCreateAndIdempotency", func(t *testing.T) { t.Parallel(); testRunCreate(t, newStore(t)) })
	t.Run("RunList", func(t *testing.T) { t.Parallel(); testRunList(t, newStore(t)) })
	t.Run("Transitions", func(t *testing.T) { t.Parallel(); testTransitions(t, newStore(t)) })
	t.Run("OwnerCap", func(t *testing.T) { t.Parallel(); testOwnerCap(t, newStore(t)) })
	t.Run("NewAttempt", func(t *testing.T) { t.Parallel(); testNewAttempt(t, newStore(t)) })
	t.Run("ConcurrentAdmission", func(t *testing.T) { t.Parallel(); testConcurrentAdmission(t, newStore(t)) })
	t.Run("QueueOrder", func(t *testing.T) { t.Parallel(); testQueueOrder(t, newStore(t)) })
	t.Run("ArchitectureAndCapacity", func(t *testing.T) { t.Parallel(); testArchitectureAndCapacity(t, newStore(t)) })
	t.Run("HistoryFilters", func(t *testing.T) { t.Parallel(); testHistoryFilters(t, newStore(t)) })
	t.Run("QueueCountsAndTurns", func(t *testing.T) { t.Parallel(); testQueueCountsAndTurns(t, newStore(t)) })
	t.Run("TaskRole", func(t *testing.T) { t.Parallel(); testTaskRole(t, newStore(t)) })
	t.Run("OutOfMemoryRetry", func(t *testing.T) { t.Parallel(); testOutOfMemoryRetry(t, newStore(t)) })
	t.Run("TemplateParams", func(t *testing.T) { t.Parallel(); testTemplateParams(t, newStore(t)) })
	t.Run("RetryOnAnotherCluster", func(t *testing.T) { t.Parallel(); testRetryOnAnotherCluster(t, newStore(t)) })
	t.Run("NotifyAndAppendedEvents", func(t *testing.T) { t.Parallel(); testNotifyAndAppendedEvents(t, newStore(t)) })
	t.Run("WaitingRuns", func(t *testing.T) { t.Parallel(); testWaitingRuns(t, newStore(t)) })
	t.Run("Arrays", func(t *testing.T) { t.Parallel(); testArrays(t, newStore(t)) })
}

// testHistoryFilters builds a history of 120 runs (ended, active and
// queued, over 3 clusters, 5 owners, 4 definitions, 3 tags, 2 schedules)
// and checks every filter, alone and combined, against the runs
// themselves, walking the pages with small limits: each run that matches
// comes exactly once, newest first, and the last page has no token.
// Pages may be short (a store may stop reading at a budget), never wrong.
func testHistoryFilters(t *testing.T, s flotilla.Store) {
	var all []flotilla.Run
	for i := range 120 {
		r := NewRun([]string{"default", "gpu", "batch"}[i%3], []string{"ana", "ben", "cy", "dee", "eve"}[i%5], time.Duration(i)*time.Minute)
		r.DefinitionID = fmt.Sprintf("def_%d", i%4)
		r.Tags = []string{fmt.Sprintf("tag%d", i%3)}
		if i%7 == 0 {
			r.Tags = append(r.Tags, "rare")
		}
		if i%10 == 0 {
			r.ScheduleID = fmt.Sprintf("sch_%d", i%20)
		}
		mustCreateRun(t, s, r)
		switch {
		case i >= 110: // the newest stay QUEUED
		case i >= 100: // active
			mustTransition(t, s, admit(r.ID, 0))
			if i%2 == 0 {
				mustTransition(t, s, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusRunning,
					At: Epoch.Add(2 * time.Minute), Source: flotilla.SourceEngine})
			}
		case i%13 == 0: // stopped while queued
			mustTransition(t, s, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusStopped,
				At: Epoch.Add(time.Minute), Source: flotilla.SourceAPI, ReasonCode: flotilla.ReasonStopped})
		default:
			mustTransition(t, s, admit(r.ID, 0))
			if i%9 == 0 {
				mustTransition(t, s, finish(r.ID, flotilla.StatusFailed, 1))
			} else {
				mustTransition(t, s, finish(r.ID, flotilla.StatusSucceeded, 0))
			}
		}
	}
	ctx := context.Background()
	// The runs as stored, newest first.
	page, err := s.ListRuns(ctx, flotilla.RunFilter{Limit: 500})
	if err != nil {
		t.Fatalf("ListRuns: %v", err)
	}
	for page.NextToken != "" {
		more, err := s.ListRuns(ctx, flotilla.RunFilter{Limit: 500, NextToken: page.NextToken})
		if err != nil {
			t.Fatalf("ListRuns: %v", err)
		}
		page.Items = append(page.Items, more.Items...)
		page.NextToken = more.NextToken
	}
	all = page.Items
	if len(all) != 120 {
		t.Fatalf("ListRuns listed %d runs, want 120", len(all))
	}
	st := func(ss ...flotilla.RunStatus) []flotilla.RunStatus { return ss }
	filters := []flotilla.RunFilter{
		{Statuses: st(flotilla.StatusFailed)},
		{Statuses: st(flotilla.StatusStopped)},
		{Statuses: st(flotilla.StatusSucceeded)},
		{Statuses: st(flotilla.StatusQueued)},
		{Statuses: st(flotilla.StatusPending, flotilla.StatusRunning), Cluster: "gpu"},
		{Statuses: st(flotilla.StatusRunning), Cluster: "default"},
		{Statuses: st(flotilla.StatusFailed, flotilla.StatusStopped)},
		{Statuses: st(flotilla.StatusFailed, flotilla.StatusSucceeded)},
		{Statuses: st(flotilla.StatusFailed), Cluster: "batch"},
		{Statuses: st(flotilla.StatusFailed), DefinitionID: "def_1"},
		{Statuses: st(flotilla.StatusQueued), Owner: "eve"},
		{Statuses: st(flotilla.StatusQueued), Cluster: "gpu"},
		{Statuses: st(flotilla.StatusQueued, flotilla.StatusPending, flotilla.StatusRunning)},
		{Statuses: st(flotilla.StatusQueued, flotilla.StatusPending, flotilla.StatusRunning), Owner: "ana"},
		{Statuses: st(flotilla.StatusQueued, flotilla.StatusFailed), DefinitionID: "def_2"},
		{Statuses: st(flotilla.StatusSucceeded), DefinitionID: "def_2", Owner: "ben"},
		{Cluster: "gpu"},
		{DefinitionID: "def_3"},
		{Owner: "cy"},
		{Owner: "cy", Tag: "rare"},
		{Tag: "rare"},
		{ScheduleID: "sch_10"},
		{DefinitionID: "def_0", Since: Epoch.Add(30 * time.Minute), Until: Epoch.Add(90 * time.Minute)},
		{Statuses: st(flotilla.StatusFailed), Since: Epoch.Add(50 * time.Minute)},
		{Owner: "nobody"},
	}
	for _, f := range filters {
		var want []string
		for _, r := range all {
			if matches(r, f) {
				want = append(want, r.ID)
			}
		}
		for _, limit := range []int{3, 50} {
			f.Limit = limit
			if got := collectRuns(t, s, f); !slices.Equal(got, want) {
				t.Errorf("%+v: got %d runs %v, want %d %v", f, len(got), got, len(want), want)
			}
		}
	}
}

// matches is what a RunFilter means, for the suite's expectations.
func matches(r flotilla.Run, f flotilla.RunFilter) bool {
	return (len(f.Statuses) == 0 || slices.Contains(f.Statuses, r.Status)) &&
		(f.Cluster == "" || r.Cluster == f.Cluster) &&
		(f.DefinitionID == "" || r.DefinitionID == f.DefinitionID) &&
		(f.Owner == "" || r.Owner == f.Owner) &&
		(f.Tag == "" || slices.Contains(r.Tags, f.Tag)) &&
		(f.ScheduleID == "" || r.ScheduleID == f.ScheduleID) &&
		(f.Since.IsZero() || !r.QueuedAt.Before(f.Since)) &&
		(f.Until.IsZero() || r.QueuedAt.Before(f.Until))
}

// testQueueCountsAndTurns: the queued count of ClusterUsage follows every
// way into and out of the queue (launch, admission, a stop, a queue
// timeout, a new attempt), per cluster; each owner's head moves on when
// the head leaves; and the queue position counts only runs still queued.
func testQueueCountsAndTurns(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	a1 := mustCreateRun(t, s, NewRun("default", "alice", 0))
	a2 := mustCreateRun(t, s, NewRun("default", "alice", time.Second))
	b1 := mustCreateRun(t, s, NewRun("default", "bob", 2*time.Second))
	b2 := mustCreateRun(t, s, NewRun("default", "bob", 3*time.Second))
	c1 := mustCreateRun(t, s, NewRun("default", "carol", 4*time.Second))
	mustCreateRun(t, s, NewRun("gpu", "alice", 5*time.Second))
	heads := func(want ...flotilla.Run) {
		t.Helper()
		got, err := s.OldestQueuedPerOwner(ctx, "default", 10)
		if err != nil {
			t.Fatalf("OldestQueuedPerOwner: %v", err)
		}
		var g, w []string
		for _, r := range got {
			g = append(g, r.ID)
		}
		for _, r := range want {
			w = append(w, r.ID)
		}
		if !slices.Equal(g, w) {
			t.Fatalf("heads = %v, want %v", g, w)
		}
	}
	queued := func(cluster string, want int) {
		t.Helper()
		if u := usage(t, s, cluster); u.Queued != want {
			t.Fatalf("usage(%s).Queued = %d, want %d", cluster, u.Queued, want)
		}
	}
	queued("default", 5)
	queued("gpu", 1)
	heads(a1, b1, c1)

	mustTransition(t, s, admit(a1.ID, 0)) // admitted
	queued("default", 4)
	heads(a2, b1, c1)
	mustTransition(t, s, flotilla.Transition{RunID: b1.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusStopped,
		At: Epoch.Add(time.Minute), Source: flotilla.SourceAPI, ReasonCode: flotilla.ReasonStopped}) // stopped while queued
	queued("default", 3)
	heads(a2, b2, c1)
	mustTransition(t, s, flotilla.Transition{RunID: c1.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusFailed,
		At: Epoch.Add(time.Minute), Source: flotilla.SourceSweep, ReasonCode: flotilla.ReasonQueueTimeout}) // queue timeout
	queued("default", 2)
	heads(a2, b2)
	if n, err := s.QueuedAhead(ctx, b2); err != nil || n != 1 {
		t.Fatalf("QueuedAhead(b2) = %d, %v; want 1 (a2)", n, err)
	}
	// A new attempt goes back into the queue, in its original place.
	mustTransition(t, s, flotilla.Transition{RunID: a1.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, Attempt: 1, To: flotilla.StatusQueued,
		NewAttempt: true, At: Epoch.Add(2 * time.Minute), Source: flotilla.SourceEngine, Reason: "retrying"})
	queued("default", 3)
	heads(a1, b2)
	if u := usage(t, s, "default"); u.Running != 0 {
		t.Fatalf("usage = %+v, want no slot held", u)
	}
	if q, err := s.ListQueued(ctx, "default", 10); err != nil || len(q) != 3 || q[0].ID != a1.ID || q[1].ID != a2.ID || q[2].ID != b2.ID {
		t.Fatalf("ListQueued = %v, %v; want a1, a2, b2", q, err)
	}
	queued("gpu", 1)
}

func mustCreateRun(t *testing.T, s flotilla.Store, r flotilla.Run) flotilla.Run {
	t.Helper()
	got, created, err := s.CreateRun(context.Background(), r)
	if err != nil || !created {
		t.Fatalf("CreateRun(%s) = created %v, %v", r.ID, created, err)
	}
	return got
}

func mustTransition(t *testing.T, s flotilla.Store, tr flotilla.Transition) flotilla.Run {
	t.Helper()
	got, err := s.TransitionRun(context.Background(), tr)
	if err != nil {
		t.Fatalf("TransitionRun(%s %v→%s) = %v", tr.RunID, tr.From, tr.To, err)
	}
	return got
}

func admit(id string, max int) flotilla.Transition {
	return flotilla.Transition{RunID: id, From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusPending,
		At: Epoch.Add(time.Minute), Source: flotilla.SourceDispatcher, Reason: "starting", MaxRunning: max}
}

func finish(id string, to flotilla.RunStatus, code int) flotilla.Transition {
	rc := flotilla.ReasonSucceeded
	if code != 0 {
		rc = flotilla.ReasonExitCode
	}
	return flotilla.Transition{RunID: id, From: []flotilla.RunStatus{flotilla.StatusPending, flotilla.StatusRunning}, To: to,
		At: Epoch.Add(3 * time.Minute), Source: flotilla.SourceEngine, Reason: fmt.Sprintf("exit code %d", code),
		ReasonCode: rc, ExitCode: ptr(code), CostUSD: ptr(0.0123)}
}

func usage(t *testing.T, s flotilla.Store, cluster string) flotilla.Usage {
	t.Helper()
	u, err := s.ClusterUsage(context.Background(), cluster)
	if err != nil {
		t.Fatalf("ClusterUsage(%s): %v", cluster, err)
	}
	return u
}

func testDefinitionLifecycle(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	d := NewDefinition("hello")
	got, err := s.CreateDefinition(ctx, d)
	if err != nil {
		t.Fatalf("CreateDefinition: %v", err)
	}
	if got.Revision != 1 || got.ID != d.ID {
		t.Fatalf("created = rev %d id %s, want rev 1 id %s", got.Revision, got.ID, d.ID)
	}
	dup := NewDefinition("hello")
	if _, err := s.CreateDefinition(ctx, dup); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("CreateDefinition with a taken alias = %v, want ErrConflict", err)
	}
	for _, ref := range []string{d.ID, "hello"} {
		got, err := s.GetDefinition(ctx, ref)
		if err != nil || got.ID != d.ID || got.Image != "alpine:3" || got.Env["K"] != "V" || !slices.Equal(got.Tags, []string{"t1"}) ||
			!maps.Equal(got.Secrets, d.Secrets) {
			t.Fatalf("GetDefinition(%s) = %+v, %v", ref, got, err)
		}
		if !got.CreatedAt.Equal(Epoch) {
			t.Fatalf("GetDefinition(%s).CreatedAt = %v, want %v", ref, got.CreatedAt, Epoch)
		}
	}
	if _, err := s.GetDefinition(ctx, "nope"); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("GetDefinition(nope) = %v, want ErrNotFound", err)
	}

	// A new revision, renamed; the old alias is free again.
	v2 := got
	v2.Revision = 2
	v2.Alias = "hello2"
	v2.Image = "alpine:3.20"
	v2.UpdatedAt = Epoch.Add(time.Hour)
	if _, err := s.UpdateDefinition(ctx, v2); err != nil {
		t.Fatalf("UpdateDefinition: %v", err)
	}
	stale := v2
	stale.Image = "busybox"
	if _, err := s.UpdateDefinition(ctx, stale); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("UpdateDefinition with a stale revision = %v, want ErrConflict", err)
	}
	if _, err := s.GetDefinition(ctx, "hello"); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("old alias after rename = %v, want ErrNotFound", err)
	}
	cur, err := s.GetDefinition(ctx, "hello2")
	if err != nil || cur.Revision != 2 || cur.Image != "alpine:3.20" {
		t.Fatalf("GetDefinition(hello2) = %+v, %v", cur, err)
	}
	old, err := s.GetDefinitionRevision(ctx, d.ID, 1)
	if err != nil || old.Image != "alpine:3" || old.Alias != "hello" {
		t.Fatalf("GetDefinitionRevision(1) = %+v, %v", old, err)
	}
	if _, err := s.GetDefinitionRevision(ctx, "hello2", 7); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("GetDefinitionRevision(7) = %v, want ErrNotFound", err)
	}

	// Renaming onto a taken alias conflicts and changes nothing.
	other := NewDefinition("other")
	if _, err := s.CreateDefinition(ctx, other); err != nil {
		t.Fatalf("CreateDefinition(other): %v", err)
	}
	v3 := cur
	v3.Revision = 3
	v3.Alias = "other"
	if _, err := s.UpdateDefinition(ctx, v3); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("rename onto a taken alias = %v, want ErrConflict", err)
	}
	if cur, _ := s.GetDefinition(ctx, d.ID); cur.Revision != 2 || cur.Alias != "hello2" {
		t.Fatalf("after a failed rename: %+v", cur)
	}

	if err := s.DeleteDefinition(ctx, "hello2"); err != nil {
		t.Fatalf("DeleteDefinition: %v", err)
	}
	for _, ref := range []string{d.ID, "hello2"} {
		if _, err := s.GetDefinition(ctx, ref); !errors.Is(err, flotilla.ErrNotFound) {
			t.Fatalf("GetDefinition(%s) after delete = %v, want ErrNotFound", ref, err)
		}
	}
	if err := s.DeleteDefinition(ctx, "hello2"); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("second DeleteDefinition = %v, want ErrNotFound", err)
	}
	// The alias can be used again.
	if _, err := s.CreateDefinition(ctx, NewDefinition("hello2")); err != nil {
		t.Fatalf("reusing a deleted alias: %v", err)
	}
}

func testDefinitionList(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	specs := []struct{ alias, group, image, tag string }{
		{"etl-daily", "data", "python:3.12", "nightly"},
		{"etl-hourly", "data", "python:3.12", "hourly"},
		{"train", "ml", "pytorch/pytorch:2", "gpu"},
		{"report", "bi", "alpine:3", "nightly"},
	}
	for _, sp := range specs {
		d := NewDefinition(sp.alias)
		d.Group, d.Image, d.Tags = sp.group, sp.image, []string{sp.tag}
		if _, err := s.CreateDefinition(ctx, d); err != nil {
			t.Fatalf("CreateDefinition(%s): %v", sp.alias, err)
		}
	}
	cases := []struct {
		name string
		f    flotilla.DefinitionFilter
		want []string
	}{
		{"all", flotilla.DefinitionFilter{}, []string{"etl-daily", "etl-hourly", "report", "train"}},
		{"alias substring", flotilla.DefinitionFilter{Alias: "etl"}, []string{"etl-daily", "etl-hourly"}},
		{"group", flotilla.DefinitionFilter{Group: "data"}, []string{"etl-daily", "etl-hourly"}},
		{"tag", flotilla.DefinitionFilter{Tag: "nightly"}, []string{"etl-daily", "report"}},
		{"image substring", flotilla.DefinitionFilter{Image: "torch"}, []string{"train"}},
		{"combined", flotilla.DefinitionFilter{Group: "data", Tag: "hourly"}, []string{"etl-hourly"}},
		{"none", flotilla.DefinitionFilter{Alias: "zzz"}, nil},
	}
	for _, c := range cases {
		got := collectDefinitions(t, s, c.f)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	// Paging with limit 1 sees each definition once, in alias order.
	got := collectDefinitions(t, s, flotilla.DefinitionFilter{Limit: 1})
	if !slices.Equal(got, []string{"etl-daily", "etl-hourly", "report", "train"}) {
		t.Errorf("paged by 1: %v", got)
	}
}

func collectDefinitions(t *testing.T, s flotilla.Store, f flotilla.DefinitionFilter) []string {
	t.Helper()
	var out []string
	for i := 0; ; i++ {
		p, err := s.ListDefinitions(context.Background(), f)
		if err != nil {
			t.Fatalf("ListDefinitions(%+v): %v", f, err)
		}
		for _, d := range p.Items {
			out = append(out, d.Alias)
		}
		if p.NextToken == "" {
			return out
		}
		if i > 100 {
			t.Fatalf("ListDefinitions does not end")
		}
		f.NextToken = p.NextToken
	}
}

func testRunCreate(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	r := NewRun("default", "alice", 0)
	r.IdempotencyKey = "nightly-2026-11-26"
	r.RequestHash = "sha256:first-request"
	est := 0.5
	r.EstimatedCostUSD = &est
	got := mustCreateRun(t, s, r)
	if got.ID != r.ID || got.Status != flotilla.StatusQueued {
		t.Fatalf("CreateRun = %s", describe(got))
	}
	read, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	if read.Owner != "alice" || read.Env["K"] != "V" || !maps.Equal(read.Secrets, r.Secrets) || read.Attempt != 1 || len(read.Attempts) != 1 ||
		!read.QueuedAt.Equal(r.QueuedAt) || read.EstimatedCostUSD == nil || *read.EstimatedCostUSD != 0.5 ||
		read.IdempotencyKey != r.IdempotencyKey || read.RequestHash != r.RequestHash || read.MaxAttempts != 3 || read.Command != "echo hi" {
		t.Fatalf("GetRun = %+v", read)
	}
	if _, err := s.GetRun(ctx, "run_missing"); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("GetRun(missing) = %v, want ErrNotFound", err)
	}

	// Same owner, same key: the first run comes back, with the hash of
	// the request that made it (the use case compares it with the new
	// one's), and nothing is written.
	again := NewRun("default", "alice", time.Second)
	again.IdempotencyKey = r.IdempotencyKey
	again.RequestHash = "sha256:another-request"
	back, created, err := s.CreateRun(ctx, again)
	if err != nil || created || back.ID != r.ID || back.RequestHash != r.RequestHash {
		t.Fatalf("CreateRun with a used key = %s (hash %q) created %v, %v; want %s with hash %q", back.ID, back.RequestHash, created, err, r.ID, r.RequestHash)
	}
	if _, err := s.GetRun(ctx, again.ID); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("the duplicate was written: %v", err)
	}
	// Another owner may use the same key.
	bob := NewRun("default", "bob", 2*time.Second)
	bob.IdempotencyKey = r.IdempotencyKey
	mustCreateRun(t, s, bob)
	// The same run id twice is a conflict.
	if _, _, err := s.CreateRun(ctx, NewRunWithID(r)); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("CreateRun with an existing id = %v, want ErrConflict", err)
	}

	evs, err := s.ListRunEvents(ctx, r.ID)
	if err != nil || len(evs) != 1 || evs[0].To != flotilla.StatusQueued || evs[0].From != "" {
		t.Fatalf("ListRunEvents after create = %+v, %v", evs, err)
	}
	if u := usage(t, s, "default"); u.Queued != 2 || u.Running != 0 {
		t.Fatalf("usage = %+v, want 2 queued", u)
	}
}

// NewRunWithID returns a copy of r without its idempotency key, keeping its
// id: a second create of the same run.
func NewRunWithID(r flotilla.Run) flotilla.Run {
	r.IdempotencyKey = ""
	return r
}

func testRunList(t *testing.T, s flotilla.Store) {
	var all []flotilla.Run
	for i := range 12 {
		cluster := []string{"default", "gpu"}[i%2]
		owner := []string{"alice", "bob", "carol"}[i%3]
		r := NewRun(cluster, owner, time.Duration(i)*time.Minute)
		if i%4 == 0 {
			r.DefinitionID = "def_other"
		}
		if i%5 == 0 {
			r.Tags = []string{"special", "t1"}
		}
		if i == 7 {
			r.ScheduleID = "sch_1"
		}
		all = append(all, mustCreateRun(t, s, r))
	}
	// Move a few along: 0 and 1 succeed, 2 is running.
	for _, i := range []int{0, 1, 2} {
		mustTransition(t, s, admit(all[i].ID, 0))
	}
	mustTransition(t, s, finish(all[0].ID, flotilla.StatusSucceeded, 0))
	mustTransition(t, s, finish(all[1].ID, flotilla.StatusFailed, 2))
	mustTransition(t, s, flotilla.Transition{RunID: all[2].ID, From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusRunning, At: Epoch.Add(2 * time.Minute), Source: flotilla.SourceEngine})

	idx := func(is ...int) []string {
		var out []string
		for _, i := range is {
			out = append(out, all[i].ID)
		}
		return out
	}
	cases := []struct {
		name string
		f    flotilla.RunFilter
		want []string
	}{
		{"all newest first", flotilla.RunFilter{}, idx(11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)},
		{"status", flotilla.RunFilter{Statuses: []flotilla.RunStatus{flotilla.StatusSucceeded}}, idx(0)},
		{"statuses", flotilla.RunFilter{Statuses: []flotilla.RunStatus{flotilla.StatusFailed, flotilla.StatusRunning}}, idx(2, 1)},
		{"cluster", flotilla.RunFilter{Cluster: "gpu"}, idx(11, 9, 7, 5, 3, 1)},
		{"definition", flotilla.RunFilter{DefinitionID: "def_other"}, idx(8, 4, 0)},
		{"owner", flotilla.RunFilter{Owner: "bob"}, idx(10, 7, 4, 1)},
		{"tag", flotilla.RunFilter{Tag: "special"}, idx(10, 5, 0)},
		{"schedule", flotilla.RunFilter{ScheduleID: "sch_1"}, idx(7)},
		{"since", flotilla.RunFilter{Since: Epoch.Add(9 * time.Minute)}, idx(11, 10, 9)},
		{"until", flotilla.RunFilter{Until: Epoch.Add(2 * time.Minute)}, idx(1, 0)},
		{"since and until", flotilla.RunFilter{Since: Epoch.Add(3 * time.Minute), Until: Epoch.Add(5 * time.Minute)}, idx(4, 3)},
		{"status and definition", flotilla.RunFilter{Statuses: []flotilla.RunStatus{flotilla.StatusQueued}, DefinitionID: "def_other"}, idx(8, 4)},
		{"cluster and owner", flotilla.RunFilter{Cluster: "default", Owner: "alice"}, idx(6, 0)},
		{"nothing", flotilla.RunFilter{Owner: "zed"}, nil},
	}
	for _, c := range cases {
		for _, limit := range []int{0, 1, 5} {
			f := c.f
			f.Limit = limit
			got := collectRuns(t, s, f)
			if !slices.Equal(got, c.want) {
				t.Errorf("%s (limit %d): got %v, want %v", c.name, limit, got, c.want)
			}
		}
	}
}

func collectRuns(t *testing.T, s flotilla.Store, f flotilla.RunFilter) []string {
	t.Helper()
	var out []string
	for i := 0; ; i++ {
		p, err := s.ListRuns(context.Background(), f)
		if err != nil {
			t.Fatalf("ListRuns(%+v): %v", f, err)
		}
		if f.Limit > 0 && len(p.Items) > f.Limit {
			t.Fatalf("ListRuns returned %d items, over the limit %d", len(p.Items), f.Limit)
		}
		for _, r := range p.Items {
			out = append(out, r.ID)
		}
		if p.NextToken == "" {
			return out
		}
		if i > 200 {
			t.Fatalf("ListRuns does not end")
		}
		f.NextToken = p.NextToken
	}
}

func testTransitions(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	a := mustCreateRun(t, s, NewRun("default", "alice", 0))
	b := mustCreateRun(t, s, NewRun("default", "alice", time.Second))
	c := mustCreateRun(t, s, NewRun("default", "bob", 2*time.Second))
	other := mustCreateRun(t, s, NewRun("other", "bob", 3*time.Second))

	got := mustTransition(t, s, admit(a.ID, 2))
	if got.Status != flotilla.StatusPending || got.StatusReason != "starting" {
		t.Fatalf("admitted = %s %q", describe(got), got.StatusReason)
	}
	mustTransition(t, s, admit(b.ID, 2))
	if _, err := s.TransitionRun(ctx, admit(c.ID, 2)); !errors.Is(err, flotilla.ErrNoCapacity) {
		t.Fatalf("third admission with max 2 = %v, want ErrNoCapacity", err)
	}
	if r, _ := s.GetRun(ctx, c.ID); r.Status != flotilla.StatusQueued {
		t.Fatalf("refused run moved: %s", describe(r))
	}
	// Another cluster has its own slots.
	mustTransition(t, s, admit(other.ID, 1))
	if u := usage(t, s, "default"); u.Running != 2 || u.Queued != 1 || u.RunningOwner["alice"] != 2 {
		t.Fatalf("usage(default) = %+v", u)
	}

	// Annotate without moving: a task id, no event unless asked.
	got = mustTransition(t, s, flotilla.Transition{RunID: a.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusPending,
		At: Epoch.Add(90 * time.Second), Source: flotilla.SourceDispatcher, TaskID: "task-a", Engine: "local", Reason: "provisioning"})
	if got.Current().TaskID != "task-a" || got.Engine != "local" || got.StatusReason != "provisioning" {
		t.Fatalf("annotated = %+v", got)
	}
	running := mustTransition(t, s, flotilla.Transition{RunID: a.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusRunning,
		At: Epoch.Add(2 * time.Minute), Source: flotilla.SourceEngine, Reason: "running"})
	if running.StartedAt == nil || !running.StartedAt.Equal(Epoch.Add(2*time.Minute)) {
		t.Fatalf("StartedAt = %v", running.StartedAt)
	}
	// A duplicate event finds the run moved on.
	if _, err := s.TransitionRun(ctx, flotilla.Transition{RunID: a.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusRunning,
		At: Epoch.Add(2 * time.Minute), Source: flotilla.SourceEngine}); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("duplicate PENDING→RUNNING = %v, want ErrConflict", err)
	}
	// A stop request is recorded with an event.
	mustTransition(t, s, flotilla.Transition{RunID: a.ID, From: []flotilla.RunStatus{flotilla.StatusRunning}, To: flotilla.StatusRunning,
		At: Epoch.Add(150 * time.Second), Source: flotilla.SourceAPI, Reason: "stopping (asked by alice)", Event: true,
		StopRequest: &flotilla.StopRequest{By: "alice", Code: flotilla.ReasonStopped, Reason: "stopped by alice", At: Epoch.Add(150 * time.Second)}})

	done := mustTransition(t, s, finish(a.ID, flotilla.StatusFailed, 3))
	if done.Status != flotilla.StatusFailed || done.ExitCode == nil || *done.ExitCode != 3 || done.ReasonCode != flotilla.ReasonExitCode ||
		done.FinishedAt == nil || done.CostUSD == nil || *done.CostUSD != 0.0123 || done.StopRequest == nil || done.StopRequest.By != "alice" {
		t.Fatalf("finished = %+v", done)
	}
	if cur := done.Current(); cur.FinishedAt == nil || cur.ExitCode == nil || *cur.ExitCode != 3 || cur.TaskID != "task-a" || cur.StartedAt == nil {
		t.Fatalf("attempt record = %+v", cur)
	}
	// Ending twice releases the slot once.
	if _, err := s.TransitionRun(ctx, finish(a.ID, flotilla.StatusSucceeded, 0)); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("second terminal transition = %v, want ErrConflict", err)
	}
	if u := usage(t, s, "default"); u.Running != 1 || u.RunningOwner["alice"] != 1 {
		t.Fatalf("usage after one end = %+v, want 1 running", u)
	}
	// The freed slot admits c.
	mustTransition(t, s, admit(c.ID, 2))
	// A queued run can be stopped directly: no slot change.
	d := mustCreateRun(t, s, NewRun("default", "carol", 4*time.Second))
	mustTransition(t, s, flotilla.Transition{RunID: d.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusStopped,
		At: Epoch.Add(5 * time.Minute), Source: flotilla.SourceAPI, Reason: "stopped by carol", ReasonCode: flotilla.ReasonStopped})
	if u := usage(t, s, "default"); u.Running != 2 || u.Queued != 0 {
		t.Fatalf("usage = %+v, want 2 running 0 queued", u)
	}
	// Wrong attempt and unknown run.
	tr := finish(b.ID, flotilla.StatusSucceeded, 0)
	tr.Attempt = 2
	if _, err := s.TransitionRun(ctx, tr); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("transition on the wrong attempt = %v, want ErrConflict", err)
	}
	if _, err := s.TransitionRun(ctx, finish("run_missing", flotilla.StatusSucceeded, 0)); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("transition of a missing run = %v, want ErrNotFound", err)
	}

	evs, err := s.ListRunEvents(ctx, a.ID)
	if err != nil {
		t.Fatalf("ListRunEvents: %v", err)
	}
	var story []string
	for _, e := range evs {
		story = append(story, fmt.Sprintf("%s>%s/%s", e.From, e.To, e.Source))
	}
	want := []string{">QUEUED/api", "QUEUED>PENDING/dispatcher", "PENDING>RUNNING/engine", "RUNNING>RUNNING/api", "RUNNING>FAILED/engine"}
	if !slices.Equal(story, want) {
		t.Fatalf("life story = %v, want %v", story, want)
	}
	if evs[4].Reason != "exit code 3" || !evs[4].Time.Equal(Epoch.Add(3*time.Minute)) {
		t.Fatalf("last event = %+v", evs[4])
	}
}

func testOwnerCap(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	a1 := mustCreateRun(t, s, NewRun("default", "alice", 0))
	a2 := mustCreateRun(t, s, NewRun("default", "alice", time.Second))
	b1 := mustCreateRun(t, s, NewRun("default", "bob", 2*time.Second))
	capped := func(id string) flotilla.Transition { tr := admit(id, 10); tr.MaxRunningPerOwner = 1; return tr }
	mustTransition(t, s, capped(a1.ID))
	if _, err := s.TransitionRun(ctx, capped(a2.ID)); !errors.Is(err, flotilla.ErrNoCapacity) {
		t.Fatalf("alice's second run with a cap of 1 = %v, want ErrNoCapacity", err)
	}
	mustTransition(t, s, capped(b1.ID))
	mustTransition(t, s, finish(a1.ID, flotilla.StatusSucceeded, 0))
	mustTransition(t, s, capped(a2.ID))
}

func testNewAttempt(t *testing.T, s flotilla.Store) {
	r := mustCreateRun(t, s, NewRun("default", "alice", 0))
	mustTransition(t, s, admit(r.ID, 1))
	mustTransition(t, s, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusPending,
		At: Epoch.Add(time.Minute), Source: flotilla.SourceDispatcher, TaskID: "t1"})
	got := mustTransition(t, s, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending, flotilla.StatusRunning},
		Attempt: 1, To: flotilla.StatusQueued, NewAttempt: true, At: Epoch.Add(2 * time.Minute), Source: flotilla.SourceEngine,
		Reason: "attempt 1 of 3 failed: could not start; retrying", WaitReason: flotilla.WaitNoFreeSlot})
	if got.Attempt != 2 || len(got.Attempts) != 2 || got.Attempts[0].FinishedAt == nil || got.Attempts[0].TaskID != "t1" ||
		got.Attempts[1].TaskID != "" || got.Status != flotilla.StatusQueued || got.WaitReason != flotilla.WaitNoFreeSlot {
		t.Fatalf("after a new attempt: %+v", got)
	}
	if u := usage(t, s, "default"); u.Running != 0 || u.Queued != 1 {
		t.Fatalf("usage = %+v, want the slot back", u)
	}
	got = mustTransition(t, s, admit(r.ID, 1))
	got = mustTransition(t, s, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, Attempt: 2,
		To: flotilla.StatusPending, At: Epoch.Add(3 * time.Minute), Source: flotilla.SourceDispatcher, TaskID: "t2"})
	if got.Current().TaskID != "t2" || got.Attempts[0].TaskID != "t1" {
		t.Fatalf("attempts = %+v", got.Attempts)
	}
}

func testConcurrentAdmission(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	var runs []flotilla.Run
	for i := range 10 {
		runs = append(runs, mustCreateRun(t, s, NewRun("default", "alice", time.Duration(i)*time.Second)))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := map[string]int{}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range runs {
				r := runs[(i+w)%len(runs)]
				if _, err := s.TransitionRun(ctx, admit(r.ID, 3)); err == nil {
					mu.Lock()
					admitted[r.ID]++
					mu.Unlock()
				} else if !errors.Is(err, flotilla.ErrNoCapacity) && !errors.Is(err, flotilla.ErrConflict) {
					t.Errorf("admit: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if len(admitted) != 3 {
		t.Fatalf("admitted %d runs with max 3: %v", len(admitted), admitted)
	}
	for id, n := range admitted {
		if n != 1 {
			t.Fatalf("run %s admitted %d times", id, n)
		}
	}
	// Racing ends release each slot once.
	for id := range admitted {
		var wins sync.WaitGroup
		var ok int
		for range 4 {
			wins.Add(1)
			go func() {
				defer wins.Done()
				if _, err := s.TransitionRun(ctx, finish(id, flotilla.StatusSucceeded, 0)); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wins.Wait()
		if ok != 1 {
			t.Fatalf("run %s ended %d times", id, ok)
		}
	}
	if u := usage(t, s, "default"); u.Running != 0 || u.Queued != 7 {
		t.Fatalf("usage = %+v, want 0 running 7 queued", u)
	}
}

func testQueueOrder(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	var runs []flotilla.Run
	for i := range 5 {
		runs = append(runs, mustCreateRun(t, s, NewRun("default", "alice", time.Duration(i)*time.Second)))
	}
	mustCreateRun(t, s, NewRun("other", "alice", 10*time.Second))
	mustTransition(t, s, admit(runs[1].ID, 0))
	q, err := s.ListQueued(ctx, "default", 3)
	if err != nil {
		t.Fatalf("ListQueued: %v", err)
	}
	var got []string
	for _, r := range q {
		got = append(got, r.ID)
	}
	if want := []string{runs[0].ID, runs[2].ID, runs[3].ID}; !slices.Equal(got, want) {
		t.Fatalf("ListQueued = %v, want %v", got, want)
	}
	// One head per owner: bob's single run is not hidden behind alice's.
	bob := mustCreateRun(t, s, NewRun("default", "bob", 20*time.Second))
	carol := mustCreateRun(t, s, NewRun("default", "carol", 15*time.Second))
	heads, err := s.OldestQueuedPerOwner(ctx, "default", 10)
	if err != nil {
		t.Fatalf("OldestQueuedPerOwner: %v", err)
	}
	got = nil
	for _, r := range heads {
		got = append(got, r.ID)
	}
	if want := []string{runs[0].ID, carol.ID, bob.ID}; !slices.Equal(got, want) {
		t.Fatalf("OldestQueuedPerOwner = %v, want %v", got, want)
	}
	if heads, _ := s.OldestQueuedPerOwner(ctx, "default", 1); len(heads) != 1 || heads[0].ID != runs[0].ID {
		t.Fatalf("OldestQueuedPerOwner(limit 1) = %v", heads)
	}
	for i, want := range map[int]int{0: 0, 2: 1, 3: 2, 4: 3} {
		n, err := s.QueuedAhead(ctx, runs[i])
		if err != nil || n != want {
			t.Fatalf("QueuedAhead(run %d) = %d, %v; want %d", i, n, err, want)
		}
	}
}

// testArchitectureAndCapacity: a definition's architecture and a run's are
// kept, and what each attempt's task ran on (Transition.Capacity) is
// recorded on that attempt.
func testArchitectureAndCapacity(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	d := NewDefinition("arm-job")
	d.Architecture = flotilla.ArchARM
	created, err := s.CreateDefinition(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDefinition(ctx, created.ID)
	if err != nil || got.Architecture != flotilla.ArchARM {
		t.Fatalf("definition architecture %q (%v), want arm64", got.Architecture, err)
	}
	r := NewRun("default", "alice", 0)
	r.Architecture = flotilla.ArchARM
	r = mustCreateRun(t, s, r)
	mustTransition(t, s, admit(r.ID, 10))
	run := flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusRunning,
		At: Epoch.Add(2 * time.Minute), Source: flotilla.SourceEngine, Reason: "running", TaskID: "t1", Capacity: "FARGATE_SPOT"}
	mustTransition(t, s, run)
	end := finish(r.ID, flotilla.StatusSucceeded, 0)
	mustTransition(t, s, end)
	read, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if read.Architecture != flotilla.ArchARM || read.Current() == nil || read.Current().Capacity != "FARGATE_SPOT" {
		t.Errorf("run architecture %q, attempt %+v; want arm64 and capacity FARGATE_SPOT", read.Architecture, read.Current())
	}
}

// testTaskRole: a definition's task role is kept on it, its revisions and
// the runs made from it, and an update can clear it.
func testTaskRole(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	const role = "arn:aws:iam::123456789012:role/jobs/flotilla-job-reader"
	d := NewDefinition("reads-bucket")
	d.TaskRoleARN = role
	created, err := s.CreateDefinition(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetDefinition(ctx, created.ID); err != nil || got.TaskRoleARN != role {
		t.Fatalf("definition task role %q (%v), want %s", got.TaskRoleARN, err, role)
	}
	next := created
	next.TaskRoleARN, next.Revision = "", created.Revision+1
	if _, err := s.UpdateDefinition(ctx, next); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetDefinition(ctx, created.ID); got.TaskRoleARN != "" {
		t.Errorf("task role %q after it was cleared", got.TaskRoleARN)
	}
	if old, err := s.GetDefinitionRevision(ctx, created.ID, created.Revision); err != nil || old.TaskRoleARN != role {
		t.Errorf("revision %d's task role %q (%v), want %s", created.Revision, old.TaskRoleARN, err, role)
	}
	r := NewRun("default", "alice", 0)
	r.TaskRoleARN = role
	r = mustCreateRun(t, s, r)
	if read, err := s.GetRun(ctx, r.ID); err != nil || read.TaskRoleARN != role {
		t.Errorf("run task role %q (%v), want %s", read.TaskRoleARN, err, role)
	}
}

// testOutOfMemoryRetry: a definition's and a run's on_out_of_memory policy
// are kept, and a retry that grows the memory (Transition.Memory) moves the
// run to its next attempt with that memory.
func testOutOfMemoryRetry(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	policy := &flotilla.OOMPolicy{RetryWithMemoryFactor: 1.5}
	d := NewDefinition("grows")
	d.OnOutOfMemory = policy
	created, err := s.CreateDefinition(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetDefinition(ctx, created.ID); err != nil || got.OnOutOfMemory == nil || *got.OnOutOfMemory != *policy {
		t.Fatalf("definition on_out_of_memory %+v (%v), want %+v", got.OnOutOfMemory, err, policy)
	}
	r := NewRun("default", "alice", 0)
	r.OnOutOfMemory, r.Memory, r.MaxAttempts = policy, 1024, 3
	r = mustCreateRun(t, s, r)
	mustTransition(t, s, admit(r.ID, 10))
	next, err := s.TransitionRun(ctx, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, Attempt: 1,
		To: flotilla.StatusQueued, NewAttempt: true, Memory: 2048, At: Epoch.Add(time.Minute), Source: flotilla.SourceEngine,
		Reason: "ran out of memory: retrying with 2048 MiB"})
	if err != nil {
		t.Fatal(err)
	}
	read, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if next.Memory != 2048 || read.Memory != 2048 || read.Attempt != 2 || read.OnOutOfMemory == nil || *read.OnOutOfMemory != *policy {
		t.Errorf("after the retry: memory %d (returned %d), attempt %d, policy %+v; want 2048, attempt 2, %+v", read.Memory, next.Memory, read.Attempt, read.OnOutOfMemory, policy)
	}
}

// testRetryOnAnotherCluster: a retry that moves the run to another cluster
// (Transition.Cluster) gives back the old cluster's slot and queues it on
// the new one; it is admitted and ends there.
func testRetryOnAnotherCluster(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	r := mustCreateRun(t, s, NewRun("spot", "alice", 0))
	mustTransition(t, s, admit(r.ID, 10))
	moved, err := s.TransitionRun(ctx, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, Attempt: 1,
		To: flotilla.StatusQueued, NewAttempt: true, Cluster: "ondemand", At: Epoch.Add(2 * time.Minute), Source: flotilla.SourceEngine,
		Reason: "interrupted by Spot twice: continues on ondemand"})
	if err != nil {
		t.Fatal(err)
	}
	if moved.Cluster != "ondemand" || moved.Attempt != 2 {
		t.Fatalf("moved run: cluster %s attempt %d, want ondemand, 2", moved.Cluster, moved.Attempt)
	}
	usage := func(c string) flotilla.Usage {
		u, err := s.ClusterUsage(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	if u := usage("spot"); u.Queued != 0 || u.Running != 0 {
		t.Errorf("the old cluster still counts it: %+v", u)
	}
	if u := usage("ondemand"); u.Queued != 1 || u.Running != 0 {
		t.Errorf("the new cluster: %+v, want 1 queued", u)
	}
	for c, want := range map[string]int{"spot": 0, "ondemand": 1} {
		q, err := s.ListQueued(ctx, c, 10)
		if err != nil || len(q) != want {
			t.Errorf("queued on %s: %d (%v), want %d", c, len(q), err, want)
		}
	}
	a := admit(r.ID, 10)
	a.Attempt = 2
	mustTransition(t, s, a)
	if u := usage("ondemand"); u.Running != 1 {
		t.Errorf("admitted on the new cluster: %+v, want 1 running", u)
	}
	end := finish(r.ID, flotilla.StatusSucceeded, 0)
	mustTransition(t, s, end)
	if u := usage("ondemand"); u.Running != 0 || u.Queued != 0 {
		t.Errorf("after the end: %+v", u)
	}
	if got, _ := s.GetRun(ctx, r.ID); got.Cluster != "ondemand" || got.Status != flotilla.StatusSucceeded {
		t.Errorf("run %s on %s, want SUCCEEDED on ondemand", got.Status, got.Cluster)
	}
}

// testNotifyAndAppendedEvents: notify targets are kept on definitions and
// runs; an entry appended to an ended run's life story is listed after
// its end and changes nothing else; appending to no run is ErrNotFound.
func testNotifyAndAppendedEvents(t *testing.T, s flotilla.Store) {
	ctx := context.Background()
	targets := []flotilla.NotifyTarget{{Webhook: "https://hooks.example/T0/B1?token=x", Secret: "ssm:/flotilla/prod/hook"}, {Email: "ann@example.com"}}
	d := NewDefinition("tells")
	d.Notify = targets
	created, err := s.CreateDefinition(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetDefinition(ctx, created.ID); err != nil || !reflect.DeepEqual(got.Notify, targets) {
		t.Fatalf("definition notify %+v (%v), want %+v", got.Notify, err, targets)
	}
	r := NewRun("default", "alice", 0)
	r.Notify, r.Parent = targets, "run_01PARENT0000000000000000AB"
	r.Tags = append(r.Tags, flotilla.ParentTag(r.Parent))
	r = mustCreateRun(t, s, r)
	if got, _ := s.GetRun(ctx, r.ID); got.Parent != r.Parent {
		t.Errorf("parent %q, want %q", got.Parent, r.Parent)
	}
	if page, err := s.ListRuns(ctx, flotilla.RunFilter{Tag: flotilla.ParentTag(r.Parent)}); err != nil || len(page.Items) != 1 || page.Items[0].ID != r.ID {
		t.Errorf("children of %s: %v %v, want %s", r.Parent, page.Items, err, r.ID)
	}
	mustTransition(t, s, admit(r.ID, 10))
	mustTransition(t, s, finish(r.ID, flotilla.StatusSucceeded, 0))
	before, _ := s.GetRun(ctx, r.ID)
	note := flotilla.RunEvent{RunID: r.ID, Time: Epoch.Add(time.Hour), Source: flotilla.SourceNotifier, From: flotilla.StatusSucceeded,
		To: flotilla.StatusSucceeded, Reason: "notified https://hooks.example/T0/B1 (HTTP 200)", Attempt: 1}
	if err := s.AppendRunEvent(ctx, note); err != nil {
		t.Fatal(err)
	}
	evs, err := s.ListRunEvents(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Source != flotilla.SourceNotifier || last.Reason != note.Reason || last.To != flotilla.StatusSucceeded {
		t.Errorf("last event %+v, want the appended one", last)
	}
	after, _ := s.GetRun(ctx, r.ID)
	if !reflect.DeepEqual(after.Notify, targets) || after.Status != before.Status || after.StatusReason != before.StatusReason {
		t.Errorf("appending changed the run: %+v -> %+v", before, after)
	}
	if err := s.AppendRunEvent(ctx, flotilla.RunEvent{RunID: "run_missing", Time: Epoch, Source: flotilla.SourceNotifier, To: flotilla.StatusFailed}); !errors.Is(err, flotilla.ErrNotFound) {
		t.Errorf("appending to no run: %v, want ErrNotFound", err)
	}
}
