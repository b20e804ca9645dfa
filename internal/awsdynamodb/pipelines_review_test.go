package awsdynamodb_test

// The tests of this file came from an adversarial review of the store's
// arrays and dependencies: each failed before its fix. Three need a
// wrapper that makes minidyn refuse or answer as DynamoDB does.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb/ddbtest"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

// txLimits refuses what DynamoDB refuses and minidyn accepts: a
// TransactWriteItems whose items total more than 4 MB (API Reference,
// TransactWriteItems: "The aggregate size of the items in the transaction
// cannot exceed 4 MB"), and any item over 400 KB.
type txLimits struct {
	*dynamodb.Client
	mu      sync.Mutex
	largest int
}

func (c *txLimits) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	total := 0
	for _, a := range in.TransactItems {
		if a.Put != nil {
			n := itemSize(a.Put.Item)
			if n > 400*1024 {
				return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "Item size has exceeded the maximum allowed size"}
			}
			total += n
		}
	}
	c.mu.Lock()
	c.largest = max(c.largest, total)
	c.mu.Unlock()
	if total > 4*1024*1024 {
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: fmt.Sprintf("Transaction request cannot be larger than 4 MB (%d bytes)", total)}
	}
	return c.Client.TransactWriteItems(ctx, in, opts...)
}

// TestReviewCreateRunsBigChildrenOverTransactionLimit: an array whose
// snapshot has an env of 60 KB (within flotilla.MaxEnvBytes, 64 KiB) is
// made 98 children to a transaction: ~6 MB, over DynamoDB's 4 MB per
// TransactWriteItems, so the array can never be materialised.
func TestReviewCreateRunsBigChildrenOverTransactionLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := &txLimits{Client: b.raw}
	store := awsdynamodb.New(c, b.table, awsdynamodb.Options{PutOnRemove: true})
	parent := flotillatest.NewArrayParent("default", "alice", 0, 200)
	env := map[string]string{}
	for i := range 15 {
		env[fmt.Sprintf("V%02d", i)] = strings.Repeat("x", 4000) // 15 × 4 KB = 60 KB < 64 KiB
	}
	parent.Env = env
	if _, _, err := store.CreateRun(ctx, parent); err != nil {
		t.Fatal(err)
	}
	kids := children(parent, 0, 200)
	for i := range kids {
		kids[i].Env = env
	}
	n, err := store.CreateRuns(ctx, kids)
	t.Logf("largest transaction: %d bytes", c.largest)
	if err != nil || n != 200 {
		t.Fatalf("CreateRuns of 200 children with a 60 KB env = %d, %v", n, err)
	}
	_ = flotilla.StatusQueued
}

// TestReviewContendedChildTransitionIsNotAConflict: a child's
// PENDING→RUNNING is a transaction with its summary item (a plain run's is
// an UpdateItem that never meets TransactionConflict). When the summary
// item stays contended for maxTries, TransitionRun answers ErrConflict,
// which the contract reserves for "the run is not in t.From": the run is
// still PENDING, and callers (reconcile, stop) take ErrConflict as "moved
// on" and drop the event after 3 tries.
func TestReviewContendedChildTransitionIsNotAConflict(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	parent := flotillatest.NewArrayParent("default", "alice", 0, 3)
	if _, _, err := b.store.CreateRun(ctx, parent); err != nil {
		t.Fatal(err)
	}
	kids := children(parent, 0, 3)
	if _, err := b.store.CreateRuns(ctx, kids); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: kids[0].ID, From: []flotilla.RunStatus{flotilla.StatusQueued},
		To: flotilla.StatusPending, At: flotillatest.Epoch.Add(time.Second), Source: flotilla.SourceDispatcher}); err != nil {
		t.Fatal(err)
	}
	c := &conflicting{Client: b.raw, n: 8}
	store := awsdynamodb.New(c, b.table, awsdynamodb.Options{PutOnRemove: true})
	_, err := store.TransitionRun(ctx, flotilla.Transition{RunID: kids[0].ID, From: []flotilla.RunStatus{flotilla.StatusPending},
		To: flotilla.StatusRunning, At: flotillatest.Epoch.Add(2 * time.Second), Source: flotilla.SourceEngine, Reason: "running"})
	got, _ := b.store.GetRun(ctx, kids[0].ID)
	t.Logf("err = %v; run is %s", err, got.Status)
	if errors.Is(err, flotilla.ErrConflict) && got.Status == flotilla.StatusPending {
		t.Fatalf("TransitionRun answered ErrConflict while the run is still in t.From (%s): contention is not a conflict", got.Status)
	}
}

// TestReviewPagingChildrenByStatus: 2,000 children, 25 of them FAILED
// and scattered; every filter on the parent, paged by next_token with
// small and large pages, returns each matching child exactly once and
// never ends early.
func TestReviewPagingChildrenByStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const n = 2000
	parent := flotillatest.NewArrayParent("default", "alice", 0, n)
	if _, _, err := b.store.CreateRun(ctx, parent); err != nil {
		t.Fatal(err)
	}
	kids := children(parent, 0, n)
	for s := 0; s < n; s += 500 {
		if made, err := b.store.CreateRuns(ctx, kids[s:s+500]); err != nil || made != 500 {
			t.Fatal(made, err)
		}
	}
	failed := map[string]bool{}
	for i := 3; i < n; i += 80 {
		if _, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: kids[i].ID, From: []flotilla.RunStatus{flotilla.StatusQueued},
			To: flotilla.StatusFailed, At: flotillatest.Epoch.Add(time.Minute), Source: flotilla.SourceSweep, ReasonCode: flotilla.ReasonQueueTimeout}); err != nil {
			t.Fatal(err)
		}
		failed[kids[i].ID] = true
	}
	for _, tc := range []struct {
		sts   []flotilla.RunStatus
		limit int
		want  int
	}{
		{[]flotilla.RunStatus{flotilla.StatusFailed}, 10, len(failed)},
		{[]flotilla.RunStatus{flotilla.StatusFailed}, 500, len(failed)},
		{[]flotilla.RunStatus{flotilla.StatusQueued}, 50, n - len(failed)},
		{[]flotilla.RunStatus{flotilla.StatusQueued, flotilla.StatusFailed}, 500, n},
		{[]flotilla.RunStatus{flotilla.StatusWaiting, flotilla.StatusStopped}, 50, 0},
		{nil, 37, n},
	} {
		f := flotilla.RunFilter{Parent: parent.ID, Statuses: tc.sts, Limit: tc.limit}
		seen := map[string]int{}
		pages := 0
		prev := "~"
		for {
			p, err := b.store.ListRuns(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, r := range p.Items {
				seen[r.ID]++
				if r.ID >= prev {
					t.Fatalf("%v: out of order", tc.sts)
				}
				prev = r.ID
				if r.Parent != parent.ID || (len(tc.sts) > 0 && !slices.Contains(tc.sts, r.Status)) {
					t.Fatalf("%v: got %s %s", tc.sts, r.ID, r.Status)
				}
			}
			if p.NextToken == "" {
				break
			}
			f.NextToken = p.NextToken
		}
		for id, c := range seen {
			if c != 1 {
				t.Fatalf("%v: %s listed %d times", tc.sts, id, c)
			}
		}
		if len(seen) != tc.want {
			t.Fatalf("%v limit %d: %d children in %d pages, want %d", tc.sts, tc.limit, len(seen), pages, tc.want)
		}
		t.Logf("%v limit %d: %d in %d pages", tc.sts, tc.limit, len(seen), pages)
	}
}

// busyCounter answers the first UpdateItem of a counter item with
// TransactionConflictException, as DynamoDB does while a transaction
// (here: a launch on the same new cluster that is then cancelled, e.g. by
// its idempotency key) holds the item.
type busyCounter struct {
	*dynamodb.Client
	n int
}

func (c *busyCounter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if pk, ok := in.Key["pk"].(*types.AttributeValueMemberS); ok && pk.Value == "CL" && c.n > 0 {
		c.n--
		return nil, &types.TransactionConflictException{Message: aws.String("Transaction is ongoing for the item")}
	}
	return c.Client.UpdateItem(ctx, in, opts...)
}

// TestReviewWaitingRunOnNewClusterListed: a WAITING run on a cluster that
// never had a run must be listed by ListRuns{Statuses: [WAITING]} without
// a cluster (the sweep's view). ensureCluster treats a conflict on the
// counter item as "a launch is creating it", but that launch may be
// cancelled: then no counter item exists and the run is never found.
func TestReviewWaitingRunOnNewClusterListed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	store := awsdynamodb.New(&busyCounter{Client: b.raw, n: 1}, b.table, awsdynamodb.Options{PutOnRemove: true})
	dep := flotillatest.NewRun("default", "ana", 0)
	if _, _, err := store.CreateRun(ctx, dep); err != nil {
		t.Fatal(err)
	}
	w := flotillatest.NewWaitingRun("fresh", "ana", time.Second, dep.ID)
	if _, _, err := store.CreateRun(ctx, w); err != nil {
		t.Fatal(err)
	}
	p, err := b.store.ListRuns(ctx, flotilla.RunFilter{Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 {
		t.Fatalf("WAITING runs of every cluster = %d, want 1 (the run on cluster fresh)", len(p.Items))
	}
}

// TestReviewWaitingChildrenMadeConcurrently: 300 children that each wait
// for their partner in another array (after_each), made by 3 makers at
// once on the production writes: each made once, none counted as
// queued, summary W=300, each found by its partner and nothing else;
// releasing and stopping them keeps the counts exact.
func TestReviewWaitingChildrenMadeConcurrently(t *testing.T) {
	t.Parallel()
	b := setupOn(t, ddbtest.New(), awsdynamodb.Options{})
	ctx := context.Background()
	const n = 300
	other := flotillatest.NewArrayParent("default", "bob", 0, n)
	parent := flotillatest.NewArrayParent("default", "alice", time.Second, n)
	for _, p := range []flotilla.Run{other, parent} {
		if _, _, err := b.store.CreateRun(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	partners := children(other, 0, n)
	kids := children(parent, 0, n)
	for i := range kids {
		kids[i].Status, kids[i].WaitReason = flotilla.StatusWaiting, flotilla.WaitDependencies
		kids[i].After = []string{partners[i].ID}
	}
	var wg sync.WaitGroup
	made := make([]int, 3)
	for w := range made {
		wg.Go(func() {
			k := slices.Clone(kids)
			if w == 1 {
				slices.Reverse(k)
			}
			m, err := b.store.CreateRuns(ctx, k)
			if err != nil {
				t.Error(err)
			}
			made[w] = m
		})
	}
	wg.Wait()
	if made[0]+made[1]+made[2] != n {
		t.Fatalf("made %v", made)
	}
	if u, _ := b.store.ClusterUsage(ctx, "default"); u.Queued != 0 {
		t.Fatalf("queued = %d with only WAITING runs", u.Queued)
	}
	checkSum(t, b.store, parent.ID, map[flotilla.RunStatus]int{flotilla.StatusWaiting: n}, nil)
	for _, i := range []int{0, 7, 255, 256, 299} {
		p, err := b.store.ListRuns(ctx, flotilla.RunFilter{After: partners[i].ID, Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}, Cluster: "default"})
		if err != nil || len(p.Items) != 1 || p.Items[0].ID != kids[i].ID || p.NextToken != "" {
			t.Fatalf("after partner %d = %v, %v", i, p, err)
		}
	}
	// release half, stop the others, concurrently
	for i, k := range kids {
		wg.Go(func() {
			tr := flotilla.Transition{RunID: k.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, To: flotilla.StatusQueued, At: flotillatest.Epoch.Add(time.Hour), Source: flotilla.SourceDispatcher}
			if i%2 == 1 {
				tr.To, tr.ReasonCode = flotilla.StatusStopped, flotilla.ReasonDependencyFailed
			}
			for range 20 {
				if _, err := b.store.TransitionRun(ctx, tr); err == nil {
					return
				} else if !errors.Is(err, flotilla.ErrConflict) && !errors.Is(err, flotilla.ErrThrottled) {
					t.Error(err)
					return
				}
			}
			t.Errorf("child %d never moved", i)
		})
	}
	wg.Wait()
	var stopped []int
	for i := 1; i < n; i += 2 {
		stopped = append(stopped, i)
	}
	checkSum(t, b.store, parent.ID, map[flotilla.RunStatus]int{flotilla.StatusQueued: n / 2, flotilla.StatusStopped: n / 2}, stopped)
	if u, _ := b.store.ClusterUsage(ctx, "default"); u.Queued != n/2 {
		t.Fatalf("queued = %d, want %d", u.Queued, n/2)
	}
	p, err := b.store.ListRuns(ctx, flotilla.RunFilter{Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}, Cluster: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Items {
		if r.Parent == parent.ID {
			t.Fatalf("child %s still listed WAITING", r.ID)
		}
	}
	for _, k := range kids[:4] {
		it, err := b.raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(b.table), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "R#" + shardOf(k.ID)}, "sk": &types.AttributeValueMemberS{Value: k.ID}}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if g, ok := it.Item["gsi1pk"].(*types.AttributeValueMemberS); !ok || strings.HasPrefix(g.Value, "W#") {
			t.Fatalf("child %s gsi1pk = %v", k.ID, it.Item["gsi1pk"])
		}
	}
}

func shardOf(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return fmt.Sprint(h.Sum32() % 8)
}

// loseAnswer applies the first request of target and then answers 500, as
// when DynamoDB wrote the item but the answer was lost: the SDK retries.
type loseAnswer struct {
	inner  http.Handler
	target string
	mu     sync.Mutex
	done   bool
}

func (h *loseAnswer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	lose := !h.done && r.Header.Get("X-Amz-Target") == "DynamoDB_20120810."+h.target
	if lose {
		h.done = true
	}
	h.mu.Unlock()
	if !lose {
		h.inner.ServeHTTP(w, r)
		return
	}
	h.inner.ServeHTTP(httptest.NewRecorder(), r)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"answer lost"}`))
}

// TestReviewWaitingRunCreateAnswerLost: a WAITING run without a parent
// or key is created by a lone PutItem (no ClientRequestToken). When its
// answer is lost and the SDK retries, the retry fails its condition and
// CreateRun answers ErrConflict ("the id exists") although this very call
// created the run: the API answers 409 for a launch that was made (an
// array parent: its elements are then never stored).
func TestReviewWaitingRunCreateAnswerLost(t *testing.T) {
	t.Parallel()
	b := setupOn(t, &loseAnswer{inner: ddbtest.New(), target: "PutItem"}, awsdynamodb.Options{})
	ctx := context.Background()
	dep := flotillatest.NewRun("default", "ana", 0)
	if _, _, err := b.store.CreateRun(ctx, dep); err != nil {
		t.Fatal(err)
	}
	w := flotillatest.NewWaitingRun("default", "ana", time.Second, dep.ID)
	_, created, err := b.store.CreateRun(ctx, w)
	got, gerr := b.store.GetRun(ctx, w.ID)
	t.Logf("CreateRun = created %v, %v; GetRun = %s, %v", created, err, got.Status, gerr)
	if err != nil && gerr == nil {
		t.Fatalf("CreateRun failed (%v) but the run it was asked to create exists", err)
	}
}
