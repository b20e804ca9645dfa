package awsdynamodb_test

import (
	"context"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

// minidyn returns no ConsumedCapacity, so the write units a step costs are
// computed here from DynamoDB's published billing rules, applied to the
// table as it is before and after the step (read with an uncounted client):
//
//   - a written item costs ceil(max(size before, size after) / 1 KB) units,
//     twice that inside TransactWriteItems;
//   - each GSI costs 1 unit when an item enters or leaves it, 2 when its
//     index keys change, and nothing otherwise (its projection holds the
//     keys and attributes that never change after create, which a status
//     change does not touch); an index entry is far under 1 KB.
//
// Whether index writes caused by a transaction are doubled is not stated in
// AWS's documentation; indexTxn reports them separately, so the
// conservative total (doubled) can be read off too.

type snapshot map[string]map[string]types.AttributeValue

func scan(t testing.TB, b bundle) snapshot {
	t.Helper()
	snap := snapshot{}
	var start map[string]types.AttributeValue
	for {
		out, err := b.raw.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(b.table), ExclusiveStartKey: start})
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		for _, it := range out.Items {
			snap[sval(it["pk"])+"\x00"+sval(it["sk"])] = it
		}
		if len(out.LastEvaluatedKey) == 0 {
			return snap
		}
		start = out.LastEvaluatedKey
	}
}

func sval(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// itemSize is DynamoDB's item size: each attribute's name plus its value.
func itemSize(it map[string]types.AttributeValue) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		digits := strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(v.Value), "0")
		return (len(digits)+1)/2 + 1
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, e := range v.Value {
			n += valueSize(&types.AttributeValueMemberN{Value: e})
		}
		return n
	}
	return 0
}

func kb(size int) int { return int(math.Ceil(float64(size) / 1024)) }

type stepCost struct {
	items    int // items written
	table    int // table write units (doubled in a transaction)
	index    int // GSI write units, counted once
	indexTxn int // of index, the units caused by a transaction's writes
	indexAll int // GSI write units if both indexes projected ALL
}

func (c stepCost) total() int { return c.table + c.index }

func cost(before, after snapshot, txn bool) stepCost {
	var c stepCost
	keys := slices.Sorted(maps.Keys(before))
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		old, next := before[k], after[k]
		if reflect.DeepEqual(old, next) {
			continue
		}
		c.items++
		units := kb(max(itemSize(old), itemSize(next)))
		if txn {
			units *= 2
		}
		c.table += units
		for _, gsi := range [][2]string{{"gsi1pk", "sk"}, {"gsi2pk", "sk"}, {"gsi3pk", "sk"}, {"gsi4pk", "sk"}} {
			in := func(it map[string]types.AttributeValue) (string, bool) {
				pk, sk := sval(it[gsi[0]]), sval(it[gsi[1]])
				return pk + "\x00" + sk, it != nil && pk != "" && sk != ""
			}
			was, inBefore := in(old)
			is, inAfter := in(next)
			var n, all int
			switch {
			case inBefore && inAfter && was != is:
				n, all = 2, kb(itemSize(old))+kb(itemSize(next))
			case inBefore && inAfter:
				all = kb(max(itemSize(old), itemSize(next))) // a projected attribute changed
			case inBefore:
				n, all = 1, kb(itemSize(old))
			case inAfter:
				n, all = 1, kb(itemSize(next))
			}
			c.indexAll += all
			c.index += n
			if txn {
				c.indexTxn += n
			}
		}
	}
	return c
}

// lifecycle drives one run from launch to SUCCEEDED, the way the use cases
// do, and returns each step's requests and write units.
type stepReport struct {
	name     string
	requests map[string]int
	cost     stepCost
	runSize  int
}

// Without measure it only runs the steps (for the benchmark).
func lifecycle(t testing.TB, b bundle, cluster string, offset time.Duration, ownerCap int, withKey, measure bool) []stepReport {
	t.Helper()
	ctx := context.Background()
	// A realistic run: an ECR image, a real command line, a few env
	// variables and tags, and times with nanoseconds, as time.Now makes.
	r := flotillatest.NewRun(cluster, "alice@example.com", offset)
	r.QueuedAt = r.QueuedAt.Add(123456789)
	r.Attempts[0].QueuedAt = r.QueuedAt
	r.Alias = "etl-nightly"
	r.Image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/data/etl:2026.11.3"
	r.Command = "python -m jobs.nightly --date 2026-11-26 --out s3://acme-data/etl/"
	r.Env = map[string]string{"STAGE": "prod", "LOG_LEVEL": "info", "DB_HOST": "db.internal.acme.com", "BATCH": "500"}
	r.Tags = []string{"etl", "nightly"}
	r.StatusReason = "waiting to be dispatched"
	if withKey {
		r.IdempotencyKey = "nightly-" + r.ID[len(r.ID)-10:] // unique per run
	}
	r.TimeoutSeconds = 3600
	est := 0.0012
	r.EstimatedCostUSD = &est
	at := r.QueuedAt.Add(987654321)
	steps := []struct {
		name string
		do   func() error
	}{
		{"create", func() error { _, _, err := b.store.CreateRun(ctx, r); return err }},
		{"admit QUEUED→PENDING", func() error {
			_, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, To: flotilla.StatusPending,
				At: at.Add(time.Second), Source: flotilla.SourceDispatcher, Reason: "starting", MaxRunning: 10, MaxRunningPerOwner: ownerCap})
			return err
		}},
		{"engine PENDING→RUNNING", func() error {
			_, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusRunning,
				At: at.Add(30 * time.Second), Source: flotilla.SourceEngine, Reason: "running", Attempt: 1, Engine: flotilla.EngineFargate,
				TaskID: "arn:aws:ecs:us-east-1:123456789012:task/flotilla/0123456789abcdef0123456789abcdef"})
			return err
		}},
		{"engine RUNNING→SUCCEEDED", func() error {
			code, cost := 0, 0.0011
			_, err := b.store.TransitionRun(ctx, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending, flotilla.StatusRunning},
				To: flotilla.StatusSucceeded, At: at.Add(5 * time.Minute), Source: flotilla.SourceEngine, Reason: "exit code 0", Attempt: 1,
				ReasonCode: flotilla.ReasonSucceeded, ExitCode: &code, CostUSD: &cost})
			return err
		}},
	}
	var out []stepReport
	for _, st := range steps {
		if !measure {
			if err := st.do(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			continue
		}
		before := scan(t, b)
		b.counter.Reset()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		reqs := b.counter.Snapshot()
		after := scan(t, b)
		c := cost(before, after, reqs["DynamoDB.TransactWriteItems"] > 0)
		out = append(out, stepReport{name: st.name, requests: reqs, cost: c, runSize: runSize(after, r.ID)})
	}
	return out
}

// runSize is the size of the run's item in a snapshot, whichever shard
// holds it.
func runSize(snap snapshot, id string) int {
	for k, it := range snap {
		if strings.HasSuffix(k, "\x00"+id) {
			return itemSize(it)
		}
	}
	return 0
}

// TestRunLifecycleCost measures one run from launch to SUCCEEDED: the AWS
// requests per operation and the DynamoDB write units (dynamodb_wcu_per_run).
//
//	go test -run TestRunLifecycleCost -v ./internal/awsdynamodb/
func TestRunLifecycleCost(t *testing.T) {
	cases := []struct {
		withKey  bool
		ownerCap int
		want     int
		txns     int
	}{
		// 6 (create: key + run + counter's queue count, transactional) +
		// 3 index puts (the owner's queue, the definition's and the
		// owner's history), 4 (admit: run + counter, transactional) + 2
		// (the state index moves from the queue to the active runs), 1
		// (running), 4 (end: run + counter, transactional) + 1 (a
		// SUCCEEDED run leaves the state index).
		{withKey: true, ownerCap: 0, want: 21, txns: 3},
		// The owner's counter is in the cluster's counter item: no more.
		{withKey: true, ownerCap: 2, want: 21, txns: 3},
		// Without a key, create is run + counter: 4 + 3 index puts.
		{withKey: false, ownerCap: 0, want: 19, txns: 3},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("key_%v_owner_cap_%d", c.withKey, c.ownerCap), func(t *testing.T) {
			b := setup(t)
			steps := lifecycle(t, b, "default", 0, c.ownerCap, c.withKey, true)
			total, indexTxn, allProjected, maxSize := 0, 0, 0, 0
			requests := map[string]int{}
			for _, s := range steps {
				t.Logf("%-30s requests %v  items %d  table WCU %d  index WCU %d  run item %d B",
					s.name, s.requests, s.cost.items, s.cost.table, s.cost.index, s.runSize)
				total += s.cost.total()
				indexTxn += s.cost.indexTxn
				allProjected += s.cost.table + s.cost.indexAll
				maxSize = max(maxSize, s.runSize)
				for k, v := range s.requests {
					requests[k] += v
				}
			}
			t.Logf("aws_requests_per_run %v", requests)
			t.Logf("dynamodb_wcu_per_run %d (%d if index writes inside transactions are doubled; %d if the indexes projected ALL); largest run item %d B",
				total, total+indexTxn, allProjected, maxSize)
			if total > c.want {
				t.Errorf("dynamodb_wcu_per_run = %d, want at most %d", total, c.want)
			}
			if maxSize >= 1024 {
				t.Errorf("the run item grew to %d B: every write of it now costs 2 units", maxSize)
			}
			if n := requests["DynamoDB.TransactWriteItems"]; n != c.txns {
				t.Errorf("%d transactions, want %d (create, admit, end)", n, c.txns)
			}
		})
	}
}

// BenchmarkRunLifecycle times one run from launch to SUCCEEDED against
// minidyn over HTTP and reports the AWS requests it makes.
//
//	go test -run '^$' -bench RunLifecycle ./internal/awsdynamodb/
func BenchmarkRunLifecycle(b *testing.B) {
	bb := setup(b)
	b.ResetTimer()
	for i := range b.N {
		lifecycle(b, bb, "default", time.Duration(i)*time.Millisecond, 0, true, false)
	}
	b.StopTimer()
	reqs := 0
	for _, n := range bb.counter.Snapshot() {
		reqs += n
	}
	b.ReportMetric(float64(reqs)/float64(b.N), "requests/run")
}
