//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestLambdasPipelineItems runs arrays and dependencies through the real
// functions on DynamoDB (minidyn), beside TestLambdasPipelines: an array
// of 6 items (rendered into a template command) two of which fail,
// an array whose child i waits for the first's child i (after_each), a
// run after a run that succeeds and one after the failing array. The
// children are made by the dispatcher (CreateRuns, with the links of the
// waiting ones), released or stopped by the events function, and the
// parents settled from their children's summary items; so the IAM proof
// sees these calls made by the functions that make them.
func TestLambdasPipelineItems(t *testing.T) {
	s := startStack(t, 0)
	ctx := context.Background()
	def, err := s.api.CreateDefinition(ctx, map[string]any{
		"alias": "per-day", "image": "public.ecr.aws/docker/library/alpine:3", "cpu": 256, "memory": 512,
		"command": "echo {{ .params.day }}; exit {{ .params.code }}",
		"parameters_schema": json.RawMessage(`{"type":"object","properties":{"day":{"type":"string"},
			"code":{"type":"integer","default":0}},"required":["day"]}`),
	})
	if err != nil {
		t.Fatalf("create definition: %v", err)
	}
	launch := func(body map[string]any) flotilla.Run {
		t.Helper()
		body["definition"] = def.Alias
		r, err := s.api.Launch(ctx, body)
		if err != nil {
			t.Fatalf("launch %v: %v", body, err)
		}
		return r
	}
	codes := []int{0, 0, 1, 0, 1, 0}
	var items []map[string]any
	for i, c := range codes {
		items = append(items, map[string]any{"day": fmt.Sprintf("2026-01-%02d", i+1), "code": c})
	}
	a := launch(map[string]any{"params": map[string]any{"day": "2026-01-01"}})
	b := launch(map[string]any{"params": map[string]any{"day": "2026-01-02"}, "after": []string{a.ID}})
	p := launch(map[string]any{"array": map[string]any{"items": items}})
	q := launch(map[string]any{"params": map[string]any{"day": "2026-02-01"}, "array": map[string]any{"size": len(codes)}, "after_each": []string{p.ID}})
	c := launch(map[string]any{"params": map[string]any{"day": "2026-03-01"}, "after": []string{p.ID}})
	if b.Status != flotilla.StatusWaiting || c.Status != flotilla.StatusWaiting || p.Status != flotilla.StatusWaiting {
		t.Fatalf("launched: b %s, c %s, array %s; want WAITING", b.Status, c.Status, p.Status)
	}

	final := map[string]flotilla.Run{}
	for deadline := time.Now().Add(120 * time.Second); len(final) < 5; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 120 s only %d of 5 runs ended: %v", len(final), final)
		}
		for _, id := range []string{a.ID, b.ID, p.ID, q.ID, c.ID} {
			if _, ok := final[id]; ok {
				continue
			}
			r, err := s.api.GetRun(ctx, id)
			if err != nil {
				t.Fatalf("get run %s: %v", id, err)
			}
			if r.Status.Terminal() {
				final[id] = r
			}
		}
	}
	s.ecs.Flush()
	if r := final[b.ID]; r.Status != flotilla.StatusSucceeded {
		t.Errorf("run after a run that succeeded: %s (%s)", r.Status, r.StatusReason)
	}
	if r := final[c.ID]; r.Status != flotilla.StatusStopped || r.ReasonCode != flotilla.ReasonDependencyFailed {
		t.Errorf("run after a failed array: %s %s (%s), want STOPPED dependency_failed", r.Status, r.ReasonCode, r.StatusReason)
	}
	for _, x := range []struct {
		name string
		r    flotilla.Run
		want map[flotilla.RunStatus]int
	}{
		{"array", final[p.ID], map[flotilla.RunStatus]int{flotilla.StatusSucceeded: 4, flotilla.StatusFailed: 2}},
		{"array after each", final[q.ID], map[flotilla.RunStatus]int{flotilla.StatusSucceeded: 4, flotilla.StatusStopped: 2}},
	} {
		r := x.r
		if r.Status != flotilla.StatusFailed || r.ReasonCode != flotilla.ReasonChildrenFailed || r.Array == nil || r.Array.Summary == nil {
			t.Fatalf("%s: %s %s array %+v, want FAILED children_failed with a summary", x.name, r.Status, r.ReasonCode, r.Array)
		}
		sum := r.Array.Summary
		got := map[flotilla.RunStatus]int{}
		for st, n := range sum.Counts {
			if n != 0 {
				got[st] = n
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(x.want) || sum.Ended != 6 || !slices.Equal(sum.FailedIndexes, []int{2, 4}) || r.Array.Created != 6 {
			t.Errorf("%s summary %v ended %d failed %v created %d; want %v, 6 ended, failed [2 4], 6 created",
				x.name, got, sum.Ended, sum.FailedIndexes, r.Array.Created, x.want)
		}
	}

	// The children, newest (highest index) first, each with its index and
	// item, and Q's children 2 and 4 never ran.
	kids, err := s.api.ListRuns(ctx, url.Values{"parent": {p.ID}, "limit": {"4"}})
	if err != nil || len(kids.Items) != 4 || kids.NextToken == "" {
		t.Fatalf("children of the array, page of 4: %d, token %q, %v", len(kids.Items), kids.NextToken, err)
	}
	rest, err := s.api.ListRuns(ctx, url.Values{"parent": {p.ID}, "limit": {"4"}, "next_token": {kids.NextToken}})
	if err != nil || len(rest.Items) != 2 || rest.NextToken != "" {
		t.Fatalf("children, second page: %d, token %q, %v", len(rest.Items), rest.NextToken, err)
	}
	for i, k := range append(kids.Items, rest.Items...) {
		idx := len(codes) - 1 - i
		var item map[string]any
		_ = json.Unmarshal(k.ArrayItem, &item)
		want := flotilla.StatusSucceeded
		if codes[idx] != 0 {
			want = flotilla.StatusFailed
		}
		if k.ArrayIndex == nil || *k.ArrayIndex != idx || k.Parent != p.ID || item["day"] != fmt.Sprintf("2026-01-%02d", idx+1) || k.Status != want {
			t.Errorf("child %d of the array: index %v parent %s item %s status %s, want %d, %s", i, k.ArrayIndex, k.Parent, k.ArrayItem, k.Status, idx, want)
		}
		if n := s.ecs.RunTaskCalls(k.ID); n != 1 {
			t.Errorf("child %d of the array started by %d RunTask calls, want 1", idx, n)
		}
	}
	qk, err := s.api.ListRuns(ctx, url.Values{"parent": {q.ID}, "status": {"STOPPED"}})
	if err != nil || len(qk.Items) != 2 {
		t.Fatalf("stopped children of the array after each: %d, %v", len(qk.Items), err)
	}
	for _, k := range qk.Items {
		if k.ReasonCode != flotilla.ReasonDependencyFailed || len(k.After) != 1 || k.StartedAt != nil || s.ecs.RunTaskCalls(k.ID) != 0 {
			t.Errorf("child %v of the array after each: %s after %v started %v, want dependency_failed, never started", k.ArrayIndex, k.ReasonCode, k.After, k.StartedAt)
		}
	}
	after, err := s.api.ListRuns(ctx, url.Values{"after": {a.ID}})
	if err != nil || len(after.Items) != 1 || after.Items[0].ID != b.ID {
		t.Fatalf("runs after a: %v, %v; want b", after.Items, err)
	}
}
