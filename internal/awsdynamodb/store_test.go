package awsdynamodb_test

import (
	"context"
	"errors"
	"fmt"
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
	srv := httptest.NewServer(miniserver.NewServer())
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
	return bundle{store: awsdynamodb.New(db, name, awsdynamodb.Options{PutOnRemove: true}), db: db, raw: client(nil), table: name, counter: counter}
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
