package awswire_test

// The AWS-side fault tests (issue 7): the runs use cases wired by
// awswire.Build on the real adapters, in-process, against minidyn, fauxqs
// and the ECS and Logs fakes, with this file playing the rest of AWS: the
// SQS event source (dispatcher invocations, with the Lambda's timeout and
// redelivery when an invocation fails), EventBridge (events to the events
// function, retried when it fails) and the sweep's schedule. Each test
// launches 20 runs and checks the same guarantees: every run ends in the
// status its command says, none is lost, no attempt gets two tasks, no run
// ends twice and the cluster's slots come back to zero.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb/ddbtest"
	"github.com/flotilla-run/flotilla/internal/awsevents"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/awssqs/sqstest"
	"github.com/flotilla-run/flotilla/internal/awswire"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
	"github.com/flotilla-run/flotilla/internal/runs"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

const (
	faultRuns       = 20
	faultMaxRunning = 4
	// invocationTimeout is the Lambda timeout of one dispatcher, events
	// function or sweep invocation.
	invocationTimeout = 10 * time.Second
)

// faultStack is one in-process AWS side and the use cases wired on it.
type faultStack struct {
	t     *testing.T
	w     *awswire.Wired
	svc   *runs.Service
	ecs   *awsfake.ECS
	def   flotilla.Definition
	gates []*gate

	// deliver hands one EventBridge event to the events function; set
	// before start.
	deliver func(ctx context.Context, ev []byte)

	cancel  context.CancelFunc
	loops   sync.WaitGroup
	inflght sync.WaitGroup // event deliveries, retries included

	died atomic.Int64 // dispatcher invocations that died
}

// gate sends requests through the fault injector while faults are on, and
// straight to the service otherwise (setup and the final checks).
type gate struct {
	name   string
	on     atomic.Bool
	clean  http.Handler
	faulty *awsfake.Staller
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.on.Load() {
		g.faulty.ServeHTTP(w, r)
		return
	}
	g.clean.ServeHTTP(w, r)
}

func newGate(name string, h http.Handler, rate float64, seed uint64) *gate {
	// Drop after 150ms: what an SDK client with a 150ms timeout sees. Half
	// the stalled calls were made (their answer is lost), half were not.
	return &gate{name: name, clean: h, faulty: awsfake.Stall(h, awsfake.Stalls{Rate: rate, Delay: 150 * time.Millisecond, Drop: true, Seed: seed})}
}

func newFaultStack(t *testing.T, stallRate float64) *faultStack {
	t.Helper()
	return buildFaultStack(t, stallRate, nil, nil)
}

// buildFaultStack builds the stack; ecsOptions and configure, when set,
// change the ECS fake's options and the wiring's configuration (queue makes
// another FIFO queue on the same SQS).
func buildFaultStack(t *testing.T, stallRate float64, ecsOptions func(*awsfake.ECSOptions), configure func(c *awswire.Config, queue func() string)) *faultStack {
	t.Helper()
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx := context.Background()
	s := &faultStack{t: t}

	// DynamoDB: minidyn, in-process.
	// minidyn with its REMOVE fault mended, so the store sends DynamoDB's
	// own writes (no PutOnRemove).
	mini := ddbtest.New()
	ddb := newGate("dynamodb", mini, stallRate, 1)
	ddbURL := awsfake.Serve(t, ddb)
	cfg, err := awsclient.Load(ctx, awsclient.Options{Region: "us-east-1", StaticCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	raw := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(ddbURL)
		o.DisableValidateResponseChecksum = true
	})
	const table = "flotilla-faults"
	if err := awsdynamodb.CreateTable(ctx, raw, table); err != nil {
		t.Fatalf("create table: %v", err)
	}

	// SQS: fauxqs behind a proxy; 1s visibility, so a message whose
	// invocation died comes back soon.
	fauxqs := sqstest.Start(t)
	queue := sqstest.CreateFIFOQueue(t, sqstest.Client(t, fauxqs), time.Second)
	u, err := url.Parse(fauxqs)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // calls the client gave up on
	sqsGate := newGate("sqs", proxy, stallRate, 2)
	sqsURL := awsfake.Serve(t, sqsGate)

	// ECS and Logs fakes; tasks live on their own.
	logs := awsfake.NewLogs(awsfake.LogsOptions{})
	ecsOpts := awsfake.ECSOptions{Auto: true, StepDelay: 20 * time.Millisecond, Logs: logs}
	if ecsOptions != nil {
		ecsOptions(&ecsOpts)
	}
	s.ecs = awsfake.NewECS(ecsOpts)
	ecsGate := newGate("ecs", s.ecs, stallRate, 3)
	logsGate := newGate("logs", logs, stallRate, 4)
	s.gates = []*gate{ddb, sqsGate, ecsGate, logsGate}

	wcfg := awswire.Config{
		TableName: table,
		Clusters: []awswire.Cluster{{
			Name: "default", MaxRunning: faultMaxRunning, QueueURL: queue,
			ECSCluster: "arn:aws:ecs:us-east-1:123456789012:cluster/flotilla-faults", LaunchType: "EC2",
		}},
		LogGroup:         "/flotilla/runs",
		DynamoDBEndpoint: ddbURL, SQSEndpoint: sqsURL,
		ECSEndpoint: awsfake.Serve(t, ecsGate), LogsEndpoint: awsfake.Serve(t, logsGate),
		StaticCredentials: true, PutOnRemove: false,
		// Status changes are published, as deployed (to a fake bus).
		EventBus: "default", EventsEndpoint: awsfake.Serve(t, awsfake.NewEventBridge()),
	}
	if configure != nil {
		configure(&wcfg, func() string { return sqstest.CreateFIFOQueue(t, sqstest.Client(t, fauxqs), time.Second) })
	}
	var opts awswire.Options
	if dir := os.Getenv(awswire.EnvIAMRecord); dir != "" {
		// Every call below is made for a function named in its context.
		if opts.Recorder, err = awsclient.NewRecorder(dir, "", wcfg.IAMNames()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { opts.Recorder.Close() })
	}
	s.w, err = awswire.Build(ctx, wcfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.svc = s.w.Service
	s.svc.StuckAfter = time.Second
	if s.def, err = s.svc.Store.CreateDefinition(awsclient.WithFunction(ctx, "api"), flotillatest.NewDefinition("faults")); err != nil {
		t.Fatal(err)
	}
	s.deliver = s.reliableDelivery
	return s
}

func (s *faultStack) faults(on bool) {
	for _, g := range s.gates {
		g.on.Store(on)
	}
}

// invoke runs one Lambda invocation: bounded by its timeout, and a panic
// is the process dying (the invocation fails, nothing after it runs).
func (s *faultStack) invoke(function string, fn func(ctx context.Context) error) (err error) {
	ctx, cancel := context.WithTimeout(awsclient.WithFunction(context.Background(), function), invocationTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			if p != errDied {
				panic(p)
			}
			s.died.Add(1)
			err = errDied
		}
	}()
	return fn(ctx)
}

var errDied = errors.New("the process died")

// start runs the dispatcher (the SQS event source), the sweep schedule and
// EventBridge's delivery of the ECS fake's events.
func (s *faultStack) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	// The SQS event source mapping polls with the dispatcher's role.
	esm := awsclient.WithFunction(ctx, "dispatcher")
	for range 2 {
		s.loops.Add(1)
		go func() {
			defer s.loops.Done()
			ctx := esm
			for ctx.Err() == nil {
				ds, err := s.w.Queue.Receive(ctx, "default", 10, time.Second)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				for _, d := range ds {
					if err := s.invoke("dispatcher", func(ctx context.Context) error { return s.svc.Dispatch(ctx, d.Message) }); err != nil {
						continue // the message comes back after its visibility timeout
					}
					_ = s.w.Queue.Delete(ctx, "default", d.Receipt)
				}
			}
		}()
	}
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = s.invoke("sweep", func(ctx context.Context) error { return s.svc.Sweep(ctx, false) })
			}
		}
	}()
	s.ecs.Subscribe(func(ev []byte) {
		if ctx.Err() != nil {
			return
		}
		s.deliver(ctx, ev)
	})
}

// later runs fn after d on its own goroutine, counted in inflght.
func (s *faultStack) later(d time.Duration, fn func()) {
	s.inflght.Add(1)
	time.AfterFunc(d, func() {
		defer s.inflght.Done()
		fn()
	})
}

// reconcile is the events function: decode, then Reconcile.
func (s *faultStack) reconcile(ctx context.Context, ev []byte) error {
	te, err := s.w.Decoder.Decode(ev)
	if errors.Is(err, awsevents.ErrIgnored) {
		return nil
	}
	if err != nil {
		s.t.Errorf("decode: %v", err)
		return nil
	}
	return s.svc.Reconcile(ctx, te)
}

// reliableDelivery is EventBridge with no failure of the function: each
// event is delivered (retried while the function fails).
func (s *faultStack) reliableDelivery(ctx context.Context, ev []byte) {
	var try func()
	try = func() {
		if ctx.Err() != nil {
			return
		}
		if err := s.invoke("events", func(ctx context.Context) error { return s.reconcile(ctx, ev) }); err != nil {
			s.later(50*time.Millisecond, try)
		}
	}
	s.later(0, try)
}

type launched struct {
	id   string
	want flotilla.RunStatus
}

// faultOwners own the runs in turn: each owner is a message group of the
// FIFO queue, so a message whose invocation died holds back only its
// owner's messages until its visibility timeout ends.
const faultOwners = 4

// launch launches n runs (every 5th exits 3), retrying each launch with
// its idempotency key until it is accepted, as a client does.
func (s *faultStack) launch(n int, env func(i int) map[string]string) []launched {
	s.t.Helper()
	out := make([]launched, n)
	for i := range n {
		cmd, want := "echo run "+strconv.Itoa(i), flotilla.StatusSucceeded
		if i%5 == 0 {
			cmd, want = "echo failing; exit 3", flotilla.StatusFailed
		}
		req := runs.LaunchRequest{Definition: s.def.ID, Command: &cmd, IdempotencyKey: fmt.Sprintf("%s-%d", s.t.Name(), i)}
		if env != nil {
			req.Env = env(i)
		}
		var err error
		for try := 0; ; try++ {
			var r flotilla.Run
			if err = s.invoke("api", func(ctx context.Context) error {
				r, _, err = s.svc.Launch(ctx, fmt.Sprintf("owner%d", i%faultOwners), req)
				return err
			}); err == nil {
				out[i] = launched{id: r.ID, want: want}
				break
			}
			if try == 20 {
				s.t.Fatalf("launch %d: %v", i, err)
			}
		}
	}
	return out
}

// finish waits until every run is terminal, stops the loops, lets every
// event delivery end and turns the faults off.
func (s *faultStack) finish(rs []launched, within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	ctx := checking()
	for {
		left := 0
		var last flotilla.Run
		for _, l := range rs {
			r, err := s.svc.Store.GetRun(ctx, l.id)
			if err != nil || !r.Status.Terminal() {
				left++
				last = r
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			s.cancel()
			s.t.Fatalf("%d runs not terminal after %s; e.g. %s %s (%s) attempt %d", left, within, last.ID, last.Status, last.StatusReason, last.Attempt)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Duplicates and retries still on their way must change nothing.
	time.Sleep(400 * time.Millisecond)
	s.cancel()
	s.loops.Wait()
	s.ecs.Flush()
	s.inflght.Wait()
	s.faults(false)
}

// check verifies the guarantees, with the faults off.
func (s *faultStack) check(rs []launched) {
	s.t.Helper()
	ctx := checking()
	retried := 0
	for _, l := range rs {
		r, err := s.svc.Store.GetRun(ctx, l.id)
		if err != nil {
			s.t.Errorf("run %s lost: %v", l.id, err)
			continue
		}
		if r.Status != l.want {
			s.t.Errorf("run %s: %s (%s), want %s", r.ID, r.Status, r.StatusReason, l.want)
		}
		tasks := s.ecs.TasksStarted(r.ID)
		if r.Attempt != 1 || len(tasks) != 1 {
			s.t.Errorf("run %s: attempt %d, tasks %v: want one attempt with one task", r.ID, r.Attempt, tasks)
		} else if cur := r.Current(); cur == nil || cur.TaskID != tasks[0] {
			s.t.Errorf("run %s: recorded task %+v, the engine started %s", r.ID, cur, tasks[0])
		}
		if calls := s.ecs.RunTaskCalls(r.ID); calls > 1 {
			retried++
		}
		evs, err := s.svc.Store.ListRunEvents(ctx, r.ID)
		if err != nil {
			s.t.Fatal(err)
		}
		ends := 0
		var story []string
		for _, e := range evs {
			story = append(story, fmt.Sprintf("%s→%s (%s)", e.From, e.To, e.Source))
			if e.To.Terminal() {
				ends++
			}
		}
		if ends != 1 {
			s.t.Errorf("run %s ended %d times: %s", r.ID, ends, strings.Join(story, ", "))
		}
	}
	u, err := s.svc.Store.ClusterUsage(ctx, "default")
	if err != nil {
		s.t.Fatal(err)
	}
	if u.Running != 0 || u.Queued != 0 {
		s.t.Errorf("cluster usage after the runs: %+v, want nothing queued or running", u)
	}
	for owner, n := range u.RunningOwner {
		if n != 0 {
			s.t.Errorf("owner %s holds %d slots after the runs", owner, n)
		}
	}
	var stalls []string
	for _, g := range s.gates {
		b, a := g.faulty.Stalled()
		stalls = append(stalls, fmt.Sprintf("%s %d+%d", g.name, b, a))
	}
	s.t.Logf("%d runs; RunTask called more than once for %d; ECS calls %v; stalled (before+after handling): %s; dispatcher deaths %d",
		len(rs), retried, s.ecs.Calls(), strings.Join(stalls, ", "), s.died.Load())
}

// TestFaultsTimeouts: 10% of the calls to every AWS service time out —
// half before the service acted, half after (the answer is lost) — and
// the SDK retries them. RunTask retries rely on the clientToken; lost
// conditional writes come back as conflicts the use cases tolerate, and
// the sweep finishes what an invocation left half done.
func TestFaultsTimeouts(t *testing.T) {
	s := newFaultStack(t, 0.10)
	s.faults(true)
	s.start()
	rs := s.launch(faultRuns, nil)
	s.finish(rs, 40*time.Second)
	s.check(rs)
	var total int
	for _, g := range s.gates {
		b, a := g.faulty.Stalled()
		total += b + a
	}
	if total == 0 {
		t.Error("no call was stalled")
	}
}

// dyingExecutor kills the dispatcher process around the first Start of a
// run, as its Env["DIE"] says: "before" (admitted, RunTask never sent),
// "after" (the task started, its id never written), "after-lost" (the
// same, and EventBridge never delivers the task's events, so only the
// sweep's Describe by startedBy can find it).
type dyingExecutor struct {
	flotilla.Executor
	mu     sync.Mutex
	starts map[string]int
	lost   map[string]bool
}

func (d *dyingExecutor) Start(ctx context.Context, r flotilla.Run) (flotilla.Task, error) {
	d.mu.Lock()
	first := d.starts[r.ID] == 0
	d.starts[r.ID]++
	mode := r.Env["DIE"]
	if mode == "after-lost" {
		d.lost[r.ID] = true
	}
	d.mu.Unlock()
	if !first || mode == "" {
		return d.Executor.Start(ctx, r)
	}
	if mode == "before" {
		panic(errDied)
	}
	task, err := d.Executor.Start(ctx, r)
	if err != nil {
		return task, err
	}
	panic(errDied)
}

func (d *dyingExecutor) eventsLost(runID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lost[runID]
}

// TestFaultsDispatcherDies: the dispatcher dies between admission and
// RunTask, or between RunTask and writing the task id (with the task's
// events delivered, or lost). The message comes back and the sweep
// reconciles: each run ends as its command says, with exactly one task.
func TestFaultsDispatcherDies(t *testing.T) {
	s := newFaultStack(t, 0)
	d := &dyingExecutor{Executor: s.svc.Executor, starts: map[string]int{}, lost: map[string]bool{}}
	s.svc.Executor = d
	s.deliver = func(ctx context.Context, ev []byte) {
		if te, err := s.w.Decoder.Decode(ev); err == nil && d.eventsLost(te.RunID) {
			return
		}
		s.reliableDelivery(ctx, ev)
	}
	s.start()
	modes := []string{"after", "before", "after-lost", "after", ""}
	rs := s.launch(faultRuns, func(i int) map[string]string { return map[string]string{"DIE": modes[i%len(modes)]} })
	s.finish(rs, 40*time.Second)
	s.check(rs)
	if want := int64(faultRuns * 4 / 5); s.died.Load() != want {
		t.Errorf("dispatcher died %d times, want %d", s.died.Load(), want)
	}
	for i, l := range rs {
		// A run whose dispatcher died before RunTask is started by the
		// sweep (the redelivered message finds it PENDING and leaves it).
		if n := d.starts[l.id]; n < 1 || (modes[i%len(modes)] == "before" && n != 2) {
			t.Errorf("run %s (%q): Start called %d times", l.id, modes[i%len(modes)], n)
		}
	}
}

// TestFaultsEventsFunctionRetried: the events function fails on the first
// delivery of 40% of the events — half before it applied the event, half
// after (it crashed before answering) — and EventBridge retries them; on
// top, every event is delivered after a random delay (out of order) and a
// fifth of them twice. Runs end once, correctly, and the slots return.
func TestFaultsEventsFunctionRetried(t *testing.T) {
	s := newFaultStack(t, 0)
	var (
		mu               sync.Mutex
		rng              = rand.New(rand.NewPCG(5, 6))
		failed, repeated int
	)
	jitter := func(max time.Duration) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return time.Duration(rng.Int64N(int64(max)))
	}
	chance := func(p float64) bool {
		mu.Lock()
		defer mu.Unlock()
		return rng.Float64() < p
	}
	s.deliver = func(ctx context.Context, ev []byte) {
		fail := 0 // 1: fails before applying, 2: fails after applying
		if chance(0.4) {
			fail = 1
			if chance(0.5) {
				fail = 2
			}
			mu.Lock()
			failed++
			mu.Unlock()
		}
		copies := 1
		if chance(0.2) {
			copies = 2
			mu.Lock()
			repeated++
			mu.Unlock()
		}
		for c := range copies {
			var try func(n int)
			try = func(n int) {
				if ctx.Err() != nil {
					return
				}
				err := s.invoke("events", func(ictx context.Context) error {
					if n == 0 && c == 0 && fail == 1 {
						return errors.New("events function failed")
					}
					err := s.reconcile(ictx, ev)
					if err == nil && n == 0 && c == 0 && fail == 2 {
						return errors.New("events function crashed after applying the event")
					}
					return err
				})
				if err != nil {
					s.later(50*time.Millisecond+jitter(250*time.Millisecond), func() { try(n + 1) })
				}
			}
			s.later(jitter(150*time.Millisecond), func() { try(0) })
		}
	}
	s.start()
	rs := s.launch(faultRuns, nil)
	s.finish(rs, 40*time.Second)
	s.check(rs)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("events: %d failed on first delivery, %d delivered twice, %d in all", failed, repeated, len(s.ecs.Events()))
	if failed == 0 || repeated == 0 {
		t.Error("no event failed or was duplicated")
	}
}

// TestFaultsStopShapes: 30 runs whose tasks end in the ways ECS documents
// (a sidecar beside the job, permanent and transient start failures, a
// stop from the console), with 5% of the calls to every service stalled,
// end exactly as flotilla.StopRules says, each with one task per attempt.
func TestFaultsStopShapes(t *testing.T) {
	s := newFaultStack(t, 0.05)
	type shape struct {
		name     string
		lives    []awsfake.Life
		want     flotilla.RunStatus
		code     flotilla.ReasonCode
		attempts int
	}
	secretsDown := "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: " +
		"unable to retrieve secret from asm: service call has been retried 5 time(s): RequestError: send request failed caused by: dial tcp 10.0.0.5:443: i/o timeout"
	shapes := []shape{
		{"sidecar, job exits 0", []awsfake.Life{{Sidecar: "log_router", ExitCode: awsfake.Exit(0)}}, flotilla.StatusSucceeded, flotilla.ReasonSucceeded, 1},
		{"sidecar, job exits 1", []awsfake.Life{{Sidecar: "log_router", ExitCode: awsfake.Exit(1)}}, flotilla.StatusFailed, flotilla.ReasonExitCode, 1},
		{"no /bin/sh", []awsfake.Life{{ContainerError: `CannotStartContainerError: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "sh": executable file not found in $PATH: unknown`}},
			flotilla.StatusFailed, flotilla.ReasonCouldNotStart, 1},
		{"secret missing", []awsfake.Life{{FailToStart: "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /flotilla/db"}},
			flotilla.StatusFailed, flotilla.ReasonCouldNotStart, 1},
		{"image not found", []awsfake.Life{{PullError: "pull image manifest has been retried 5 time(s): manifest unknown"}}, flotilla.StatusFailed, flotilla.ReasonImagePull, 1},
		{"secrets unreachable, then fine", []awsfake.Life{{FailToStart: secretsDown}, {ExitCode: awsfake.Exit(0)}}, flotilla.StatusSucceeded, flotilla.ReasonSucceeded, 2},
		{"pull throttled, then fine", []awsfake.Life{{PullError: "429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit"}, {ExitCode: awsfake.Exit(0)}},
			flotilla.StatusSucceeded, flotilla.ReasonSucceeded, 2},
		{"stopped from the console", []awsfake.Life{{StopFromOutside: true}}, flotilla.StatusStopped, flotilla.ReasonStopped, 1},
		{"Spot interrupted, then exit 2", []awsfake.Life{{SpotInterruption: true}, {ExitCode: awsfake.Exit(2)}}, flotilla.StatusFailed, flotilla.ReasonExitCode, 2},
		{"no capacity, every time", []awsfake.Life{{FailToStart: "Capacity is unavailable at this time. Please try again later or in a different availability zone"}},
			flotilla.StatusFailed, flotilla.ReasonRetriesExhausted, 3},
	}
	const n = 30
	rs := s.launch(n, nil)
	want := map[string]shape{}
	for i, r := range rs {
		sh := shapes[i%len(shapes)]
		s.ecs.SetScript(r.id, awsfake.Script{Lives: sh.lives})
		want[r.id] = sh
	}
	s.faults(true)
	s.start()
	s.finish(rs, 60*time.Second)

	ctx := checking()
	for _, l := range rs {
		sh := want[l.id]
		r, err := s.svc.Store.GetRun(ctx, l.id)
		if err != nil {
			t.Errorf("%s: run %s lost: %v", sh.name, l.id, err)
			continue
		}
		if r.Status != sh.want || r.ReasonCode != sh.code || r.Attempt != sh.attempts {
			t.Errorf("%s: run %s ended %s %s after %d attempts (%s), want %s %s after %d",
				sh.name, r.ID, r.Status, r.ReasonCode, r.Attempt, r.StatusReason, sh.want, sh.code, sh.attempts)
		}
		if tasks := s.ecs.TasksStarted(r.ID); len(tasks) != r.Attempt {
			t.Errorf("%s: run %s: %d tasks for %d attempts", sh.name, r.ID, len(tasks), r.Attempt)
		}
	}
	u, err := s.svc.Store.ClusterUsage(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if u.Running != 0 || u.Queued != 0 {
		t.Errorf("cluster usage after the runs: %+v, want nothing queued or running", u)
	}
}

// checking is the context of the test's own reads of the store: they are
// the test looking, not a function, and are left out of the IAM recording.
func checking() context.Context {
	return awsclient.WithFunction(context.Background(), awsclient.NotAFunction)
}
