package embedded_test

import (
	"context"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

func openDB(t *testing.T) *embedded.DB {
	t.Helper()
	db, err := embedded.OpenDB(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("OpenDB: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	flotillatest.TestStore(t, func(t *testing.T) flotilla.Store { return embedded.NewStore(openDB(t)) })
}

func TestQueue(t *testing.T) {
	flotillatest.TestQueue(t, func(t *testing.T) flotilla.Queue {
		return embedded.NewQueue(openDB(t), flotillatest.QueueClusters, 0)
	})
}

func TestQueueVisibilityAndRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := embedded.OpenDB(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	q := embedded.NewQueue(db, []string{"default"}, 200*time.Millisecond)
	if err := q.Send(ctx, flotilla.Message{Cluster: "default", RunID: "run_1", Attempt: 1, Owner: "a", DedupID: "run_1#1"}); err != nil {
		t.Fatal(err)
	}
	first, err := q.Receive(ctx, "default", 1, 0)
	if err != nil || len(first) != 1 || first[0].ReceiveCount != 1 {
		t.Fatalf("first receive = %+v, %v", first, err)
	}
	// Not deleted: it comes back after the visibility timeout, counted.
	again, err := q.Receive(ctx, "default", 1, 2*time.Second)
	if err != nil || len(again) != 1 || again[0].RunID != "run_1" || again[0].ReceiveCount != 2 {
		t.Fatalf("second receive = %+v, %v", again, err)
	}
	// A stale receipt deletes nothing.
	if err := q.Delete(ctx, "default", first[0].Receipt); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// The message survives a restart.
	db, err = embedded.OpenDB(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q = embedded.NewQueue(db, []string{"default"}, 200*time.Millisecond)
	after, err := q.Receive(ctx, "default", 1, 2*time.Second)
	if err != nil || len(after) != 1 || after[0].RunID != "run_1" || after[0].ReceiveCount != 3 {
		t.Fatalf("after restart = %+v, %v", after, err)
	}
	if err := q.Delete(ctx, "default", after[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.Depth(ctx, "default"); n != 0 {
		t.Fatalf("depth after delete = %d", n)
	}
}

func localHarness(t *testing.T) flotillatest.ExecutorHarness {
	dir := t.TempDir()
	events := make(chan flotilla.TaskEvent, 100)
	ex := embedded.NewExecutor(dir, false, func(ev flotilla.TaskEvent) { events <- ev }, nil)
	ex.StopGrace = 2 * time.Second
	// The suite's runs reference a secret TOKEN (flotillatest.NewRun).
	ex.LookupEnv = func(k string) (string, bool) { return "suite-token", k == "FLOTILLA_SECRET_TOKEN" }
	t.Cleanup(ex.Close)
	return flotillatest.ExecutorHarness{Executor: ex, Logs: embedded.NewLogReader(dir), Events: events}
}

func TestExecutor(t *testing.T)  { flotillatest.TestExecutor(t, localHarness) }
func TestLogReader(t *testing.T) { flotillatest.TestLogReader(t, localHarness) }
