package awsdynamodb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb/ddbtest"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

// realistic gives a run the attributes the lifecycle cost test's run has
// (an ECR image, a real command line, four env variables, two tags), so
// the item sizes below are those of a real child.
func realistic(r flotilla.Run) flotilla.Run {
	r.Alias = "etl-nightly"
	r.Image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/data/etl:2026.11.3"
	r.Command = "python -m jobs.nightly --date 2026-11-26 --out s3://acme-data/etl/"
	r.Env = map[string]string{"STAGE": "prod", "LOG_LEVEL": "info", "DB_HOST": "db.internal.acme.com", "BATCH": "500"}
	r.Secrets = nil
	r.TimeoutSeconds = 3600
	est := 0.0012
	r.EstimatedCostUSD = &est
	return r
}

// children makes n children of parent, from index first, as the service
// materialises them.
func children(parent flotilla.Run, first, n int) []flotilla.Run {
	kids := make([]flotilla.Run, n)
	for i := range kids {
		k := realistic(flotillatest.NewArrayChild(parent, first+i))
		k.Image, k.Command, k.Env = parent.Image, parent.Command, parent.Env
		kids[i] = k
	}
	return kids
}

// TestChildLifecycleCost measures the write units of an array's children:
// made 98 to a transaction (with the cluster's counter and the parent's
// summary item once), and each status change of a child, which moves the
// parent's summary in the same transaction. A plain run's units are
// TestRunLifecycleCost's and do not change.
//
//	go test -run TestChildLifecycleCost -v ./internal/awsdynamodb/
func TestChildLifecycleCost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	parent := realistic(flotillatest.NewArrayParent("default", "alice@example.com", 0, 98))
	if _, _, err := b.store.CreateRun(ctx, parent); err != nil {
		t.Fatal(err)
	}
	kids := children(parent, 0, 98)

	type step struct {
		name string
		do   func() error
		want int // write units, at most
	}
	code0, code1 := 0, 1
	at := flotillatest.Epoch.Add(time.Minute)
	life := func(k flotilla.Run, end flotilla.RunStatus, code *int) []step {
		return []step{
			{"admit QUEUED→PENDING", func() error {
				_, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: k.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusPending,
					At: at, Source: flotilla.SourceDispatcher, Reason: "starting", MaxRunning: 10})
				return err
			}, 8}, // {run, counter, summary} × 2 + gsi1 Q#→A# (2)
			{"PENDING→RUNNING", func() error {
				_, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: k.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusRunning,
					At: at.Add(time.Second), Source: flotilla.SourceEngine, Reason: "running", Engine: flotilla.EngineFargate,
					TaskID: "arn:aws:ecs:us-east-1:123456789012:task/flotilla/0123456789abcdef0123456789abcdef"})
				return err
			}, 4}, // {run, summary} × 2
			{"RUNNING→" + string(end), func() error {
				_, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: k.ID, From: []flotilla.RunStatus{flotilla.StatusRunning}, To: end,
					At: at.Add(time.Minute), Source: flotilla.SourceEngine, Reason: fmt.Sprintf("exit code %d", *code), ExitCode: code})
				return err
			}, map[flotilla.RunStatus]int{flotilla.StatusSucceeded: 9, flotilla.StatusFailed: 10}[end]},
			// {run, counter, summary} × 2, + gsi4 P#…#a→#e (2), + gsi1: A# delete (1) or A#→E# (2)
		}
	}
	steps := []step{{"CreateRuns of 98 children", func() error {
		n, err := b.store.CreateRuns(ctx, kids)
		if err == nil && n != len(kids) {
			err = fmt.Errorf("created %d, want %d", n, len(kids))
		}
		return err
	}, 0}}
	steps = append(steps, life(kids[0], flotilla.StatusSucceeded, &code0)...)
	steps = append(steps, life(kids[1], flotilla.StatusFailed, &code1)...)
	created, succeeded := 0.0, 0 // units of the first child's life
	for i, st := range steps {
		before := scan(t, b)
		b.counter.Reset()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		reqs := b.counter.Snapshot()
		after := scan(t, b)
		c := cost(before, after, reqs["DynamoDB.TransactWriteItems"] > 0)
		size := runSize(after, kids[min(1, max(0, (i-1)/3))].ID)
		t.Logf("%-28s requests %v  items %d  table WCU %d  index WCU %d  child item %d B", st.name, reqs, c.items, c.table, c.index, size)
		if size >= 1024 {
			t.Errorf("%s: the child's item is %d B: every write of it costs 2 units", st.name, size)
		}
		if reqs["DynamoDB.TransactWriteItems"] != 1 {
			t.Errorf("%s: %d transactions, want 1", st.name, reqs["DynamoDB.TransactWriteItems"])
		}
		if i == 0 {
			// 98 runs × 2 (a transactional write of a < 1 KB item) +
			// counter 2 + summary 2, and 4 index puts a child (gsi1
			// queue, gsi2 definition, gsi3 owner, gsi4 parent).
			if want := 98*2 + 2 + 2 + 98*4; c.total() > want || c.items != 100 {
				t.Errorf("%s: %d write units over %d items, want at most %d over 100", st.name, c.total(), c.items, want)
			}
			created = float64(c.total()) / 98
			t.Logf("dynamodb_wcu_per_child_created %.2f", created)
			continue
		}
		if i <= 3 {
			succeeded += c.total()
		}
		if c.total() > st.want {
			t.Errorf("%s: %d write units, want at most %d", st.name, c.total(), st.want)
		}
	}
	checkSum(t, b.store, parent.ID, map[flotilla.RunStatus]int{flotilla.StatusQueued: 96, flotilla.StatusSucceeded: 1, flotilla.StatusFailed: 1}, []int{1})
	whole := math.Round((created+float64(succeeded))*100) / 100
	t.Logf("dynamodb_wcu_per_child %.2f (a plain run: TestRunLifecycleCost)", whole)
	if out := os.Getenv("FLOTILLA_BENCH_OUT"); out != "" {
		if err := mergeBench(out, map[string]benchResult{
			"dynamodb_wcu_per_child_created": {math.Round(created*100) / 100, "write units per array child made, in batches of 98", ""},
			"dynamodb_wcu_per_child":         {whole, "write units per array child, made to SUCCEEDED", ""},
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func checkSum(t *testing.T, s flotilla.Store, parent string, counts map[flotilla.RunStatus]int, failed []int) {
	t.Helper()
	sum, err := s.ChildSummary(context.Background(), parent)
	if err != nil {
		t.Fatal(err)
	}
	ended := 0
	for st, n := range counts {
		if st.Terminal() {
			ended += n
		}
	}
	if fmt.Sprint(sum.Counts) != fmt.Sprint(counts) || sum.Ended != ended || !slices.Equal(sum.FailedIndexes, failed) {
		t.Fatalf("summary = %v ended %d failed %v; want %v ended %d failed %v", sum.Counts, sum.Ended, sum.FailedIndexes, counts, ended, failed)
	}
}

// TestChildSummaryReadUnits: the summary of an array of 10,000 children,
// 40 of them stopped, is one Query of ~1 read unit (its 40 summary
// items), however many children there are; it never reads a child.
//
//	go test -run TestChildSummaryReadUnits -v ./internal/awsdynamodb/
func TestChildSummaryReadUnits(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 10,000 children")
	}
	t.Parallel()
	b := setup(t)
	meter := &readMeter{Client: b.raw}
	store := awsdynamodb.New(meter, b.table, awsdynamodb.Options{PutOnRemove: true})
	ctx := context.Background()
	const n = 10000
	parent := realistic(flotillatest.NewArrayParent("default", "alice@example.com", 0, n))
	if _, _, err := store.CreateRun(ctx, parent); err != nil {
		t.Fatal(err)
	}
	kids := children(parent, 0, n)
	began := time.Now()
	for start := 0; start < n; start += 500 {
		if made, err := store.CreateRuns(ctx, kids[start:start+500]); err != nil || made != 500 {
			t.Fatalf("CreateRuns [%d, %d) = %d, %v", start, start+500, made, err)
		}
	}
	t.Logf("10,000 children made in batches of 500 in %v (minidyn)", time.Since(began).Round(time.Millisecond))
	var failed []int
	for i := 37; i < n; i += 250 { // 40 children, in 39 of the 40 summary items
		if _, err := store.TransitionRun(ctx, flotilla.Transition{RunID: kids[i].ID, From: []flotilla.RunStatus{flotilla.StatusQueued},
			To: flotilla.StatusStopped, At: flotillatest.Epoch.Add(time.Minute), Source: flotilla.SourceAPI, ReasonCode: flotilla.ReasonStopped}); err != nil {
			t.Fatal(err)
		}
		failed = append(failed, i)
	}
	meter.reset()
	sum, err := store.ChildSummary(ctx, parent.ID)
	if err != nil {
		t.Fatal(err)
	}
	units, requests := meter.reset()
	if sum.Counts[flotilla.StatusQueued] != n-len(failed) || sum.Counts[flotilla.StatusStopped] != len(failed) || sum.Ended != len(failed) || !slices.Equal(sum.FailedIndexes, failed) {
		t.Fatalf("summary = %v ended %d, %d failed", sum.Counts, sum.Ended, len(sum.FailedIndexes))
	}
	t.Logf("ddb_rcu_per_child_summary_10k %.1f read units in %d requests", units, requests)
	if out := os.Getenv("FLOTILLA_BENCH_OUT"); out != "" {
		if err := mergeBench(out, map[string]benchResult{
			"ddb_rcu_per_child_summary_10k": {units, "read request units per ChildSummary of 10,000 children, 40 stopped", "~1"},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if units > 1 || requests != 1 {
		t.Errorf("ChildSummary of 10,000 children cost %.1f read units in %d requests, want 1 in 1", units, requests)
	}
	if u, err := store.ClusterUsage(ctx, "default"); err != nil || u.Queued != n-len(failed) {
		t.Fatalf("usage = %+v, %v; want %d queued", u, err, n-len(failed))
	}
}

// TestCreateRunsRepeatedConcurrently: four makers create the same 500
// children at once (a crashed materialiser's batch made again while
// another is at it): each child exists once, the makers' counts add up to
// 500, and the queue count and the parent's summary count each child once.
func TestCreateRunsRepeatedConcurrently(t *testing.T) {
	t.Parallel()
	b := setupOn(t, ddbtest.New(), awsdynamodb.Options{})
	ctx := context.Background()
	parent := flotillatest.NewArrayParent("default", "alice", 0, 500)
	if _, _, err := b.store.CreateRun(ctx, parent); err != nil {
		t.Fatal(err)
	}
	kids := children(parent, 0, 500)
	// A few made already, as by a maker that crashed after one batch.
	if n, err := b.store.CreateRuns(ctx, kids[120:130]); err != nil || n != 10 {
		t.Fatalf("first batch = %d, %v", n, err)
	}
	var wg sync.WaitGroup
	made := make([]int, 4)
	for w := range made {
		wg.Go(func() {
			batch := slices.Clone(kids)
			if w%2 == 1 {
				slices.Reverse(batch) // they meet in the middle
			}
			n, err := b.store.CreateRuns(ctx, batch)
			if err != nil {
				t.Errorf("maker %d: %v", w, err)
			}
			made[w] = n
		})
	}
	wg.Wait()
	total := 10
	for _, n := range made {
		total += n
	}
	if total != 500 {
		t.Fatalf("makers created %v (+10 before) = %d, want 500", made, total)
	}
	seen := map[string]int{}
	f := flotilla.RunFilter{Parent: parent.ID, Limit: 500}
	for {
		p, err := b.store.ListRuns(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Items {
			seen[r.ID]++
		}
		if p.NextToken == "" {
			break
		}
		f.NextToken = p.NextToken
	}
	for _, k := range kids {
		if seen[k.ID] != 1 {
			t.Fatalf("child %d listed %d times", *k.ArrayIndex, seen[k.ID])
		}
		if got, err := b.store.GetRun(ctx, k.ID); err != nil || len(got.Attempts) != 1 {
			t.Fatalf("child %d = %+v, %v", *k.ArrayIndex, got, err)
		}
	}
	if len(seen) != 500 {
		t.Fatalf("%d children listed, want 500", len(seen))
	}
	if u, err := b.store.ClusterUsage(ctx, "default"); err != nil || u.Queued != 500 {
		t.Fatalf("usage = %+v, %v; want 500 queued", u, err)
	}
	checkSum(t, b.store, parent.ID, map[flotilla.RunStatus]int{flotilla.StatusQueued: 500}, nil)
}

// TestCreateRunsRetriesAConflictingCounter: a batch that loses to other
// transactions on the counter item (TransactionConflict; minidyn has none,
// so they are injected) is retried and made once; so is a child's status
// change that loses on its parent's summary item.
func TestCreateRunsRetriesAConflictingCounter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := &conflicting{Client: b.raw, n: 5}
	store := awsdynamodb.New(c, b.table, awsdynamodb.Options{PutOnRemove: true})
	parent := flotillatest.NewArrayParent("default", "alice", 0, 150)
	if _, _, err := b.store.CreateRun(ctx, parent); err != nil {
		t.Fatal(err)
	}
	if n, err := store.CreateRuns(ctx, children(parent, 0, 150)); err != nil || n != 150 {
		t.Fatalf("CreateRuns after 5 conflicts = %d, %v", n, err)
	}
	if u, err := b.store.ClusterUsage(ctx, "default"); err != nil || u.Queued != 150 {
		t.Fatalf("usage = %+v, %v; want 150 queued", u, err)
	}
	checkSum(t, b.store, parent.ID, map[flotilla.RunStatus]int{flotilla.StatusQueued: 150}, nil)
	// A child's stop that loses to others on its summary item is
	// retried, and counted once.
	c.n = 3
	kid := children(parent, 7, 1)[0]
	if _, err := store.TransitionRun(ctx, flotilla.Transition{RunID: kid.ID, From: []flotilla.RunStatus{flotilla.StatusQueued},
		To: flotilla.StatusStopped, At: flotillatest.Epoch.Add(time.Minute), Source: flotilla.SourceAPI, ReasonCode: flotilla.ReasonStopped}); err != nil {
		t.Fatalf("stop after 3 conflicts: %v", err)
	}
	checkSum(t, b.store, parent.ID, map[flotilla.RunStatus]int{flotilla.StatusQueued: 149, flotilla.StatusStopped: 1}, []int{7})
}

// TestArrayElementsRoundTrip: 10,000 elements (5 % of them 4 KiB items,
// and 64 in a row, a whole item's worth,
// with characters JSON and HTML treat specially) come back exactly, whole
// and by range, from items that each stay within DynamoDB's 400 KB item
// limit (minidyn does not enforce it, so the test measures them); storing
// them again changes nothing.
func TestArrayElementsRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const n = 10000
	elems := make([]flotilla.ArrayElement, n)
	total := 0
	for i := range elems {
		item := fmt.Sprintf(`{"date":"2026-%02d-%02d","note":"<a&b> é \u2028","n":%d}`, 1+i%12, 1+i%28, i)
		if i%20 == 0 || (i >= 640 && i < 704) { // chunk 10 holds 64 of the largest
			item = fmt.Sprintf(`{"blob":"%s","n":%d}`, strings.Repeat("x", 4096-30), i)
		}
		if !json.Valid([]byte(item)) || len(item) > 4096 {
			t.Fatalf("bad fixture %d: %d bytes", i, len(item))
		}
		elems[i] = flotilla.ArrayElement{Index: 2 * i, Item: json.RawMessage(item)}
		total += len(item)
	}
	if total > 5<<20 {
		t.Fatalf("fixture of %d bytes is over the 5 MiB the service allows", total)
	}
	parent := "run_01JDQZ3W4Y0000000000000000"
	for range 2 {
		if err := b.store.PutArrayElements(ctx, parent, elems); err != nil {
			t.Fatal(err)
		}
	}
	chunks, largest := 0, 0
	for _, it := range scan(t, b) {
		if strings.HasPrefix(sval(it["pk"]), "AE#") {
			chunks++
			largest = max(largest, itemSize(it))
		}
	}
	if chunks != (n+63)/64 || largest >= 400*1024 {
		t.Fatalf("%d element items, the largest %d B; want %d items under 400 KB", chunks, largest, (n+63)/64)
	}
	t.Logf("%d elements (%d KB) in %d items, the largest %d KB", n, total/1024, chunks, largest/1024)
	for _, r := range [][2]int{{0, n}, {0, 500}, {9500, n}, {63, 65}, {4321, 4322}, {9990, 20000}, {5, 5}} {
		got, err := b.store.ArrayElements(ctx, parent, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		want := elems[r[0]:min(r[1], n)]
		if len(got) != len(want) {
			t.Fatalf("ArrayElements(%d, %d) = %d elements, want %d", r[0], r[1], len(got), len(want))
		}
		for i := range got {
			if got[i].Index != want[i].Index || string(got[i].Item) != string(want[i].Item) {
				t.Fatalf("ArrayElements(%d, %d)[%d] = %d %s, want %d %s", r[0], r[1], i, got[i].Index, got[i].Item, want[i].Index, want[i].Item)
			}
		}
	}
	if got, err := b.store.ArrayElements(ctx, "run_other", 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("elements of an array without any = %v, %v", got, err)
	}
}

// TestPipelineReadsFlat: the sweep's read of a cluster's WAITING runs, the
// cascade stop's read of a parent's active children, a page of a parent's
// children and the runs waiting for a run read the
// same units with 1,000 or 5,000 ended runs in the history, among them
// ended children of the same parent and ended runs that waited for other
// runs.
func TestPipelineReadsFlat(t *testing.T) {
	t.Parallel()
	var figs []map[string]float64
	sizes := []int{1000, 5000}
	for _, size := range sizes {
		figs = append(figs, pipelineReads(t, size))
	}
	for _, k := range slices.Sorted(maps.Keys(figs[0])) {
		t.Logf("%-28s %5.1f RRU at %d ended runs, %5.1f at %d", k, figs[0][k], sizes[0], figs[1][k], sizes[1])
		if figs[1][k] > figs[0][k] {
			t.Errorf("%s: %.1f read units at %d ended runs, %.1f at %d: grows with history", k, figs[0][k], sizes[0], figs[1][k], sizes[1])
		}
		if figs[1][k] > float64(pipelineAnswers[k])+1 {
			t.Errorf("%s: %.1f read units for %d runs", k, figs[1][k], pipelineAnswers[k])
		}
	}
}

// pipelineAnswers are how many runs each of pipelineReads's lists finds:
// each costs at most a unit (a strongly consistent read of a run under
// 4 KB), plus one for the Queries.
var pipelineAnswers = map[string]int{"sweep_waiting_of_cluster": 4, "active_children": 5, "children_page_of_10": 10, "waiting_after_dep": 3}

func pipelineReads(t *testing.T, ended int) map[string]float64 {
	b := setupOn(t, ddbtest.New(), awsdynamodb.Options{})
	meter := &readMeter{Client: b.raw}
	store := awsdynamodb.New(meter, b.table, awsdynamodb.Options{})
	ctx := context.Background()

	parent := realistic(flotillatest.NewArrayParent("default", "alice@example.com", 0, ended/2+5))
	dep := flotillatest.NewRun("default", "alice@example.com", 0)
	// The history: half of it ended children of the parent, half ended
	// runs that waited for other runs (with their links).
	var items []map[string]types.AttributeValue
	old := children(parent, 0, ended/2)
	for i, k := range old {
		items = append(items, awsdynamodb.SeedRunItem(endRun(k, i)))
	}
	for i := range ended / 2 {
		r := endRun(seedRun(i, flotillatest.Epoch.Add(time.Duration(i)*time.Second)), i+1)
		r.Cluster = "default"
		r.After = []string{fmt.Sprintf("run_other%d", i%50)}
		items = append(items, awsdynamodb.SeedRunItem(r))
		items = append(items, awsdynamodb.SeedLinkItems(r)...)
	}
	batchWrite(t, b.raw, b.table, items)
	// What is active: the parent, 5 QUEUED children, 3 runs waiting for dep.
	for _, r := range []flotilla.Run{parent, dep} {
		if _, _, err := store.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.CreateRuns(ctx, children(parent, ended/2, 5)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := store.CreateRun(ctx, flotillatest.NewWaitingRun("default", "bob", time.Duration(i+1)*time.Second, dep.ID)); err != nil {
			t.Fatal(err)
		}
	}
	meter.reset()

	active := []flotilla.RunStatus{flotilla.StatusWaiting, flotilla.StatusQueued, flotilla.StatusPending, flotilla.StatusRunning}
	cases := []struct {
		name string
		f    flotilla.RunFilter
		want int
	}{
		{"sweep_waiting_of_cluster", flotilla.RunFilter{Cluster: "default", Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}, Limit: 500}, pipelineAnswers["sweep_waiting_of_cluster"]},
		{"active_children", flotilla.RunFilter{Parent: parent.ID, Statuses: active, Limit: 500}, pipelineAnswers["active_children"]},
		{"children_page_of_10", flotilla.RunFilter{Parent: parent.ID, Limit: 10}, pipelineAnswers["children_page_of_10"]},
		{"waiting_after_dep", flotilla.RunFilter{After: dep.ID, Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}, Limit: 500}, pipelineAnswers["waiting_after_dep"]},
	}
	units := map[string]float64{}
	for _, c := range cases {
		p, err := store.ListRuns(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != c.want || (c.want < c.f.Limit && p.NextToken != "") {
			t.Fatalf("%s at %d: %d runs (token %q), want %d", c.name, ended, len(p.Items), p.NextToken, c.want)
		}
		units[c.name], _ = meter.reset()
	}
	return units
}

// TestWaitingRunsOfEveryCluster: a WAITING run on a cluster that never had
// a QUEUED run (so no launch wrote its counter item) is still found by a
// list of WAITING runs that names no cluster, whether CreateRun or
// CreateRuns (an array's children waiting each for another's) made it;
// and it is counted nowhere as queued.
func TestWaitingRunsOfEveryCluster(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dep := flotillatest.NewRun("default", "ana", 0)
	if _, _, err := b.store.CreateRun(ctx, dep); err != nil {
		t.Fatal(err)
	}
	w := flotillatest.NewWaitingRun("gpu", "ana", time.Second, dep.ID)
	if _, _, err := b.store.CreateRun(ctx, w); err != nil {
		t.Fatal(err)
	}
	parent := flotillatest.NewArrayParent("arm", "ben", 2*time.Second, 2)
	parent.Array.AfterEach = []string{"run_other"}
	kids := children(parent, 0, 2)
	for i := range kids {
		kids[i].Status, kids[i].WaitReason = flotilla.StatusWaiting, flotilla.WaitDependencies
		kids[i].After = []string{fmt.Sprintf("run_other_child%d", i)}
	}
	if n, err := b.store.CreateRuns(ctx, kids); err != nil || n != 2 {
		t.Fatalf("CreateRuns of waiting children = %d, %v", n, err)
	}
	got := collectIDs(t, b.store, flotilla.RunFilter{Statuses: []flotilla.RunStatus{flotilla.StatusWaiting}})
	if want := []string{kids[1].ID, kids[0].ID, w.ID}; !slices.Equal(got, want) {
		t.Fatalf("WAITING runs = %v, want %v", got, want)
	}
	if got := collectIDs(t, b.store, flotilla.RunFilter{After: "run_other_child1"}); !slices.Equal(got, []string{kids[1].ID}) {
		t.Fatalf("runs after run_other_child1 = %v", got)
	}
	for _, c := range []string{"gpu", "arm"} {
		if u, err := b.store.ClusterUsage(ctx, c); err != nil || u.Queued != 0 || u.Running != 0 {
			t.Fatalf("usage of %s = %+v, %v; want nothing queued", c, u, err)
		}
	}
	checkSum(t, b.store, parent.ID, map[flotilla.RunStatus]int{flotilla.StatusWaiting: 2}, nil)
}

func collectIDs(t *testing.T, s flotilla.Store, f flotilla.RunFilter) []string {
	t.Helper()
	var out []string
	for {
		p, err := s.ListRuns(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Items {
			out = append(out, r.ID)
		}
		if p.NextToken == "" {
			return out
		}
		f.NextToken = p.NextToken
	}
}

// TestFullSummaryChunkUnderOneKB: a summary item whose 256 children all
// ended STOPPED stays under 1 KB, so each child's summary write costs 2
// units (in a transaction) however many failed; and the last stop's write
// is measured too.
func TestFullSummaryChunkUnderOneKB(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	parent := flotillatest.NewArrayParent("default", "alice", 0, 256)
	if _, _, err := b.store.CreateRun(ctx, parent); err != nil {
		t.Fatal(err)
	}
	kids := children(parent, 0, 256)
	if n, err := b.store.CreateRuns(ctx, kids); err != nil || n != 256 {
		t.Fatalf("CreateRuns = %d, %v", n, err)
	}
	stop := func(k flotilla.Run) {
		if _, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: k.ID, From: []flotilla.RunStatus{flotilla.StatusQueued},
			To: flotilla.StatusStopped, At: flotillatest.Epoch.Add(time.Minute), Source: flotilla.SourceAPI, ReasonCode: flotilla.ReasonStopped}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range kids[:255] {
		stop(k)
	}
	before := scan(t, b)
	stop(kids[255])
	after := scan(t, b)
	var all []int
	for i := range 256 {
		all = append(all, i)
	}
	checkSum(t, b.store, parent.ID, map[flotilla.RunStatus]int{flotilla.StatusStopped: 256}, all)
	size := 0
	for _, it := range after {
		if sval(it["pk"]) == "C#"+parent.ID {
			size = itemSize(it)
		}
	}
	c := cost(before, after, true)
	t.Logf("summary item with 256 failed children: %d B; the last stop wrote %d units over %d items", size, c.total(), c.items)
	if size == 0 || size >= 1024 {
		t.Fatalf("summary item is %d B, want under 1 KB", size)
	}
	// {run, counter, summary} × 2 + gsi1 Q#→E# 2 + gsi4 #a→#e 2.
	if c.total() > 10 || c.items != 3 {
		t.Fatalf("the last stop wrote %d units over %d items, want at most 10 over 3", c.total(), c.items)
	}
}

// TestPipelineFieldsRoundTrip: what arrays and dependencies add to a run
// (an array's description, a child's index, even 0, and item, the runs it
// waits for) reads back as stored, and the summary is never stored.
func TestPipelineFieldsRoundTrip(t *testing.T) {
	t.Parallel()
	b := setupWith(t, awsdynamodb.Options{})
	ctx := context.Background()
	p := flotillatest.NewArrayParent("default", "alice", 0, 3)
	p.After = []string{"run_a", "run_b"}
	p.Array = &flotilla.Array{Size: 3, Listed: true, Items: true, AfterEach: []string{"run_x", "run_y"}, RetryOf: "run_z",
		ParametersSchema: json.RawMessage(`{"type":"object","properties":{"day":{"type":"string"}}}`),
		Summary:          &flotilla.ChildSummary{Counts: map[flotilla.RunStatus]int{flotilla.StatusQueued: 3}}}
	if _, _, err := b.store.CreateRun(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := b.store.GetRun(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *p.Array
	want.Summary = nil
	if got.Array == nil || fmt.Sprint(*got.Array) != fmt.Sprint(want) || !slices.Equal(got.After, p.After) || got.ArrayIndex != nil || got.ArrayItem != nil {
		t.Fatalf("parent read back: array %+v after %v index %v item %s; want %+v after %v", got.Array, got.After, got.ArrayIndex, got.ArrayItem, want, p.After)
	}
	k := flotillatest.NewArrayChild(p, 0)
	k.ArrayItem = json.RawMessage(`{"day":"2026-01-01","note":"<&>"}`)
	if n, err := b.store.CreateRuns(ctx, []flotilla.Run{k}); err != nil || n != 1 {
		t.Fatalf("CreateRuns = %d, %v", n, err)
	}
	c, err := b.store.GetRun(ctx, k.ID)
	if err != nil || c.ArrayIndex == nil || *c.ArrayIndex != 0 || string(c.ArrayItem) != string(k.ArrayItem) || c.Array != nil || c.After != nil || c.Parent != p.ID {
		t.Fatalf("child read back: %+v, %v", c, err)
	}
}

// TestWaitingRunCost measures a run that waits for another: its create
// (its link, then the run, in no transaction and touching no counter) and
// its release to QUEUED (the run and the counter's queue count, in one
// transaction); from there it costs what a plain run does.
//
//	go test -run TestWaitingRunCost -v ./internal/awsdynamodb/
func TestWaitingRunCost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dep := realistic(flotillatest.NewRun("default", "alice@example.com", 0))
	if _, _, err := b.store.CreateRun(ctx, dep); err != nil { // the cluster's counter item exists
		t.Fatal(err)
	}
	w := realistic(flotillatest.NewWaitingRun("default", "alice@example.com", time.Second, dep.ID))
	steps := []struct {
		name  string
		do    func() error
		want  int
		txns  int
		items int
	}{
		// link 1 + run 1 + gsi1 W#, gsi2, gsi3 puts 3.
		{"create WAITING after 1 run", func() error { _, _, err := b.store.CreateRun(ctx, w); return err }, 5, 0, 2},
		// {run, counter} × 2 + gsi1 W#→Q# 2.
		{"release WAITING→QUEUED", func() error {
			_, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: w.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, To: flotilla.StatusQueued,
				At: flotillatest.Epoch.Add(time.Minute), Source: flotilla.SourceEngine, Reason: "the runs it waited for succeeded"})
			return err
		}, 6, 1, 2},
	}
	for _, st := range steps {
		before := scan(t, b)
		b.counter.Reset()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		reqs := b.counter.Snapshot()
		after := scan(t, b)
		c := cost(before, after, reqs["DynamoDB.TransactWriteItems"] > 0)
		t.Logf("%-28s requests %v  items %d  table WCU %d  index WCU %d", st.name, reqs, c.items, c.table, c.index)
		if c.total() > st.want || reqs["DynamoDB.TransactWriteItems"] != st.txns || c.items != st.items {
			t.Errorf("%s: %d write units over %d items in %d transactions, want at most %d over %d in %d",
				st.name, c.total(), c.items, reqs["DynamoDB.TransactWriteItems"], st.want, st.items, st.txns)
		}
	}
	if u, err := b.store.ClusterUsage(ctx, "default"); err != nil || u.Queued != 2 {
		t.Fatalf("usage = %+v, %v; want both runs queued", u, err)
	}
}
