package awsdynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb/ddbtest"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

// TestRareFilterPagesStayWithinBudget: a tag on 3 runs at the far end of
// 2,000 is found by pages that each spend at most their read budget and
// come back short with a next_token while the history goes on; following
// the tokens finds exactly the 3, newest first, and the last page has no
// token.
func TestRareFilterPagesStayWithinBudget(t *testing.T) {
	t.Parallel()
	b := setupOn(t, ddbtest.New(), awsdynamodb.Options{})
	meter := &readMeter{Client: b.raw}
	store := awsdynamodb.New(meter, b.table, awsdynamodb.Options{})
	var items []map[string]types.AttributeValue
	var want []string
	for i := range 2000 {
		r := endRun(seedRun(i, flotillatest.Epoch.Add(time.Duration(i)*time.Second)), i+1)
		if i < 3 {
			r.Tags = append(r.Tags, "rare")
			want = append([]string{r.ID}, want...)
		}
		items = append(items, awsdynamodb.SeedRunItem(r))
	}
	batchWrite(t, b.raw, b.table, items)
	meter.reset()

	f := flotilla.RunFilter{Tag: "rare", Limit: 50}
	var got []string
	pages, short := 0, 0
	for {
		p, err := store.ListRuns(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		units, _ := meter.reset()
		pages++
		if units > 60 {
			t.Errorf("page %d spent %.1f read units, want at most 60 (budget %d)", pages, units, awsdynamodb.PageBudget)
		}
		for _, r := range p.Items {
			got = append(got, r.ID)
		}
		if p.NextToken == "" {
			break
		}
		if len(p.Items) < f.Limit {
			short++
		}
		if pages > 100 {
			t.Fatal("the pages do not end")
		}
		f.NextToken = p.NextToken
	}
	if !slices.Equal(got, want) {
		t.Fatalf("found %v, want %v", got, want)
	}
	if short == 0 || pages < 3 {
		t.Fatalf("%d pages, %d short ones with a token: the budget did not bound the pages", pages, short)
	}
	t.Logf("%d pages for 3 runs among 2,000", pages)
}

// TestRunsSpreadOverShards: consecutive runs land on every shard of the
// table and of the history indexes, and the state index holds only what
// it should: a SUCCEEDED run leaves it, a FAILED one is in its status's
// shard, a RUNNING one in its cluster's active runs.
func TestRunsSpreadOverShards(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var runs []flotilla.Run
	for i := range 64 {
		r := flotillatest.NewRun("default", "alice", time.Duration(i)*time.Millisecond)
		if _, _, err := b.store.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	for i, to := range []flotilla.RunStatus{flotilla.StatusSucceeded, flotilla.StatusFailed, flotilla.StatusRunning} {
		if _, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: runs[i].ID, From: []flotilla.RunStatus{flotilla.StatusQueued},
			To: flotilla.StatusPending, At: flotillatest.Epoch, Source: flotilla.SourceDispatcher}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: runs[i].ID, From: []flotilla.RunStatus{flotilla.StatusPending},
			To: to, At: flotillatest.Epoch, Source: flotilla.SourceEngine}); err != nil {
			t.Fatal(err)
		}
	}
	snap := scan(t, b)
	pks, defs := map[string]bool{}, map[string]bool{}
	state := map[string]string{}
	for _, it := range snap {
		if pk := sval(it["pk"]); strings.HasPrefix(pk, "R#") {
			pks[pk] = true
			defs[sval(it["gsi2pk"])] = true
			state[sval(it["sk"])] = sval(it["gsi1pk"])
		}
	}
	if len(pks) != 8 || len(defs) != 8 {
		t.Errorf("64 runs on %d table partitions and %d definition-index partitions, want 8 each", len(pks), len(defs))
	}
	if s := state[runs[0].ID]; s != "" {
		t.Errorf("a SUCCEEDED run is in the state index as %q", s)
	}
	if s := state[runs[1].ID]; !strings.HasPrefix(s, "E#FAILED#") {
		t.Errorf("a FAILED run is in the state index as %q", s)
	}
	if s := state[runs[2].ID]; s != "A#default" {
		t.Errorf("a RUNNING run is in the state index as %q", s)
	}
	if s := state[runs[3].ID]; s != "Q#7:default#alice" {
		t.Errorf("a QUEUED run is in the state index as %q", s)
	}
}

// TestRetention: with Options.Retention, the write that ends a run gives
// it an expiry (attribute ttl, Unix seconds) Retention after it ended;
// active runs and runs without the option have none. When DynamoDB has
// deleted an expired run, its idempotency key is claimed afresh.
func TestRetention(t *testing.T) {
	t.Parallel()
	for _, putOnRemove := range []bool{false, true} {
		t.Run(fmt.Sprintf("put_on_remove_%v", putOnRemove), func(t *testing.T) {
			t.Parallel()
			b := setupOn(t, ddbtest.New(), awsdynamodb.Options{})
			ctx := context.Background()
			store := awsdynamodb.New(b.db, b.table, awsdynamodb.Options{Retention: 30 * 24 * time.Hour, PutOnRemove: putOnRemove})
			plain := awsdynamodb.New(b.db, b.table, awsdynamodb.Options{})
			ttl := func(id string) (int64, bool) {
				t.Helper()
				for _, it := range scan(t, b) {
					if sval(it["sk"]) == id {
						n, ok := it["ttl"].(*types.AttributeValueMemberN)
						if !ok {
							return 0, false
						}
						v, _ := strconv.ParseInt(n.Value, 10, 64)
						return v, true
					}
				}
				t.Fatalf("run %s not found", id)
				return 0, false
			}
			end := func(s *awsdynamodb.Store, r flotilla.Run, at time.Time) {
				t.Helper()
				for _, tr := range []flotilla.Transition{
					{From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusPending, At: at, Source: flotilla.SourceDispatcher},
					{From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusSucceeded, At: at, Source: flotilla.SourceEngine},
				} {
					tr.RunID = r.ID
					if _, err := s.TransitionRun(ctx, tr); err != nil {
						t.Fatal(err)
					}
				}
			}
			r := flotillatest.NewRun("default", "alice", 0)
			r.IdempotencyKey = "nightly"
			if _, _, err := store.CreateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
			if _, ok := ttl(r.ID); ok {
				t.Fatal("a QUEUED run has an expiry")
			}
			at := flotillatest.Epoch.Add(time.Hour)
			end(store, r, at)
			if got, ok := ttl(r.ID); !ok || got != at.Add(30*24*time.Hour).Unix() {
				t.Fatalf("ttl = %d (%v), want %d", got, ok, at.Add(30*24*time.Hour).Unix())
			}
			other := flotillatest.NewRun("default", "alice", time.Second)
			if _, _, err := plain.CreateRun(ctx, other); err != nil {
				t.Fatal(err)
			}
			end(plain, other, at)
			if _, ok := ttl(other.ID); ok {
				t.Fatal("a run ended without retention has an expiry")
			}

			// DynamoDB's TTL deletes the run (here: by hand); its key
			// outlives it, and is claimed again by the next launch.
			pk := ""
			for _, it := range scan(t, b) {
				if sval(it["sk"]) == r.ID {
					pk = sval(it["pk"])
				}
			}
			if _, err := b.raw.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(b.table), Key: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: r.ID}}}); err != nil {
				t.Fatal(err)
			}
			again := flotillatest.NewRun("default", "alice", time.Hour)
			again.IdempotencyKey = "nightly"
			got, created, err := store.CreateRun(ctx, again)
			if err != nil || !created || got.ID != again.ID {
				t.Fatalf("CreateRun with the key of an expired run = %s created %v, %v; want a new run", got.ID, created, err)
			}
			third := flotillatest.NewRun("default", "alice", 2*time.Hour)
			third.IdempotencyKey = "nightly"
			if back, created, err := store.CreateRun(ctx, third); err != nil || created || back.ID != again.ID {
				t.Fatalf("CreateRun with the key again = %s created %v, %v; want %s", back.ID, created, err, again.ID)
			}
		})
	}
}

// conflicting cancels the first n TransactWriteItems with
// TransactionConflict, as DynamoDB does when another transaction holds one
// of the items (here: the cluster's counter item, which every launch on
// the cluster updates).
type conflicting struct {
	*dynamodb.Client
	n int
}

func (c *conflicting) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if c.n > 0 {
		c.n--
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for i := range reasons {
			reasons[i].Code = aws.String("None")
		}
		reasons[len(reasons)-1].Code = aws.String("TransactionConflict")
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	return c.Client.TransactWriteItems(ctx, in, opts...)
}

// TestLaunchRetriesAConflictingCounter: a launch whose transaction loses
// to others on the counter item a few times is written once; one that
// keeps losing answers ErrThrottled and writes nothing.
func TestLaunchRetriesAConflictingCounter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := &conflicting{Client: b.raw, n: 3}
	store := awsdynamodb.New(c, b.table, awsdynamodb.Options{PutOnRemove: true})
	r := flotillatest.NewRun("default", "alice", 0)
	if _, created, err := store.CreateRun(ctx, r); err != nil || !created {
		t.Fatalf("CreateRun after 3 conflicts = %v, %v", created, err)
	}
	c.n = 1000
	lost := flotillatest.NewRun("default", "alice", time.Second)
	if _, _, err := store.CreateRun(ctx, lost); !errors.Is(err, flotilla.ErrThrottled) {
		t.Fatalf("CreateRun that keeps losing = %v, want ErrThrottled", err)
	}
	if _, err := b.store.GetRun(ctx, lost.ID); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("the lost launch was written: %v", err)
	}
	if u, err := b.store.ClusterUsage(ctx, "default"); err != nil || u.Queued != 1 {
		t.Fatalf("usage = %+v, %v; want 1 queued", u, err)
	}
}

// TestActiveRunsFoundAmongHistory: the active runs of every cluster (the
// web UI's "Active" list: QUEUED, PENDING and RUNNING, no cluster named)
// come from the state index, however much history is newer than them: an
// old RUNNING and an old QUEUED run behind 3,000 newer ended ones are one
// page, with no token, for a few read units.
func TestActiveRunsFoundAmongHistory(t *testing.T) {
	t.Parallel()
	b := setupOn(t, ddbtest.New(), awsdynamodb.Options{})
	meter := &readMeter{Client: b.raw}
	store := awsdynamodb.New(meter, b.table, awsdynamodb.Options{})
	ctx := context.Background()
	old := seedRun(1, flotillatest.Epoch)
	old.Cluster = "gpu"
	old.Status = flotilla.StatusRunning
	waiting := seedRun(2, flotillatest.Epoch.Add(time.Second))
	items := []map[string]types.AttributeValue{awsdynamodb.SeedRunItem(old), awsdynamodb.SeedRunItem(waiting),
		awsdynamodb.SeedCounterItem("gpu", nil, map[string]int{old.Owner: 1}),
		awsdynamodb.SeedCounterItem(waiting.Cluster, map[string]int{waiting.Owner: 1}, nil)}
	for i := range 3000 {
		items = append(items, awsdynamodb.SeedRunItem(endRun(seedRun(i, flotillatest.Epoch.Add(time.Hour+time.Duration(i)*time.Second)), i+1)))
	}
	batchWrite(t, b.raw, b.table, items)
	meter.reset()
	p, err := store.ListRuns(ctx, flotilla.RunFilter{Statuses: []flotilla.RunStatus{flotilla.StatusQueued, flotilla.StatusPending, flotilla.StatusRunning}, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	units, requests := meter.reset()
	if len(p.Items) != 2 || p.Items[0].ID != waiting.ID || p.Items[1].ID != old.ID || p.NextToken != "" {
		t.Fatalf("active runs = %v (token %q), want %s and %s", p.Items, p.NextToken, waiting.ID, old.ID)
	}
	if units > 10 {
		t.Errorf("listing 2 active runs cost %.1f read units in %d requests", units, requests)
	}
	t.Logf("%.1f read units, %d requests", units, requests)
}
