package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	miniserver "github.com/truora/minidyn/server"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/awssqs/sqstest"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// The hybrid tests run the real `flotilla serve` binary on the AWS adapters
// (hybrid mode), against minidyn (in-process), fauxqs (node) and the
// in-repo ECS and CloudWatch Logs fakes, with the ECS fake's EventBridge
// events forwarded to serve's /internal/eventbridge, as the events Lambda
// gets them in AWS.

// hybridOptions shape one stack.
type hybridOptions struct {
	maxRunning int
	// faultRate is the fraction of ECS, Logs and DynamoDB responses
	// answered with a throttle or a 500.
	faultRate float64
	sweep     time.Duration
	// meter computes DynamoDB's billed units per write (serialising writes).
	meter bool
	// noEvents leaves EventBridge out: no task event reaches serve.
	noEvents bool
	// stuckAfter is serve's --stuck-after (0: its default).
	stuckAfter time.Duration
	// logsEmptyPages is the Logs fake's EmptyPages.
	logsEmptyPages int
}

// hybridStack is the emulated AWS side and the server on it.
type hybridStack struct {
	*server
	ecs    *awsfake.ECS
	logs   *awsfake.Logs
	bridge *awsfake.EventBridge // where run status changes are published
	ddb    *ddbProxy
	fwd    *forwarder
	log    *lineCounter
	// The emulators' endpoints, for tests that call them directly.
	sqsURL, logsURL string
}

func startHybrid(t *testing.T, o hybridOptions) *hybridStack {
	t.Helper()
	ctx := context.Background()
	h := &hybridStack{fwd: &forwarder{t: t, stopped: map[string]int{}, events: map[string]int{}}}

	// DynamoDB: minidyn behind a proxy that injects faults and meters writes.
	inner := miniserver.NewServer()
	innerSrv := httptest.NewServer(inner)
	t.Cleanup(innerSrv.Close)
	raw := dynamoClient(t, innerSrv.URL)
	const table = "flotilla-hybrid"
	if err := awsdynamodb.CreateTable(ctx, raw, table); err != nil {
		t.Fatalf("create table: %v", err)
	}
	h.ddb = &ddbProxy{inner: inner, rate: o.faultRate, rng: rand.New(rand.NewPCG(7, 11)), table: table, meter: o.meter}
	ddbURL := awsfake.Serve(t, h.ddb)

	// SQS: fauxqs, one FIFO queue for the cluster.
	sqsURL := sqstest.Start(t)
	queue := sqstest.CreateFIFOQueue(t, sqstest.Client(t, sqsURL), 2*time.Second)

	// ECS and Logs fakes; tasks live on their own.
	faults := awsfake.Faults{Rate: o.faultRate, Seed: 42}
	h.logs = awsfake.NewLogs(awsfake.LogsOptions{Faults: faults, EmptyPages: o.logsEmptyPages})
	h.bridge = awsfake.NewEventBridge()
	h.ecs = awsfake.NewECS(awsfake.ECSOptions{Auto: true, StepDelay: 20 * time.Millisecond, Logs: h.logs, Faults: faults, Script: scriptByCommand})
	ecsURL := awsfake.Serve(t, h.ecs)
	logsURL := awsfake.Serve(t, h.logs)

	clusters, _ := json.Marshal([]map[string]any{{
		"name": "default", "max_running": o.maxRunning, "queue_url": queue,
		"ecs_cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/flotilla-hybrid",
		// EC2: any cpu/memory pair is allowed, as in the local scenario.
		"launch_type": "EC2",
	}})
	sweep := o.sweep
	if sweep == 0 {
		sweep = 500 * time.Millisecond
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--sweep-interval", sweep.String(), "--log-format", "json"}
	if o.stuckAfter > 0 {
		args = append(args, "--stuck-after", o.stuckAfter.String())
	}
	cmd := exec.Command(flotillaBin, args...)
	cmd.Env = append(os.Environ(),
		"FLOTILLA_OWNER=tester", "FLOTILLA_UI_DIR=",
		"FLOTILLA_TABLE_NAME="+table, "FLOTILLA_CLUSTERS="+string(clusters),
		"FLOTILLA_DYNAMODB_ENDPOINT="+ddbURL, "FLOTILLA_SQS_ENDPOINT="+sqsURL,
		"FLOTILLA_ECS_ENDPOINT="+ecsURL, "FLOTILLA_LOGS_ENDPOINT="+logsURL,
		// Run status changes are published, as deployed.
		"FLOTILLA_EVENT_BUS=default", "FLOTILLA_EVENTBRIDGE_ENDPOINT="+awsfake.Serve(t, h.bridge),
		"FLOTILLA_AWS_STATIC_CREDENTIALS=1", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
	)
	h.log = &lineCounter{}
	cmd.Stderr = h.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.server = &server{cmd: cmd, logs: &bytes.Buffer{}}
	t.Cleanup(func() {
		h.server.stop()
		log := h.log.String()
		if strings.Contains(log, "WARNING: DATA RACE") {
			t.Errorf("serve (built with -race) reported a data race")
		}
		if o.faultRate == 0 && strings.Contains(log, `"level":"ERROR"`) {
			t.Errorf("serve logged errors with no fault injected")
		}
		if t.Failed() || os.Getenv("FLOTILLA_HYBRID_LOG") == "1" {
			t.Logf("serve's log:\n%s", log)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	re := regexp.MustCompile(`listening on (http://\S+)`)
	for h.url == "" {
		if m := re.FindStringSubmatch(h.log.String()); m != nil {
			h.url = m[1]
			break
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("hybrid serve did not start:\n%s", h.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.fwd.url = h.url + "/internal/eventbridge"
	if !o.noEvents {
		h.ecs.Subscribe(h.fwd.forward)
	}
	h.sqsURL, h.logsURL = sqsURL, logsURL
	return h
}

func dynamoClient(t testing.TB, url string) *dynamodb.Client {
	t.Helper()
	cfg, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", StaticCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(url)
		o.DisableValidateResponseChecksum = true
	})
}

// scriptByCommand plays the shell the ECS fake does not: `$NAME` in echo
// lines is expanded from the task's environment, and a command containing
// "flaky" fails to start once (TaskFailedToStart), then runs.
func scriptByCommand(l awsfake.Launch) awsfake.Script {
	var cmd string
	env := map[string]string{}
	if o := l.Request.Overrides; o != nil {
		for _, co := range o.ContainerOverrides {
			if len(co.Command) > 0 {
				cmd = co.Command[len(co.Command)-1]
			}
			for _, kv := range co.Environment {
				env[kv.Name] = kv.Value
			}
		}
	}
	switch {
	case strings.Contains(cmd, "flaky"):
		return awsfake.Script{Lives: []awsfake.Life{
			{FailToStart: "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed"},
			{},
		}}
	case strings.Contains(cmd, "$"):
		var lines []string
		for _, stmt := range strings.FieldsFunc(os.Expand(cmd, func(k string) string { return env[k] }), func(r rune) bool { return r == ';' }) {
			if s := strings.TrimSpace(stmt); strings.HasPrefix(s, "echo ") {
				lines = append(lines, strings.TrimSpace(strings.TrimPrefix(s, "echo ")))
			}
		}
		return awsfake.Script{Lives: []awsfake.Life{{Logs: lines}}}
	}
	return awsfake.Script{}
}

// forwarder plays EventBridge: each event is POSTed to serve and retried
// while serve answers 5xx or cannot be reached.
type forwarder struct {
	t   *testing.T
	url string

	mu      sync.Mutex
	stopped map[string]int // run id → STOPPED events applied
	events  map[string]int // run id → events applied
	failed  int            // deliveries retried
}

func (f *forwarder) forward(ev []byte) {
	var e struct {
		Detail struct {
			StartedBy  string `json:"startedBy"`
			LastStatus string `json:"lastStatus"`
		} `json:"detail"`
	}
	json.Unmarshal(ev, &e)
	if e.Detail.LastStatus != "RUNNING" && e.Detail.LastStatus != "STOPPED" {
		return // the deployed rule (infra/stack.go) delivers only these states
	}
	for try := 0; ; try++ {
		resp, err := http.Post(f.url, "application/json", bytes.NewReader(ev))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 500 {
				if resp.StatusCode >= 300 {
					f.t.Errorf("event for %s (%s): %s", e.Detail.StartedBy, e.Detail.LastStatus, resp.Status)
				}
				break
			}
		}
		if try == 50 {
			f.t.Errorf("event for %s (%s) not delivered after %d tries: %v", e.Detail.StartedBy, e.Detail.LastStatus, try, err)
			return
		}
		f.mu.Lock()
		f.failed++
		f.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events[e.Detail.StartedBy]++
	if e.Detail.LastStatus == "STOPPED" {
		f.stopped[e.Detail.StartedBy]++
	}
}

// waitStopped waits until a STOPPED event of the run was applied.
func (f *forwarder) waitStopped(t *testing.T, runID string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.mu.Lock()
		n := f.stopped[runID]
		f.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no STOPPED event of %s was applied", runID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *forwarder) eventsOf(runID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.events[runID]
}

func (f *forwarder) retried() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// lineCounter collects serve's stderr and counts its bytes.
type lineCounter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lineCounter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *lineCounter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

// hybridHTTP is a small JSON client of serve's API.
func (h *hybridStack) do(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, h.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// launch launches a run. With an idempotency key it retries 5xx: a launch
// whose answer was lost must not make a second run.
func (h *hybridStack) launch(t *testing.T, definition, key string) flotilla.Run {
	t.Helper()
	req := fmt.Sprintf(`{"definition":%q}`, definition)
	if key != "" {
		req = fmt.Sprintf(`{"definition":%q,"idempotency_key":%q}`, definition, key)
	}
	for try := 0; ; try++ {
		code, body := h.do(t, "POST", "/v1/runs", req)
		if code == 200 || code == 202 {
			var r flotilla.Run
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
		if code < 500 || try == 5 || key == "" {
			t.Fatalf("launch %s: %d %s", definition, code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (h *hybridStack) clusterLoad(t *testing.T) (queued, running int) {
	t.Helper()
	code, body := h.do(t, "GET", "/v1/clusters", "")
	if code != 200 {
		t.Fatalf("clusters: %d %s", code, body)
	}
	var out struct{ Items []flotilla.ClusterStats }
	json.Unmarshal(body, &out)
	for _, c := range out.Items {
		if c.Name == "default" {
			return c.Queued, c.Running
		}
	}
	t.Fatalf("no default cluster in %s", body)
	return 0, 0
}

// TestHybridScenario is the core end-to-end scenario on the AWS adapters,
// then capacity waits, a run timeout and an infrastructure retry.
func TestHybridScenario(t *testing.T) {
	t.Parallel()
	h := startHybrid(t, hybridOptions{maxRunning: 2})
	s := h.server

	// The core scenario, exactly as TestCLIWalkthrough runs it locally.
	coreScenario(t, s)

	// Capacity: six runs on two slots; never more than two hold a slot,
	// the others wait, and all succeed.
	s.mustCLI(t, "definitions", "create", "--alias", "nap", "--image", "alpine:3", "--command", "echo nap; sleep 1", "--cpu", "256", "--memory", "128")
	var naps []string
	for i := range 6 {
		naps = append(naps, h.launch(t, "nap", fmt.Sprintf("nap-%d", i)).ID)
	}
	sawWaiting := false
	deadline := time.Now().Add(60 * time.Second)
	for {
		queued, running := h.clusterLoad(t)
		if running > 2 {
			t.Fatalf("%d runs hold a slot on a cluster of 2", running)
		}
		sawWaiting = sawWaiting || (queued > 0 && running == 2)
		done := 0
		for _, id := range naps {
			if s.getRun(t, id).Status.Terminal() {
				done++
			}
		}
		if done == len(naps) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 6 capacity runs ended in time", done)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sawWaiting {
		t.Errorf("no run was seen waiting for a slot")
	}
	for _, id := range naps {
		if r := s.getRun(t, id); r.Status != flotilla.StatusSucceeded || r.Attempt != 1 {
			t.Errorf("capacity run %s: %s attempt %d (%s)", id, r.Status, r.Attempt, r.StatusReason)
		}
	}

	// A run timeout: the sweep stops the task and the run fails, saying why.
	s.mustCLI(t, "definitions", "create", "--alias", "slow", "--image", "alpine:3", "--command", "echo started; sleep 300", "--cpu", "256", "--memory", "128", "--timeout", "2")
	slow := strings.TrimSpace(s.mustCLI(t, "run", "slow"))
	r := s.waitStatus(t, slow, 30*time.Second, flotilla.StatusFailed)
	if r.ReasonCode != flotilla.ReasonRunTimeout {
		t.Errorf("timed-out run: %s %q", r.ReasonCode, r.StatusReason)
	}

	// An infrastructure retry: TaskFailedToStart, then a second attempt runs.
	s.mustCLI(t, "definitions", "create", "--alias", "flaky", "--image", "alpine:3", "--command", "echo flaky", "--cpu", "256", "--memory", "128")
	flaky := strings.TrimSpace(s.mustCLI(t, "run", "flaky"))
	r = s.waitStatus(t, flaky, 30*time.Second, flotilla.StatusSucceeded, flotilla.StatusFailed)
	if r.Status != flotilla.StatusSucceeded || r.Attempt != 2 || len(h.ecs.TasksStarted(flaky)) != 2 {
		t.Errorf("flaky run: %s attempt %d, %d tasks (%s)", r.Status, r.Attempt, len(h.ecs.TasksStarted(flaky)), r.StatusReason)
	}
	if logs := s.mustCLI(t, "logs", flaky); logs != "flaky\n" {
		t.Errorf("flaky logs = %q", logs)
	}
	if queued, running := h.clusterLoad(t); queued != 0 || running != 0 {
		t.Errorf("after every run ended the cluster shows %d queued, %d running", queued, running)
	}
}

// TestHybridFaults runs 30 runs while 10% of the ECS, CloudWatch Logs and
// DynamoDB responses are throttles or 500s: every run ends as it should, no
// run is started for an attempt it does not have, and nothing is lost.
func TestHybridFaults(t *testing.T) {
	t.Parallel()
	h := startHybrid(t, hybridOptions{maxRunning: 4, faultRate: 0.1})
	s := h.server
	defs := map[string]string{"ok": "echo ok", "bad": "echo bad; exit 3", "flaky": "echo flaky", "hold": "echo holding; sleep 300"}
	for alias, cmd := range defs {
		body := fmt.Sprintf(`{"alias":%q,"image":"alpine:3","command":%q,"cpu":256,"memory":128}`, alias, cmd)
		for try := 0; ; try++ {
			code, b := h.do(t, "POST", "/v1/definitions", body)
			if code == 201 || code == 409 && try > 0 {
				break
			}
			if code < 500 || try == 5 {
				t.Fatalf("create %s: %d %s", alias, code, b)
			}
		}
	}
	type want struct {
		status   flotilla.RunStatus
		attempts int
		line     string // the first log line
	}
	plan := map[string]want{}
	var holds []string
	for i := range 30 {
		alias, w := "ok", want{flotilla.StatusSucceeded, 1, "ok"}
		switch {
		case i%10 == 3 || i%10 == 7:
			alias, w = "bad", want{flotilla.StatusFailed, 1, "bad"}
		case i%10 == 5:
			alias, w = "flaky", want{flotilla.StatusSucceeded, 2, "flaky"}
		case i == 9 || i == 19:
			alias, w = "hold", want{flotilla.StatusStopped, 1, "holding"}
		}
		r := h.launch(t, alias, fmt.Sprintf("fault-%d", i))
		plan[r.ID] = w
		if alias == "hold" {
			holds = append(holds, r.ID)
		}
	}
	if len(plan) != 30 {
		t.Fatalf("30 launches made %d runs", len(plan))
	}
	for _, id := range holds {
		s.waitStatus(t, id, 90*time.Second, flotilla.StatusRunning)
		for try := 0; ; try++ {
			code, b := h.do(t, "POST", "/v1/runs/"+id+"/stop", "")
			if code == 202 {
				break
			}
			if code < 500 || try == 5 {
				t.Fatalf("stop %s: %d %s", id, code, b)
			}
		}
	}
	deadline := time.Now().Add(120 * time.Second)
	for id, w := range plan {
		var r flotilla.Run
		for {
			code, body := h.do(t, "GET", "/v1/runs/"+id, "")
			if code == 200 {
				json.Unmarshal(body, &r)
				if r.Status.Terminal() {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s is %s (%s), want %s", id, r.Status, r.StatusReason, w.status)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if r.Status != w.status || r.Attempt != w.attempts {
			t.Errorf("run %s: %s attempt %d (%s), want %s attempt %d", id, r.Status, r.Attempt, r.StatusReason, w.status, w.attempts)
		}
		if n := len(h.ecs.TasksStarted(id)); n != w.attempts {
			t.Errorf("run %s: %d tasks started, want %d", id, n, w.attempts)
		}
		for try := 0; ; try++ {
			code, body := h.do(t, "GET", "/v1/runs/"+id+"/logs", "")
			var page struct {
				Events   []struct{ Message string }
				Complete bool
			}
			json.Unmarshal(body, &page)
			if code == 200 && len(page.Events) > 0 && page.Events[0].Message == w.line && page.Complete {
				break
			}
			if code < 500 && code != 200 || try == 10 {
				t.Errorf("logs of %s: %d %s, want %q and complete", id, code, body, w.line)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// No RunTask for an attempt a run does not have.
	for _, req := range h.ecs.RunTaskRequests() {
		w, ok := plan[req.StartedBy]
		if !ok {
			t.Errorf("RunTask for an unknown run %q", req.StartedBy)
			continue
		}
		if g := fmt.Sprintf("flotilla-attempt-%d", w.attempts); req.Group > g {
			t.Errorf("RunTask for %s in group %s, beyond its %d attempts", req.StartedBy, req.Group, w.attempts)
		}
	}
	// Nothing lost: every run is listed, and every slot came back.
	code, body := h.do(t, "GET", "/v1/runs?limit=100", "")
	var list struct{ Items []flotilla.Run }
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Items) != 30 {
		t.Fatalf("runs list: %d, %d runs", code, len(list.Items))
	}
	for try := 0; ; try++ {
		queued, running := h.clusterLoad(t)
		if queued == 0 && running == 0 {
			break
		}
		if try == 50 {
			t.Fatalf("after every run ended the cluster shows %d queued, %d running", queued, running)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("faults injected: ECS %v, DynamoDB %d; Logs calls (faults included) %v; event deliveries retried: %d",
		h.ecs.FaultsInjected(), h.ddb.faults.Load(), h.logs.Calls(), h.fwd.retried())
	if h.ddb.faults.Load() == 0 || len(h.ecs.FaultsInjected()) == 0 {
		t.Errorf("no faults were injected")
	}
}
