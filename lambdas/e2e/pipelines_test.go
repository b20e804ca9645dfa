//go:build linux

package e2e

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestLambdasPipelines: arrays and dependencies through the deployed path
// (API Gateway → api function, the dispatcher making children from SQS
// FIFO messages, ECS task events → events function, DynamoDB on minidyn):
// an array of 25 whose children 3 and 17 fail, a run after it, an array
// after each of its children, retry-failed, and the stop of a larger array.
func TestLambdasPipelines(t *testing.T) {
	s := startStack(t, 0)
	ctx := context.Background()
	if _, err := s.api.CreateDefinition(ctx, map[string]any{"alias": "fan", "image": "public.ecr.aws/docker/library/alpine:3", "cpu": 256, "memory": 512,
		"command": `echo "child $FLOTILLA_ARRAY_INDEX"`, "env": map[string]string{"FAIL_ARRAY_INDEXES": "3,17"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.api.CreateDefinition(ctx, map[string]any{"alias": "slow", "image": "public.ecr.aws/docker/library/alpine:3", "cpu": 256, "memory": 512,
		"command": "sleep 100"}); err != nil {
		t.Fatal(err)
	}
	launch := func(body map[string]any) flotilla.Run {
		t.Helper()
		var r flotilla.Run
		code, err := s.api.Do(ctx, "POST", "/v1/runs", nil, body, &r)
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("launch %v: %d %v", body, code, err)
		}
		return r
	}
	arr := launch(map[string]any{"definition": "fan", "array": map[string]int{"size": 25}})
	if arr.Status != flotilla.StatusWaiting || arr.Array == nil || arr.Array.Size != 25 {
		t.Fatalf("array launch answered %s %+v", arr.Status, arr.Array)
	}
	agg := launch(map[string]any{"definition": "fan", "after": []string{arr.ID}})
	each := launch(map[string]any{"definition": "fan", "array": map[string]int{"size": 25}, "after_each": []string{arr.ID}, "env": map[string]string{"FAIL_ARRAY_INDEXES": ""}})
	if _, err := s.api.Launch(ctx, map[string]any{"definition": "fan", "after": []string{"run_nope"}}); !isStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "after[0]") {
		t.Fatalf("after an unknown run: %v, want a 400 naming after[0]", err)
	}

	ended := func(id string) flotilla.Run {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			r, err := s.api.GetRun(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status.Terminal() {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s is still %s (%s) %+v", id, r.Status, r.StatusReason, r.Array)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	children := func(parent string) []flotilla.Run {
		t.Helper()
		var out []flotilla.Run
		q := url.Values{"parent": {parent}, "limit": {"500"}}
		for {
			page, err := s.api.ListRuns(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, page.Items...)
			if page.NextToken == "" {
				return out
			}
			q.Set("next_token", page.NextToken)
		}
	}

	got := ended(arr.ID)
	if got.Status != flotilla.StatusFailed || got.ReasonCode != flotilla.ReasonChildrenFailed || got.Array.Summary == nil ||
		!slices.Equal(got.Array.Summary.FailedIndexes, []int{3, 17}) || got.Array.Summary.Counts[flotilla.StatusSucceeded] != 23 {
		t.Fatalf("array ended %s %s %q summary %+v", got.Status, got.ReasonCode, got.StatusReason, got.Array.Summary)
	}
	kids := children(arr.ID)
	if len(kids) != 25 {
		t.Fatalf("%d children, want 25", len(kids))
	}
	// Each child was started once, with its index in its environment.
	starts := map[string]int{}
	for _, req := range s.ecs.RunTaskRequests() {
		starts[req.StartedBy]++
	}
	for _, c := range kids {
		if starts[c.ID] != 1 || c.ArrayIndex == nil {
			t.Fatalf("child %s (index %v) was started %d times", c.ID, c.ArrayIndex, starts[c.ID])
		}
	}
	if r := ended(agg.ID); r.Status != flotilla.StatusStopped || r.ReasonCode != flotilla.ReasonDependencyFailed || !strings.Contains(r.StatusReason, arr.ID) {
		t.Fatalf("the run after the array ended %s %s %q", r.Status, r.ReasonCode, r.StatusReason)
	}
	if r := ended(each.ID); r.Status != flotilla.StatusFailed || !slices.Equal(r.Array.Summary.FailedIndexes, []int{3, 17}) {
		t.Fatalf("the array after each child ended %s, summary %+v", r.Status, r.Array.Summary)
	}
	for _, c := range children(each.ID) {
		want := flotilla.StatusSucceeded
		if *c.ArrayIndex == 3 || *c.ArrayIndex == 17 {
			want = flotilla.StatusStopped
		}
		if c.Status != want {
			t.Fatalf("after_each child %d ended %s (%s), want %s", *c.ArrayIndex, c.Status, c.StatusReason, want)
		}
	}

	// The failed children again: a new array of two, with their indexes.
	var retry flotilla.Run
	if code, err := s.api.Do(ctx, "POST", "/v1/runs/"+arr.ID+"/retry-failed", nil, nil, &retry); err != nil || code != http.StatusAccepted {
		t.Fatalf("retry-failed: %d %v", code, err)
	}
	ended(retry.ID)
	var idx []int
	for _, c := range children(retry.ID) {
		idx = append(idx, *c.ArrayIndex)
	}
	slices.Sort(idx)
	if !slices.Equal(idx, []int{3, 17}) || retry.Array.RetryOf != arr.ID {
		t.Fatalf("retry's children have indexes %v, retry_of %s", idx, retry.Array.RetryOf)
	}

	// A large array stopped while its children run and wait.
	// 250 children: more than one message's worth of stops (each message
	// stops for about a second), small enough for minidyn under -race.
	big := launch(map[string]any{"definition": "slow", "array": map[string]int{"size": 250}})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r, err := s.api.GetRun(ctx, big.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Array.Summary != nil && r.Array.Summary.Counts[flotilla.StatusRunning] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no child of the large array runs: %+v", r.Array)
		}
	}
	if _, err := s.api.StopRun(ctx, big.ID); err != nil {
		t.Fatal(err)
	}
	stopped := ended(big.ID)
	sum := stopped.Array.Summary
	total := 0
	for _, n := range sum.Counts {
		total += n
	}
	if stopped.Status != flotilla.StatusStopped || sum.Ended != total || sum.Counts[flotilla.StatusStopped] != total {
		t.Fatalf("stopped array ended %s with summary %+v", stopped.Status, sum)
	}
	t.Logf("the large array ended %s with %d of its 250 children made, all stopped", stopped.Status, total)
}
