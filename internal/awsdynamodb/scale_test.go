package awsdynamodb_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb/ddbtest"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
	"github.com/flotilla-run/flotilla/internal/ids"
)

// readMeter is the store's DynamoDB client with DynamoDB's read billing
// applied to every answer (minidyn reports no ConsumedCapacity): a
// GetItem or each item of a BatchGetItem costs its size rounded up to 4 KB,
// at least one unit; a Query costs the summed size of the items it read,
// rounded up to 4 KB; eventually consistent reads (and every index read)
// cost half. Sizes are DynamoDB's (attribute names plus values, itemSize).
// Source: DynamoDB Developer Guide, "DynamoDB read and write operations"
// and "Read consistency". The store uses no FilterExpression, so the items
// a Query read are the items it returned; the only Select COUNT Query
// (QueuedAhead) is not measured here.
type readMeter struct {
	*dynamodb.Client
	mu       sync.Mutex
	units    float64
	requests int
}

func (m *readMeter) add(u float64) {
	m.mu.Lock()
	m.units += u
	m.requests++
	m.mu.Unlock()
}

func (m *readMeter) reset() (units float64, requests int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	units, requests = m.units, m.requests
	m.units, m.requests = 0, 0
	return units, requests
}

func readRate(consistent *bool) float64 {
	if aws.ToBool(consistent) {
		return 1
	}
	return 0.5
}

func (m *readMeter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := m.Client.GetItem(ctx, in, opts...)
	if err == nil {
		m.add(math.Max(1, math.Ceil(float64(itemSize(out.Item))/4096)) * readRate(in.ConsistentRead))
	}
	return out, err
}

func (m *readMeter) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := m.Client.Query(ctx, in, opts...)
	if err == nil {
		size := 0
		for _, it := range out.Items {
			size += itemSize(it)
		}
		m.add(math.Max(1, math.Ceil(float64(size)/4096)) * readRate(in.ConsistentRead))
	}
	return out, err
}

func (m *readMeter) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := m.Client.BatchGetItem(ctx, in, opts...)
	if err == nil {
		u := 0.0
		for table, items := range out.Responses {
			for _, it := range items {
				u += math.Max(1, math.Ceil(float64(itemSize(it))/4096)) * readRate(in.RequestItems[table].ConsistentRead)
			}
		}
		m.add(u)
	}
	return out, err
}

// history seeds a table with BatchWriteItem: ended runs (1 % FAILED, the
// rest SUCCEEDED) of 10 definitions, 20 owners, 2 clusters and 10 tags;
// 10 RUNNING runs on cluster "default" (holding its slots); and queued
// runs of 100 owners on cluster "batch", with the counter items the
// store keeps for them.
type history struct {
	ended, queued int
}

func seedRun(i int, at time.Time) flotilla.Run {
	r := flotillatest.NewRun([]string{"default", "gpu"}[i%2], fmt.Sprintf("user%02d@example.com", i%20), 0)
	r.ID = ids.New(ids.Run, at)
	r.QueuedAt, r.Attempts[0].QueuedAt = at, at
	r.DefinitionID = fmt.Sprintf("def_%d", i%10)
	r.Alias = "etl-nightly"
	r.Image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/data/etl:2026.11.3"
	r.Command = "python -m jobs.nightly --date 2026-11-26 --out s3://acme-data/etl/"
	r.Env = map[string]string{"STAGE": "prod", "LOG_LEVEL": "info", "DB_HOST": "db.internal.acme.com", "BATCH": "500"}
	r.Tags = []string{fmt.Sprintf("t%d", i%10)}
	return r
}

func endRun(r flotilla.Run, i int) flotilla.Run {
	start, end := r.QueuedAt.Add(time.Second), r.QueuedAt.Add(time.Minute)
	code := 0
	r.Status, r.ReasonCode, r.StatusReason = flotilla.StatusSucceeded, flotilla.ReasonSucceeded, "exit code 0"
	if i%100 == 0 {
		code = 1
		r.Status, r.ReasonCode, r.StatusReason = flotilla.StatusFailed, flotilla.ReasonExitCode, "exit code 1"
	}
	r.StartedAt, r.FinishedAt, r.ExitCode = &start, &end, &code
	r.Attempts[0].StartedAt, r.Attempts[0].FinishedAt, r.Attempts[0].ExitCode = &start, &end, &code
	r.Attempts[0].TaskID = "arn:aws:ecs:us-east-1:123456789012:task/flotilla/0123456789abcdef0123456789abcdef"
	return r
}

func batchWrite(t testing.TB, db *dynamodb.Client, table string, items []map[string]types.AttributeValue) {
	t.Helper()
	ctx := context.Background()
	for start := 0; start < len(items); start += 25 {
		var reqs []types.WriteRequest
		for _, it := range items[start:min(start+25, len(items))] {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
		}
		for len(reqs) > 0 {
			out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
			if err != nil {
				t.Fatalf("seed: %v", err)
			}
			reqs = out.UnprocessedItems[table]
		}
	}
}

// figures are the read units of each access pattern on one seeded table.
type figures struct {
	units map[string]float64
	items map[string]int // runs on the measured page
}

func measureReads(t testing.TB, h history) figures {
	t.Helper()
	b := setupOn(t, ddbtest.New(), awsdynamodb.Options{})
	meter := &readMeter{Client: b.raw}
	store := awsdynamodb.New(meter, b.table, awsdynamodb.Options{})
	ctx := context.Background()

	start := flotillatest.Epoch
	var items []map[string]types.AttributeValue
	for i := range h.ended {
		items = append(items, awsdynamodb.SeedRunItem(endRun(seedRun(i, start.Add(time.Duration(i)*time.Second)), i)))
	}
	now := start.Add(time.Duration(h.ended+1) * time.Second)
	held := map[string]int{}
	for i := range 10 {
		r := seedRun(2*i, now.Add(time.Duration(i)*time.Millisecond)) // cluster default
		s := now.Add(time.Second)
		r.Status, r.StartedAt = flotilla.StatusRunning, &s
		items = append(items, awsdynamodb.SeedRunItem(r))
		held[r.Owner]++
	}
	queued := map[string]int{}
	var queuedRun flotilla.Run
	for i := range h.queued {
		r := seedRun(i, now.Add(time.Minute+time.Duration(i)*time.Millisecond))
		r.Cluster = "batch"
		r.Owner = fmt.Sprintf("queuer%03d@example.com", i%100)
		items = append(items, awsdynamodb.SeedRunItem(r))
		queued[r.Owner]++
		queuedRun = r
	}
	items = append(items, awsdynamodb.SeedCounterItem("default", nil, held), awsdynamodb.SeedCounterItem("batch", queued, nil))
	batchWrite(t, b.raw, b.table, items)

	f := figures{units: map[string]float64{}, items: map[string]int{}}
	meter.reset()
	pages := map[string]flotilla.RunFilter{
		"none":                  {},
		"status_failed":         {Statuses: []flotilla.RunStatus{flotilla.StatusFailed}},
		"definition_and_status": {DefinitionID: "def_0", Statuses: []flotilla.RunStatus{flotilla.StatusFailed}},
		"owner":                 {Owner: "user07@example.com"},
		"tag":                   {Tag: "t3"},
		"cluster":               {Cluster: "gpu"},
		"status_succeeded":      {Statuses: []flotilla.RunStatus{flotilla.StatusSucceeded}},
		"active":                {Statuses: []flotilla.RunStatus{flotilla.StatusQueued, flotilla.StatusPending, flotilla.StatusRunning}},
	}
	for name, flt := range pages {
		flt.Limit = 50
		p, err := store.ListRuns(ctx, flt)
		if err != nil {
			t.Fatalf("list %s: %v", name, err)
		}
		f.units["list_page_"+name], _ = meter.reset()
		f.items["list_page_"+name] = len(p.Items)
	}

	// The sweep's read of a cluster's active runs, all pages.
	sweep := flotilla.RunFilter{Cluster: "default", Statuses: []flotilla.RunStatus{flotilla.StatusPending, flotilla.StatusRunning}, Limit: 500}
	active := 0
	for {
		p, err := store.ListRuns(ctx, sweep)
		if err != nil {
			t.Fatalf("sweep: %v", err)
		}
		active += len(p.Items)
		if p.NextToken == "" {
			break
		}
		sweep.NextToken = p.NextToken
	}
	if active != 10 {
		t.Fatalf("the sweep found %d active runs, want 10", active)
	}
	f.units["sweep"], _ = meter.reset()
	f.items["sweep"] = active

	// What Dispatch reads before its admission write: the run, the
	// cluster's usage and the owners' turns (internal/runs: Dispatch,
	// fairNext with maxOwnersPerTurn 1000).
	if h.queued > 0 {
		if _, err := store.GetRun(ctx, queuedRun.ID); err != nil {
			t.Fatal(err)
		}
		u, err := store.ClusterUsage(ctx, "batch")
		if err != nil || u.Queued != h.queued {
			t.Fatalf("usage = %+v, %v; want %d queued", u, err, h.queued)
		}
		heads, err := store.OldestQueuedPerOwner(ctx, "batch", 1000)
		if err != nil || len(heads) != min(100, h.queued) {
			t.Fatalf("heads = %d, %v", len(heads), err)
		}
		f.units["dispatch"], _ = meter.reset()
		f.items["dispatch"] = len(heads)
	}
	return f
}

// TestReadsFlatAsHistoryGrows seeds histories of growing size (1,000 and
// 10,000 ended runs; FLOTILLA_DDB_SCALE="10000,50000,100000" for others)
// and checks that each access pattern's read units stay flat as history
// grows: a page of 50 runs per filter, the sweep's read of a cluster's 10
// active runs, and the reads of one dispatch with runs queued by 100
// owners (100 at the smallest size, the fewest 100 owners can queue; then
// a tenth of the size, at most 10,000). With FLOTILLA_BENCH_OUT set it
// merges the figures into that JSON file.
//
//	go test -run TestReadsFlatAsHistoryGrows -v ./internal/awsdynamodb/
func TestReadsFlatAsHistoryGrows(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 12,000 items")
	}
	sizes := []int{1000, 10000}
	if v := os.Getenv("FLOTILLA_DDB_SCALE"); v != "" {
		sizes = nil
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n < 100 || (len(sizes) > 0 && n <= sizes[len(sizes)-1]) {
				t.Fatalf("FLOTILLA_DDB_SCALE=%q: want growing sizes of at least 100, e.g. 10000,50000,100000", v)
			}
			sizes = append(sizes, n)
		}
		if len(sizes) < 2 {
			t.Fatalf("FLOTILLA_DDB_SCALE=%q: want two sizes or more", v)
		}
	}
	queued := make([]int, len(sizes))
	figs := make([]figures, len(sizes))
	for i, n := range sizes {
		queued[i] = 100
		if i > 0 {
			queued[i] = max(100, min(n/10, 10000))
		}
		began := time.Now()
		figs[i] = measureReads(t, history{ended: n, queued: queued[i]})
		t.Logf("%d ended and %d queued runs seeded and measured in %v", n, queued[i], time.Since(began).Round(time.Second))
	}

	results := map[string]benchResult{}
	last := len(sizes) - 1
	for _, k := range sortedKeys(figs[0].units) {
		var line strings.Builder
		for i := range sizes {
			fmt.Fprintf(&line, "  %6.1f RRU (%3d runs) at %s", figs[i].units[k], figs[i].items[k], short(sizes[i]))
		}
		t.Logf("%-32s%s", k, line.String())
		limit, goal := 1.5, "< 60"
		switch k {
		case "sweep":
			limit, goal = 1.2, ""
		case "dispatch", "list_page_active":
			// Both read one queue partition per owner waiting (100
			// here): they grow with the owners, not the history.
			goal = ""
		}
		for i, n := range sizes {
			name := fmt.Sprintf("ddb_rcu_per_%s_at_%s", k, short(n))
			if k == "dispatch" {
				name = fmt.Sprintf("ddb_rcu_per_dispatch_%s_queued", short(queued[i]))
			}
			results[name] = benchResult{figs[i].units[k], "read request units", goal}
		}
		if goal != "" && figs[last].units[k] >= 60 {
			t.Errorf("%s: %.1f read units for a page of 50, want < 60", k, figs[last].units[k])
		}
		// Compare the largest history with the smallest whose answer was
		// as large: where a smaller history's answer is smaller (1 % of
		// 1,000 runs is 10 FAILED runs, not a page of 50), the reads grow
		// with the answer, as they should.
		base := slices.IndexFunc(figs, func(f figures) bool { return f.items[k] >= figs[last].items[k] })
		if base == last {
			t.Logf("%s: the answer grew with the history; not compared", k)
			continue
		}
		growth := math.Round(figs[last].units[k]/figs[base].units[k]*100) / 100
		// SUCCEEDED and a cluster alone have no index of their own (a
		// succeeded run leaves the state index; doc.go): their pages are
		// held to the read budget (the < 60 check above), and how many runs
		// a page finds depends on where the seeding put them. Their growth
		// is reported, not held to the goal, which issue 14 sets for the
		// other filters.
		bounded := k == "list_page_status_succeeded" || k == "list_page_cluster"
		goalText := fmt.Sprintf("<= %.1f", limit)
		if bounded {
			goalText = ""
		}
		results["ddb_rcu_growth_"+k] = benchResult{growth, fmt.Sprintf("× from %s to %s", short(sizes[base]), short(sizes[last])), goalText}
		if bounded {
			t.Logf("%s: %.1f× (budget-bounded, not indexed: reported, not asserted)", k, growth)
			continue
		}
		if growth > limit {
			t.Errorf("%s: %.1f read units at %d, %.1f at %d: grows with history", k, figs[base].units[k], sizes[base], figs[last].units[k], sizes[last])
		}
	}
	if out := os.Getenv("FLOTILLA_BENCH_OUT"); out != "" {
		if err := mergeBench(out, results); err != nil {
			t.Fatal(err)
		}
	}
}

func short(n int) string {
	switch {
	case n >= 1000000 && n%1000000 == 0:
		return fmt.Sprintf("%dm", n/1000000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}
