package flotillatest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// QueueClusters are the clusters the Queue suite uses; newQueue must serve
// them.
var QueueClusters = []string{"alpha", "beta"}

// TestQueue runs the Queue conformance suite. newQueue must return a queue
// with empty queues for QueueClusters, whose visibility timeout is at least
// a few seconds.
func TestQueue(t *testing.T, newQueue func(t *testing.T) flotilla.Queue) {
	t.Run("OrderWithinGroup", func(t *testing.T) { t.Parallel(); testQueueOrderWithinGroup(t, newQueue(t)) })
	t.Run("GroupBlockedWhileInFlight", func(t *testing.T) { t.Parallel(); testQueueGroupBlocked(t, newQueue(t)) })
	t.Run("Deduplication", func(t *testing.T) { t.Parallel(); testQueueDedup(t, newQueue(t)) })
	t.Run("ClustersAreSeparate", func(t *testing.T) { t.Parallel(); testQueueClusters(t, newQueue(t)) })
	t.Run("LongPollWakes", func(t *testing.T) { t.Parallel(); testQueueLongPoll(t, newQueue(t)) })
	t.Run("Batch", func(t *testing.T) { t.Parallel(); testQueueBatch(t, newQueue(t)) })
}

func msg(cluster, owner, run string) flotilla.Message {
	return flotilla.Message{Cluster: cluster, RunID: run, Attempt: 1, Owner: owner, DedupID: run + "#1"}
}

func receiveAll(t *testing.T, q flotilla.Queue, cluster string, want int) []flotilla.Delivery {
	t.Helper()
	var out []flotilla.Delivery
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		ds, err := q.Receive(context.Background(), cluster, 10, time.Second)
		if err != nil {
			t.Fatalf("Receive(%s): %v", cluster, err)
		}
		for _, d := range ds {
			out = append(out, d)
			if err := q.Delete(context.Background(), cluster, d.Receipt); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
	}
	return out
}

func runIDs(ds []flotilla.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.RunID)
	}
	return out
}

func testQueueOrderWithinGroup(t *testing.T, q flotilla.Queue) {
	ctx := context.Background()
	var want []string
	for i := range 5 {
		id := fmt.Sprintf("run_order_%d", i)
		want = append(want, id)
		if err := q.Send(ctx, msg("alpha", "alice", id)); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	got := receiveAll(t, q, "alpha", 5)
	if !slices.Equal(runIDs(got), want) {
		t.Fatalf("received %v, want %v", runIDs(got), want)
	}
	d := got[0]
	if d.Cluster != "alpha" || d.Owner != "alice" || d.Attempt != 1 || d.ReceiveCount < 1 {
		t.Fatalf("delivery = %+v", d)
	}
}

func testQueueGroupBlocked(t *testing.T, q flotilla.Queue) {
	ctx := context.Background()
	for _, m := range []flotilla.Message{msg("alpha", "alice", "run_a1"), msg("alpha", "alice", "run_a2"), msg("alpha", "bob", "run_b1")} {
		if err := q.Send(ctx, m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	first, err := q.Receive(ctx, "alpha", 1, time.Second)
	if err != nil || len(first) != 1 || first[0].RunID != "run_a1" {
		t.Fatalf("first receive = %v, %v; want run_a1", runIDs(first), err)
	}
	// While run_a1 is in flight, alice's group is blocked; bob's flows.
	var seen []string
	for range 3 {
		ds, err := q.Receive(ctx, "alpha", 10, 200*time.Millisecond)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		for _, d := range ds {
			seen = append(seen, d.RunID)
			if d.RunID == "run_b1" {
				if err := q.Delete(ctx, "alpha", d.Receipt); err != nil {
					t.Fatalf("Delete: %v", err)
				}
			}
		}
	}
	if slices.Contains(seen, "run_a2") || !slices.Contains(seen, "run_b1") {
		t.Fatalf("while run_a1 was in flight received %v; want run_b1 and not run_a2", seen)
	}
	if err := q.Delete(ctx, "alpha", first[0].Receipt); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	rest := receiveAll(t, q, "alpha", 1)
	if !slices.Equal(runIDs(rest), []string{"run_a2"}) {
		t.Fatalf("after deleting run_a1 received %v, want [run_a2]", runIDs(rest))
	}
}

func testQueueDedup(t *testing.T, q flotilla.Queue) {
	ctx := context.Background()
	m := msg("alpha", "alice", "run_dup")
	for range 3 {
		if err := q.Send(ctx, m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	m2 := m
	m2.DedupID = "run_dup#1#readmit-1"
	if err := q.Send(ctx, m2); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := receiveAll(t, q, "alpha", 2)
	extra, err := q.Receive(ctx, "alpha", 10, 300*time.Millisecond)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if len(got) != 2 || len(extra) != 0 {
		t.Fatalf("received %v then %v; want the message once per dedup id", runIDs(got), runIDs(extra))
	}
}

func testQueueClusters(t *testing.T, q flotilla.Queue) {
	ctx := context.Background()
	if err := q.Send(ctx, msg("alpha", "alice", "run_alpha"), msg("beta", "alice", "run_beta")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := receiveAll(t, q, "beta", 1); !slices.Equal(runIDs(got), []string{"run_beta"}) {
		t.Fatalf("beta received %v", runIDs(got))
	}
	if got := receiveAll(t, q, "alpha", 1); !slices.Equal(runIDs(got), []string{"run_alpha"}) {
		t.Fatalf("alpha received %v", runIDs(got))
	}
	if err := q.Send(ctx, msg("nowhere", "alice", "run_x")); err == nil {
		t.Fatalf("Send to an unknown cluster succeeded")
	}
}

func testQueueLongPoll(t *testing.T, q flotilla.Queue) {
	ctx := context.Background()
	done := make(chan []flotilla.Delivery, 1)
	go func() {
		ds, err := q.Receive(ctx, "alpha", 10, 5*time.Second)
		if err != nil {
			t.Errorf("Receive: %v", err)
		}
		done <- ds
	}()
	time.Sleep(300 * time.Millisecond)
	if err := q.Send(ctx, msg("alpha", "alice", "run_late")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	ds := <-done
	if !slices.Equal(runIDs(ds), []string{"run_late"}) {
		t.Fatalf("a waiting Receive returned %v, want [run_late]", runIDs(ds))
	}
}

func testQueueBatch(t *testing.T, q flotilla.Queue) {
	ctx := context.Background()
	var ms []flotilla.Message
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("run_batch_%02d", i)
		ms = append(ms, msg("beta", fmt.Sprintf("owner%d", i%3), id))
		want = append(want, id)
	}
	if err := q.Send(ctx, ms...); err != nil {
		t.Fatalf("Send(25): %v", err)
	}
	got := runIDs(receiveAll(t, q, "beta", 25))
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("received %d: %v", len(got), got)
	}
}
