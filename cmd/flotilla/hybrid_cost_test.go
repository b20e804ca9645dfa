package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"

	"github.com/flotilla-run/flotilla/internal/benchout"
)

// ddbProxy stands in front of minidyn. It answers a fraction of requests
// with DynamoDB's throttling error or a 500, and, when metering, computes
// the units DynamoDB would bill (minidyn reports no ConsumedCapacity).
//
// Write units follow the rules of internal/awsdynamodb's
// TestRunLifecycleCost, applied to the table before and after each write
// (writes are serialised while metering): a written item costs
// ceil(max(size before, size after) / 1 KB), twice that in
// TransactWriteItems; a keys-only GSI costs 1 when an item enters or leaves
// it and 2 when its keys change; a write refused by its condition still
// costs its items. Read units: ceil(bytes read / 4 KB) per
// request (per item for BatchGetItem), at least 1, halved when eventually
// consistent; sizes are DynamoDB's (names plus values).
type ddbProxy struct {
	inner http.Handler
	table string
	rate  float64

	rngMu  sync.Mutex
	rng    *rand.Rand
	faults atomic.Int64

	meter   bool
	writeMu sync.Mutex
	mu      sync.Mutex
	wcu     float64
	rru     float64
	byOp    map[string]float64 // write units by operation
}

const ddbTarget = "DynamoDB_20120810."

func (p *ddbProxy) fault() int {
	if p.rate <= 0 {
		return 0
	}
	p.rngMu.Lock()
	defer p.rngMu.Unlock()
	if p.rng.Float64() >= p.rate {
		return 0
	}
	p.faults.Add(1)
	if p.rng.IntN(2) == 0 {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (p *ddbProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), ddbTarget)
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if op != "CreateTable" && op != "DescribeTable" {
		switch p.fault() {
		case http.StatusBadRequest:
			writeDDBError(w, http.StatusBadRequest, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")
			return
		case http.StatusInternalServerError:
			writeDDBError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error")
			return
		}
	}
	if !p.meter {
		p.inner.ServeHTTP(w, r)
		return
	}
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem":
		p.writeMu.Lock()
		before := p.scan()
		rec := p.serve(r)
		after := p.scan()
		p.writeMu.Unlock()
		units := writeUnits(before, after, op == "TransactWriteItems")
		if rec.Code == http.StatusBadRequest && units == 0 {
			units = failedWriteUnits(op, body)
		}
		p.mu.Lock()
		p.wcu += float64(units)
		if p.byOp == nil {
			p.byOp = map[string]float64{}
		}
		p.byOp[op] += float64(units)
		p.mu.Unlock()
		copyResponse(w, rec)
	case "GetItem", "Query", "BatchGetItem", "Scan":
		rec := p.serve(r)
		units := readUnits(op, body, rec.Body.Bytes())
		p.mu.Lock()
		p.rru += units
		p.mu.Unlock()
		copyResponse(w, rec)
	default:
		p.inner.ServeHTTP(w, r)
	}
}

func writeDDBError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":%q}`, typ, msg)
}

func (p *ddbProxy) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	p.inner.ServeHTTP(rec, r)
	return rec
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// units returns the units metered so far, and the write units by
// operation, and resets them.
func (p *ddbProxy) units() (wcu, rru float64, byOp map[string]float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wcu, rru, byOp = p.wcu, p.rru, p.byOp
	p.wcu, p.rru, p.byOp = 0, 0, nil
	return wcu, rru, byOp
}

type item = map[string]any

// scan reads the whole table from minidyn directly (not metered).
func (p *ddbProxy) scan() map[string]item {
	out := map[string]item{}
	var start any
	for {
		in := map[string]any{"TableName": p.table}
		if start != nil {
			in["ExclusiveStartKey"] = start
		}
		b, _ := json.Marshal(in)
		req := httptest.NewRequest("POST", "/", bytes.NewReader(b))
		req.Header.Set("X-Amz-Target", ddbTarget+"Scan")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		rec := p.serve(req)
		var page struct {
			Items            []item
			LastEvaluatedKey any
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || rec.Code != 200 {
			panic(fmt.Sprintf("scan: %d %s", rec.Code, rec.Body))
		}
		for _, it := range page.Items {
			out[str(it["pk"])+"\x00"+str(it["sk"])] = it
		}
		if m, ok := page.LastEvaluatedKey.(map[string]any); !ok || len(m) == 0 {
			return out
		}
		start = page.LastEvaluatedKey
	}
}

func str(v any) string {
	if m, ok := v.(map[string]any); ok {
		if s, ok := m["S"].(string); ok {
			return s
		}
	}
	return ""
}

// itemSize is DynamoDB's size of an item in its JSON wire form.
func itemSize(it item) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v any) int {
	m, _ := v.(map[string]any)
	for typ, val := range m {
		switch typ {
		case "S":
			return len(val.(string))
		case "B":
			return len(val.(string)) * 3 / 4 // base64
		case "N":
			digits := strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(val.(string)), "0")
			return (len(digits)+1)/2 + 1
		case "BOOL", "NULL":
			return 1
		case "L":
			n := 3
			for _, e := range val.([]any) {
				n += 1 + valueSize(e)
			}
			return n
		case "M":
			n := 3
			for k, e := range val.(map[string]any) {
				n += 1 + len(k) + valueSize(e)
			}
			return n
		case "SS", "NS":
			n := 0
			for _, e := range val.([]any) {
				n += len(e.(string))
			}
			return n
		}
	}
	return 0
}

func kbUnits(size, unit int) int { return int(math.Ceil(float64(size) / float64(unit))) }

func writeUnits(before, after map[string]item, txn bool) int {
	keys := slices.Collect(maps.Keys(before))
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	total := 0
	for _, k := range keys {
		old, next := before[k], after[k]
		if reflect.DeepEqual(old, next) {
			continue
		}
		units := kbUnits(max(itemSize(old), itemSize(next)), 1024)
		if txn {
			units *= 2
		}
		total += units
		for _, gsi := range [][2]string{{"gsi1pk", "sk"}, {"gsi2pk", "sk"}, {"gsi3pk", "sk"}} {
			in := func(it item) (string, bool) {
				pk, sk := str(it[gsi[0]]), str(it[gsi[1]])
				return pk + "\x00" + sk, it != nil && pk != "" && sk != ""
			}
			was, inBefore := in(old)
			is, inAfter := in(next)
			switch {
			case inBefore && inAfter && was != is:
				total += 2
			case inBefore != inAfter:
				total++
			}
		}
	}
	return total
}

// failedWriteUnits bills a write refused by its condition: DynamoDB still
// charges it (at least 1 unit per item; twice in a transaction). The items
// are taken as under 1 KB, as Flotilla's are.
func failedWriteUnits(op string, req []byte) int {
	if op != "TransactWriteItems" {
		return 1
	}
	var in struct{ TransactItems []any }
	json.Unmarshal(req, &in)
	return 2 * len(in.TransactItems)
}

func readUnits(op string, req, resp []byte) float64 {
	var in struct {
		ConsistentRead bool
		RequestItems   map[string]struct{ ConsistentRead bool }
	}
	json.Unmarshal(req, &in)
	var out struct {
		Item      item
		Items     []item
		Responses map[string][]item
	}
	json.Unmarshal(resp, &out)
	rate := func(consistent bool) float64 {
		if consistent {
			return 1
		}
		return 0.5
	}
	switch op {
	case "GetItem":
		return float64(max(kbUnits(itemSize(out.Item), 4096), 1)) * rate(in.ConsistentRead)
	case "BatchGetItem":
		units := 0.0
		for table, items := range out.Responses {
			for _, it := range items {
				units += float64(max(kbUnits(itemSize(it), 4096), 1)) * rate(in.RequestItems[table].ConsistentRead)
			}
		}
		return units
	default: // Query, Scan
		size := 0
		for _, it := range out.Items {
			size += itemSize(it)
		}
		return float64(max(kbUnits(size, 4096), 1)) * rate(in.ConsistentRead)
	}
}

// Prices of reference/aws-and-peers.md §A.8 (us-east-1, list).
const (
	usdAPIGatewayHTTP   = 1.00 / 1e6   // per request
	usdLambdaRequest    = 0.20 / 1e6   // per invocation
	usdLambdaGBSecond   = 0.0000133334 // arm64
	usdSQSFIFORequest   = 0.50 / 1e6   // per request (64 KB chunk)
	usdEventBridgeEvent = 1.00 / 1e6   // per custom event published (64 KB chunk; EventBridge pricing)
	usdDynamoDBWRU      = 0.625 / 1e6  // per write request unit
	usdDynamoDBRRU      = 0.125 / 1e6  // per read request unit
	usdLogsIngestPerGB  = 0.50         // CloudWatch Logs standard ingestion
	lambdaMemoryGB      = 0.25         // the model: 256 MB …
	lambdaSeconds       = 0.060        // … × 60 ms per invocation
	lambdaPlatformBytes = 340          // START, END and REPORT lines per invocation
	apiRequestsPerRun   = 5            // the model: 1 submit + 4 status/log reads
	benchRuns           = 10           // runs measured
	millionRuns         = 1e6          // per-million scale
	benchGoalUSD        = 15.0         // issue 3's goal
	benchGoalWCU        = 10.0         // issue 14's goal (issue 3 had 12)
	benchOutEnv         = "FLOTILLA_BENCH_OUT"
	benchOutUnitUSD     = "USD per 1M runs"
	benchOutUnitRequest = "requests per run"
)

// TestHybridNumbers measures one run's life, launch to SUCCEEDED plus the
// model's four reads, on hybrid serve: the AWS requests by service (from
// serve's request counter), DynamoDB's billed units (metered at the proxy),
// the events and log bytes, and from them the control plane's cost per
// million runs at list prices. With FLOTILLA_BENCH_OUT set it merges the
// numbers into that JSON file (relative paths are from the module root).
func TestHybridNumbers(t *testing.T) {
	t.Parallel()
	// No sweep during the measurement: in AWS it is a fixed cost per
	// minute, not per run.
	h := startHybrid(t, hybridOptions{maxRunning: 10, sweep: time.Hour, meter: true})
	if code, body := h.do(t, "POST", "/v1/definitions", `{"alias":"bench","image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/data/etl:2026.11.3","command":"echo done","cpu":1024,"memory":2048,"env":{"STAGE":"prod"}}`); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	runOnce := func(i int) string {
		r := h.launch(t, "bench", "") // as `flotilla run` and the UI launch: no idempotency key
		h.fwd.waitStopped(t, r.ID)
		for range (apiRequestsPerRun - 1) / 2 {
			// Status and log reads, as a user watching the run would make.
			var got flotilla.Run
			code, body := h.do(t, "GET", "/v1/runs/"+r.ID, "")
			if json.Unmarshal(body, &got); code != 200 || got.Status != flotilla.StatusSucceeded {
				t.Fatalf("run %s: %d %s (%s)", r.ID, code, got.Status, got.StatusReason)
			}
			if code, body := h.do(t, "GET", "/v1/runs/"+r.ID+"/logs", ""); code != 200 || !strings.Contains(string(body), "done") {
				t.Fatalf("logs of %s: %d %s", r.ID, code, body)
			}
		}
		return r.ID
	}
	runOnce(-1) // warm: the definition's task definition is registered once, not per run
	before := h.requests(t)
	h.ddb.units()
	logBefore := h.log.Len()
	published := len(h.bridge.Entries())
	events := 0
	for i := range benchRuns {
		events += h.fwd.eventsOf(runOnce(i))
	}
	after := h.requests(t)
	wcu, rru, wcuByOp := h.ddb.units()
	changesPerRun := float64(len(h.bridge.Entries())-published) / benchRuns
	logBytes := h.log.Len() - logBefore

	perOp := map[string]float64{}
	perService := map[string]float64{}
	total := 0.0
	for k, v := range after {
		if d := float64(v-before[k]) / benchRuns; d > 0 {
			perOp[k] = d
			perService[strings.SplitN(k, ".", 2)[0]] += d
			total += d
		}
	}
	wcu /= benchRuns
	rru /= benchRuns
	eventsPerRun := float64(events) / benchRuns
	invocations := apiRequestsPerRun + 1 + eventsPerRun // API, dispatcher (one SQS batch), one per event
	logPerRun := float64(logBytes)/benchRuns + invocations*lambdaPlatformBytes

	lines := []struct {
		name string
		usd  float64
		what string
	}{
		{"API Gateway HTTP API", apiRequestsPerRun * usdAPIGatewayHTTP, fmt.Sprintf("%d requests", apiRequestsPerRun)},
		{"Lambda requests", invocations * usdLambdaRequest, fmt.Sprintf("%.1f invocations", invocations)},
		{"Lambda duration", invocations * lambdaMemoryGB * lambdaSeconds * usdLambdaGBSecond, fmt.Sprintf("%.1f × 256 MB × 60 ms", invocations)},
		{"SQS FIFO", perService["SQS"] * usdSQSFIFORequest, fmt.Sprintf("%.1f requests", perService["SQS"])},
		{"DynamoDB writes", wcu * usdDynamoDBWRU, fmt.Sprintf("%.1f WRU", wcu)},
		{"DynamoDB reads", rru * usdDynamoDBRRU, fmt.Sprintf("%.1f RRU", rru)},
		{"control-plane logs", logPerRun / 1e9 * usdLogsIngestPerGB, fmt.Sprintf("%.0f bytes", logPerRun)},
		{"EventBridge run changes", changesPerRun * usdEventBridgeEvent, fmt.Sprintf("%.1f events published", changesPerRun)},
		{"ECS API, GetLogEvents, EventBridge ECS events", 0, "no per-request charge"},
	}
	usd := 0.0
	var report strings.Builder
	fmt.Fprintf(&report, "one run, launch to SUCCEEDED plus %d reads (mean of %d runs):\n", apiRequestsPerRun-1, benchRuns)
	for _, k := range slices.Sorted(maps.Keys(perOp)) {
		fmt.Fprintf(&report, "  %-40s %6.1f\n", k, perOp[k])
	}
	fmt.Fprintf(&report, "  %-40s %6.1f   (events per run %.1f)\n", "AWS requests", total, eventsPerRun)
	for _, op := range slices.Sorted(maps.Keys(wcuByOp)) {
		fmt.Fprintf(&report, "  WRU in %-33s %6.1f\n", op, wcuByOp[op]/benchRuns)
	}
	fmt.Fprintf(&report, "control plane per 1M runs (§A.8 list prices):\n")
	for _, l := range lines {
		fmt.Fprintf(&report, "  %-46s %-26s $%6.2f\n", l.name, l.what, l.usd*millionRuns)
		usd += l.usd * millionRuns
	}
	fmt.Fprintf(&report, "  %-73s $%6.2f (goal < $%.0f)\n", "total", usd, benchGoalUSD)
	t.Log(report.String())

	results := map[string]benchResult{
		"aws_requests_per_run":               {round1(total), benchOutUnitRequest, "as few as the guarantees allow"},
		"dynamodb_wcu_per_run":               {round1(wcu), "write request units per run", fmt.Sprintf("<= %.0f", benchGoalWCU)},
		"dynamodb_rru_per_run":               {round1(rru), "read request units per run", ""},
		"control_plane_usd_per_million_runs": {math.Round(usd*100) / 100, benchOutUnitUSD, fmt.Sprintf("< %.0f", benchGoalUSD)},
	}
	for svc, v := range perService {
		name := "aws_requests_per_run_" + strings.ToLower(strings.ReplaceAll(svc, " ", "_"))
		results[name] = benchResult{round1(v), benchOutUnitRequest, ""}
	}
	if out := os.Getenv(benchOutEnv); out != "" {
		if err := mergeBench(out, results); err != nil {
			t.Fatal(err)
		}
	}
	if total == 0 || wcu == 0 || perService["SQS"] == 0 || perService["ECS"] == 0 {
		t.Fatalf("nothing was measured: %v, %v WCU", perOp, wcu)
	}
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func (h *hybridStack) requests(t *testing.T) map[string]int {
	t.Helper()
	code, body := h.do(t, "GET", "/internal/aws-requests", "")
	var m map[string]int
	if code != 200 || json.Unmarshal(body, &m) != nil {
		t.Fatalf("aws-requests: %d %s", code, body)
	}
	return m
}

// benchResult is one entry of bench/results.json.
type benchResult struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Goal  string  `json:"goal,omitempty"`
}

// mergeBench writes results into bench/results.json (benchout.Merge).
func mergeBench(path string, results map[string]benchResult) error {
	return benchout.Merge(path, results)
}
