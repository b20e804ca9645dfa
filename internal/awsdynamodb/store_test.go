package awsdynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	miniserver "github.com/truora/minidyn/server"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb/ddbtest"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

// bundle is one test's store, its client and the request counter.
type bundle struct {
	store   *awsdynamodb.Store
	db      *dynamodb.Client // counted by counter
	raw     *dynamodb.Client // not counted: for the tests' own reads
	table   string
	counter *awsclient.Counter
}

var tables atomic.Int64

// setup starts minidyn in-process, points a real *dynamodb.Client at it
// and creates a fresh table.
func setup(t testing.TB) bundle {
	t.Helper()
	return setupWith(t, awsdynamodb.Options{PutOnRemove: true})
}

func setupWith(t testing.TB, opts awsdynamodb.Options) bundle {
	t.Helper()
	return setupOn(t, miniserver.NewServer(), opts)
}

// setupOn is setup with the DynamoDB server given.
func setupOn(t testing.TB, h http.Handler, opts awsdynamodb.Options) bundle {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	counter := awsclient.NewCounter()
	client := func(c *awsclient.Counter) *dynamodb.Client {
		cfg, err := awsclient.Load(ctx, awsclient.Options{Region: "us-east-1", StaticCredentials: true, Counter: c})
		if err != nil {
			t.Fatalf("load aws config: %v", err)
		}
		return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
			o.BaseEndpoint = aws.String(srv.URL)
			// minidyn sends no X-Amz-Crc32 header (see reference/emulators.md).
			o.DisableValidateResponseChecksum = true
		})
	}
	db := client(counter)
	name := fmt.Sprintf("flotilla-test-%d", tables.Add(1))
	if err := awsdynamodb.CreateTable(ctx, db, name); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	counter.Reset()
	return bundle{store: awsdynamodb.New(db, name, opts), db: db, raw: client(nil), table: name, counter: counter}
}

// TestStoreProductionWrites runs the conformance suite on the writes the
// store sends DynamoDB (UpdateItem with REMOVE, no PutOnRemove), against
// minidyn with its REMOVE fault mended (ddbtest), so queue counts that
// depend on REMOVE cannot drift unseen.
func TestStoreProductionWrites(t *testing.T) {
	var servers []*ddbtest.Server
	var mu sync.Mutex
	// The suite's subtests run in parallel, after this function returns.
	t.Cleanup(func() {
		mended := 0
		for _, s := range servers {
			mended += s.Mended()
		}
		if mended == 0 {
			t.Error("no write removed an attribute: the production REMOVE path was not exercised")
		}
		t.Logf("%d writes removed attributes", mended)
	})
	flotillatest.TestStore(t, func(t *testing.T) flotilla.Store {
		srv := ddbtest.New()
		mu.Lock()
		servers = append(servers, srv)
		mu.Unlock()
		return setupOn(t, srv, awsdynamodb.Options{}).store
	})
}

func TestStore(t *testing.T) {
	flotillatest.TestStore(t, func(t *testing.T) flotilla.Store { return setup(t).store })
}

// TestConcurrentSlots races 8 goroutines to admit 8 runs of two owners into
// 3 slots with a cap of 2 per owner, then races 4 terminal transitions per
// admitted run: exactly 3 admissions win, no owner exceeds its cap, and
// every slot comes back exactly once.
func TestConcurrentSlots(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var runs []flotilla.Run
	for i := range 8 {
		r := flotillatest.NewRun("default", []string{"alice", "bob"}[i%2], time.Duration(i)*time.Second)
		if _, _, err := b.store.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := map[string]string{} // run id → owner
	for w := range 8 {
		wg.Go(func() {
			r := runs[w]
			_, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusQueued},
				To: flotilla.StatusPending, At: flotillatest.Epoch.Add(time.Minute), Source: flotilla.SourceDispatcher,
				MaxRunning: 3, MaxRunningPerOwner: 2})
			switch {
			case err == nil:
				mu.Lock()
				won[r.ID] = r.Owner
				mu.Unlock()
			case !errors.Is(err, flotilla.ErrNoCapacity):
				t.Errorf("admit %s: %v, want nil or ErrNoCapacity", r.ID, err)
			}
		})
	}
	wg.Wait()
	perOwner := map[string]int{}
	for _, o := range won {
		perOwner[o]++
	}
	if len(won) != 3 || perOwner["alice"] > 2 || perOwner["bob"] > 2 {
		t.Fatalf("admitted %v, want 3 runs, at most 2 per owner", won)
	}
	u, err := b.store.ClusterUsage(ctx, "default")
	if err != nil || u.Running != 3 || u.Queued != 5 || u.RunningOwner["alice"] != perOwner["alice"] || u.RunningOwner["bob"] != perOwner["bob"] {
		t.Fatalf("usage = %+v, %v; want 3 running (%v), 5 queued", u, err, perOwner)
	}

	var ended atomic.Int64
	for id := range won {
		for i := range 4 {
			wg.Go(func() {
				code := i
				_, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: id, From: []flotilla.RunStatus{flotilla.StatusPending, flotilla.StatusRunning},
					To: flotilla.StatusFailed, At: flotillatest.Epoch.Add(2 * time.Minute), Source: flotilla.SourceEngine, ExitCode: &code})
				switch {
				case err == nil:
					ended.Add(1)
				case !errors.Is(err, flotilla.ErrConflict):
					t.Errorf("end %s: %v, want nil or ErrConflict", id, err)
				}
			})
		}
	}
	wg.Wait()
	if ended.Load() != 3 {
		t.Fatalf("%d terminal transitions won, want 3 (one per run)", ended.Load())
	}
	u, err = b.store.ClusterUsage(ctx, "default")
	if err != nil || u.Running != 0 || len(u.RunningOwner) != 0 {
		t.Fatalf("usage after the ends = %+v, %v; want every slot back", u, err)
	}
	for id := range won {
		evs, err := b.store.ListRunEvents(ctx, id)
		if err != nil || len(evs) != 3 || evs[2].To != flotilla.StatusFailed {
			t.Fatalf("life story of %s = %+v, %v; want QUEUED, PENDING, FAILED", id, evs, err)
		}
	}
}

func TestBadToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.store.ListRuns(ctx, flotilla.RunFilter{NextToken: "not-a-token"}); !errors.Is(err, flotilla.ErrInvalid) {
		t.Errorf("ListRuns with a bad token = %v, want ErrInvalid", err)
	}
	if _, err := b.store.ListDefinitions(ctx, flotilla.DefinitionFilter{NextToken: "cjpydW5fMQ"}); !errors.Is(err, flotilla.ErrInvalid) {
		t.Errorf("ListDefinitions with a runs token = %v, want ErrInvalid", err)
	}
}

// TestUpdateItemForm sends the UpdateItem form of every kind of transition
// (the one DynamoDB gets, without PutOnRemove) to minidyn, which checks each
// expression's syntax and that every name and value is used. minidyn does
// not apply REMOVE, so only what does not depend on it is checked.
func TestUpdateItemForm(t *testing.T) {
	t.Parallel()
	b := setupWith(t, awsdynamodb.Options{})
	ctx := context.Background()
	r := flotillatest.NewRun("default", "alice", 0)
	r.IdempotencyKey = "k"
	if _, _, err := b.store.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	at := flotillatest.Epoch
	code := 1
	steps := []flotilla.Transition{
		{From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusQueued, At: at, WaitReason: flotilla.WaitNoFreeSlot, Reason: "waiting"},
		{From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusPending, At: at, Reason: "starting", MaxRunning: 2, MaxRunningPerOwner: 1},
		{From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusRunning, At: at, TaskID: "t1"},
		{From: []flotilla.RunStatus{flotilla.StatusRunning}, To: flotilla.StatusRunning, At: at, Event: true,
			StopRequest: &flotilla.StopRequest{By: "alice", Code: flotilla.ReasonStopped, At: at}},
		{From: []flotilla.RunStatus{flotilla.StatusRunning}, To: flotilla.StatusQueued, NewAttempt: true, At: at, Reason: "retrying"},
		{From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusPending, At: at, MaxRunning: 2},
		{From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusFailed, At: at, ExitCode: &code, ReasonCode: flotilla.ReasonExitCode},
	}
	for i, tr := range steps {
		tr.RunID = r.ID
		got, err := b.store.TransitionRun(ctx, tr)
		if err != nil {
			t.Fatalf("step %d (%v→%s): %v", i, tr.From, tr.To, err)
		}
		read, err := b.store.GetRun(ctx, r.ID)
		if err != nil || read.Status != got.Status || read.Attempt != got.Attempt || len(read.Attempts) != len(got.Attempts) {
			t.Fatalf("step %d: stored %+v, %v; want %s attempt %d", i, read, err, got.Status, got.Attempt)
		}
	}
	evs, err := b.store.ListRunEvents(ctx, r.ID)
	if err != nil || len(evs) != 7 {
		t.Fatalf("events = %d, %v; want 7", len(evs), err)
	}
	if u, err := b.store.ClusterUsage(ctx, "default"); err != nil || u.Running != 0 {
		t.Fatalf("usage = %+v, %v; want the slot back", u, err)
	}
}

// TestIdleOwnersPruned: owners whose runs all ended leave zero counters in
// the cluster's counter item; ClusterUsage hides them and, once there are
// 8, removes them in one conditional write.
func TestIdleOwnersPruned(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cycle := func(owner string, i int) {
		r := flotillatest.NewRun("default", owner, time.Duration(i)*time.Second)
		if _, _, err := b.store.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusQueued},
			To: flotilla.StatusPending, At: flotillatest.Epoch, Source: flotilla.SourceDispatcher, MaxRunning: 5}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending},
			To: flotilla.StatusStopped, At: flotillatest.Epoch, Source: flotilla.SourceAPI}); err != nil {
			t.Fatal(err)
		}
	}
	usageWrites := func() int {
		t.Helper()
		b.counter.Reset()
		u, err := b.store.ClusterUsage(ctx, "default")
		if err != nil || u.Running != 0 || len(u.RunningOwner) != 0 {
			t.Fatalf("usage = %+v, %v; want nothing held", u, err)
		}
		return b.counter.Snapshot()["DynamoDB.UpdateItem"]
	}
	for i := range 7 {
		cycle(fmt.Sprintf("owner%d@example.com", i), i)
	}
	if n := usageWrites(); n != 0 {
		t.Fatalf("ClusterUsage with 7 idle owners wrote %d times, want 0", n)
	}
	cycle("owner7@example.com", 7)
	if n := usageWrites(); n != 1 {
		t.Fatalf("ClusterUsage with 8 idle owners wrote %d times, want 1", n)
	}
}

// TestRepeatedAnnotationWritesNothing: a transition that changes nothing
// and records no event costs a read, not a write.
func TestRepeatedAnnotationWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	r := flotillatest.NewRun("default", "alice", 0)
	est := 0.0012
	r.EstimatedCostUSD = &est
	r.TimeoutSeconds = 60
	if _, _, err := b.store.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	wait := flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusQueued,
		At: flotillatest.Epoch, Source: flotilla.SourceDispatcher, Reason: "waiting for a free slot", WaitReason: flotilla.WaitNoFreeSlot}
	for i, wantWrites := range []int{1, 0} {
		b.counter.Reset()
		got, err := b.store.TransitionRun(ctx, wait)
		if err != nil || got.WaitReason != flotilla.WaitNoFreeSlot {
			t.Fatalf("annotation %d = %+v, %v", i, got, err)
		}
		c := b.counter.Snapshot()
		if n := c["DynamoDB.UpdateItem"] + c["DynamoDB.PutItem"] + c["DynamoDB.TransactWriteItems"]; n != wantWrites {
			t.Fatalf("annotation %d made %d writes (%v), want %d", i, n, c, wantWrites)
		}
	}
}
