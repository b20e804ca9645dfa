package awsecs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsecs"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

type bundle struct {
	fake    *awsfake.ECS
	logs    *awsfake.Logs
	counter *awsclient.Counter
	client  *ecs.Client
	exec    *awsecs.Executor
}

var testConfig = awsecs.Config{
	Cluster:          "arn:aws:ecs:us-east-1:123456789012:cluster/jobs",
	Subnets:          []string{"subnet-a", "subnet-b"},
	SecurityGroups:   []string{"sg-1"},
	ExecutionRoleARN: "arn:aws:iam::123456789012:role/exec",
	TaskRoleARN:      "arn:aws:iam::123456789012:role/job",
	LogGroup:         "/flotilla/runs",
}

func setup(t *testing.T, o awsfake.ECSOptions) *bundle {
	t.Helper()
	b := &bundle{logs: awsfake.NewLogs(awsfake.LogsOptions{}), counter: awsclient.NewCounter()}
	if o.Logs == nil {
		o.Logs = b.logs
	}
	b.fake = awsfake.NewECS(o)
	url := awsfake.Serve(t, b.fake)
	cfg, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", StaticCredentials: true, Counter: b.counter})
	if err != nil {
		t.Fatal(err)
	}
	b.client = ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = &url })
	b.exec, err = awsecs.New(b.client, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var runSeq struct {
	sync.Mutex
	n int
}

func newRun(t *testing.T) flotilla.Run {
	runSeq.Lock()
	runSeq.n++
	n := runSeq.n
	runSeq.Unlock()
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	return flotilla.Run{
		ID: fmt.Sprintf("run_01JDTEST%018d", n), DefinitionID: "def_01JDDEF", Revision: 1, Cluster: "jobs",
		Status: flotilla.StatusPending, Image: "alpine:3", Command: "echo hi; echo there", CPU: 256, Memory: 512,
		Env: map[string]string{"B": "2", "A": "1"}, Attempt: 1, MaxAttempts: 3,
		Attempts: []flotilla.Attempt{{Attempt: 1, QueuedAt: at}}, QueuedAt: at,
	}
}

func withTask(r flotilla.Run, id string) flotilla.Run {
	r.Attempts = append([]flotilla.Attempt(nil), r.Attempts...)
	r.Current().TaskID = id
	return r
}

func TestStartSendsWhatTheRunNeeds(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.ECSOptions{})
	r := newRun(t)
	task, err := b.exec.Start(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if task.ID == "" || task.Engine != flotilla.EngineFargate {
		t.Fatalf("task = %+v", task)
	}
	reqs := b.fake.RunTaskRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d RunTask requests, want 1", len(reqs))
	}
	q := reqs[0]
	if q.ClientToken != r.ID+"#1" || q.StartedBy != r.ID || q.Group != "flotilla-attempt-1" {
		t.Errorf("clientToken %q startedBy %q group %q", q.ClientToken, q.StartedBy, q.Group)
	}
	if q.Cluster != testConfig.Cluster || q.LaunchType != "FARGATE" || q.PropagateTags != "TASK_DEFINITION" {
		t.Errorf("cluster %q launchType %q propagateTags %q", q.Cluster, q.LaunchType, q.PropagateTags)
	}
	vpc := q.NetworkConfiguration.AwsvpcConfiguration
	if fmt.Sprint(vpc.Subnets) != "[subnet-a subnet-b]" || fmt.Sprint(vpc.SecurityGroups) != "[sg-1]" || vpc.AssignPublicIp != "DISABLED" {
		t.Errorf("awsvpc = %+v", vpc)
	}
	o := q.Overrides
	if o.Cpu != "256" || o.Memory != "512" || len(o.ContainerOverrides) != 1 {
		t.Fatalf("overrides = %+v", o)
	}
	co := o.ContainerOverrides[0]
	if co.Name != "job" || fmt.Sprint(co.Command) != "[sh -c echo hi; echo there]" {
		t.Errorf("container override = %+v", co)
	}
	// The run's own variables, then what the job knows of itself.
	if want := fmt.Sprintf("[{A 1} {B 2} {FLOTILLA_ATTEMPT 1} {FLOTILLA_DEFINITION %s} {FLOTILLA_RUN_ID %s}]", r.Alias, r.ID); fmt.Sprint(co.Environment) != want {
		t.Errorf("environment = %+v", co.Environment)
	}
	tags := map[string]string{}
	for _, tg := range q.Tags {
		tags[tg.Key] = tg.Value
	}
	if tags[awsecs.TagRunID] != r.ID || tags[awsecs.TagAttempt] != "1" {
		t.Errorf("tags = %v", tags)
	}
}

func TestStartIsIdempotentPerAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.ECSOptions{})
	r := newRun(t)
	first, err := b.exec.Start(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.exec.Start(context.Background(), r)
	if err != nil || again.ID != first.ID {
		t.Fatalf("second Start = %+v, %v; want task %s", again, err, first.ID)
	}
	// The same attempt with other parameters (a changed env) conflicts on
	// the clientToken: Start still answers the task already started.
	changed := r
	changed.Env = map[string]string{"C": "3"}
	third, err := b.exec.Start(context.Background(), changed)
	if err != nil || third.ID != first.ID {
		t.Fatalf("conflicting Start = %+v, %v; want task %s", third, err, first.ID)
	}
	if n := len(b.fake.TasksStarted(r.ID)); n != 1 {
		t.Fatalf("%d tasks started, want 1", n)
	}
	next := r
	next.Attempt = 2
	next.Attempts = append(next.Attempts, flotilla.Attempt{Attempt: 2})
	second, err := b.exec.Start(context.Background(), next)
	if err != nil || second.ID == first.ID {
		t.Fatalf("attempt 2 = %+v, %v; want a new task", second, err)
	}
}

func TestTaskDefinitionRegisteredOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.ECSOptions{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.exec.Start(context.Background(), newRun(t)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	family := awsecs.Family("def_01JDDEF")
	if n := b.fake.Registrations(family); n != 1 {
		t.Fatalf("%d registrations, want 1", n)
	}
	// A cold process (a new Executor) finds the revision instead of
	// registering another.
	cold, _ := awsecs.New(b.client, testConfig)
	b.counter.Reset()
	if _, err := cold.Start(context.Background(), newRun(t)); err != nil {
		t.Fatal(err)
	}
	if n := b.fake.Registrations(family); n != 1 {
		t.Fatalf("cold start: %d registrations, want 1", n)
	}
	got := b.counter.Snapshot()
	if got["ECS.DescribeTaskDefinition"] != 1 || got["ECS.RegisterTaskDefinition"] != 0 || got["ECS.RunTask"] != 1 {
		t.Fatalf("cold start requests = %v", got)
	}
	// A new image is a new revision, once.
	r := newRun(t)
	r.Image, r.Revision = "alpine:3.21", 2
	for range 3 {
		if _, err := cold.Start(context.Background(), withAttempt(r, 1)); err != nil {
			t.Fatal(err)
		}
		r = newRunLike(t, r)
	}
	if n := b.fake.Registrations(family); n != 2 {
		t.Fatalf("after an image change: %d registrations, want 2", n)
	}
}

func withAttempt(r flotilla.Run, n int) flotilla.Run {
	r.Attempt = n
	return r
}

func newRunLike(t *testing.T, r flotilla.Run) flotilla.Run {
	n := newRun(t)
	n.Image, n.Revision = r.Image, r.Revision
	return n
}

func TestStartClassifiesFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reply awsfake.Reply
		check func(error) bool
		want  string
	}{
		{awsfake.Fail("RESOURCE:MEMORY", ""), isWait(flotilla.WaitEngineCapacity), "capacity"},
		{awsfake.Fail("Capacity is unavailable at this time. Please try again later or in a different availability zone", ""), isWait(flotilla.WaitEngineCapacity), "capacity"},
		{awsfake.Fail("You've reached the limit on the number of vCPUs you can run concurrently", ""), isWait(flotilla.WaitAccountQuota), "quota"},
		{awsfake.Fail("ATTRIBUTE", "arn:aws:ecs:us-east-1:123456789012:container-instance/jobs/abc"), is(flotilla.ErrInvalid), "invalid"},
		{awsfake.Reply{Status: 400, Type: "InvalidParameterException", Message: "Invalid 'cpu' setting for task."}, is(flotilla.ErrInvalid), "invalid"},
		{awsfake.Reply{Status: 400, Type: "ClientException", Message: "Tasks provisioning capacity limit exceeded."}, isWait(flotilla.WaitAccountQuota), "quota"},
		{awsfake.Throttle(), is(flotilla.ErrThrottled), "throttled"},
	}
	for _, tt := range tests {
		t.Run(tt.want+"/"+tt.reply.Type+tt.reply.Message+failureReason(tt.reply), func(t *testing.T) {
			t.Parallel()
			b := setup(t, awsfake.ECSOptions{})
			r := newRun(t)
			replies := []awsfake.Reply{tt.reply}
			if tt.reply.Type == "ThrottlingException" {
				replies = []awsfake.Reply{tt.reply, tt.reply, tt.reply, tt.reply, tt.reply}
			}
			b.fake.SetScript(r.ID, awsfake.Script{Replies: replies})
			_, err := b.exec.Start(context.Background(), r)
			if !tt.check(err) {
				t.Fatalf("Start error = %v (%T), want %s", err, err, tt.want)
			}
		})
	}
}

func failureReason(r awsfake.Reply) string {
	if r.Failure != nil {
		return r.Failure.Reason
	}
	return ""
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func isWait(w flotilla.WaitReason) func(error) bool {
	return func(err error) bool {
		var ce *flotilla.CapacityError
		return errors.As(err, &ce) && ce.Wait == w && errors.Is(err, flotilla.ErrNoCapacity)
	}
}

func TestStartRetriesThrottlesAndServerErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.ECSOptions{})
	r := newRun(t)
	b.fake.SetScript(r.ID, awsfake.Script{Replies: []awsfake.Reply{awsfake.Throttle(), awsfake.ServerError()}})
	if _, err := b.exec.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if n := b.fake.RunTaskCalls(r.ID); n != 3 {
		t.Fatalf("%d RunTask calls, want 3", n)
	}
}

func TestDescribeAndStop(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.ECSOptions{})
	r := newRun(t)
	b.fake.SetScript(r.ID, awsfake.Script{Lives: []awsfake.Life{{Hold: true}}})
	task, err := b.exec.Start(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Without the task id (a crash before it was recorded) Describe finds
	// the attempt's task by startedBy.
	ev, err := b.exec.Describe(ctx, r)
	if err != nil || ev.TaskID != task.ID || ev.State != flotilla.TaskPending || ev.Attempt != 1 || ev.RunID != r.ID {
		t.Fatalf("Describe = %+v, %v", ev, err)
	}
	r = withTask(r, task.ID)
	b.fake.Settle()
	ev, err = b.exec.Describe(ctx, r)
	if err != nil || ev.State != flotilla.TaskRunning {
		t.Fatalf("Describe running = %+v, %v", ev, err)
	}
	r.StopRequest = &flotilla.StopRequest{Reason: "stopped by ada"}
	if err := b.exec.Stop(ctx, r); err != nil {
		t.Fatal(err)
	}
	b.fake.Settle()
	ev, err = b.exec.Describe(ctx, r)
	if err != nil || ev.State != flotilla.TaskStopped || ev.StopCode != flotilla.StopCodeUserInitiated || ev.StoppedReason != "stopped by ada" {
		t.Fatalf("Describe stopped = %+v, %v", ev, err)
	}
	b.fake.Forget(task.ID)
	if _, err := b.exec.Describe(ctx, r); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("Describe forgotten = %v, want ErrNotFound", err)
	}
	other := newRun(t)
	if _, err := b.exec.Describe(ctx, other); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("Describe never started = %v, want ErrNotFound", err)
	}
	if err := b.exec.Stop(ctx, other); !errors.Is(err, flotilla.ErrNotFound) {
		t.Fatalf("Stop never started = %v, want ErrNotFound", err)
	}
}

// With 10% of ECS responses throttled or 500 (RunTask 500s sent after the
// task started, so the response is lost), every Start still succeeds and
// no run gets a second task: the retryer resends the same clientToken.
func TestStartSurvivesFaults(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.ECSOptions{Faults: awsfake.Faults{Rate: 0.1, Seed: 2026}})
	const runs = 100
	for range runs {
		r := newRun(t)
		task, err := b.exec.Start(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if started := b.fake.TasksStarted(r.ID); len(started) != 1 || started[0] != task.ID {
			t.Fatalf("run %s: tasks %v, Start said %s", r.ID, started, task.ID)
		}
	}
	got := b.counter.Snapshot()
	if got["ECS.RunTask"] <= runs || got["ECS.RunTask"] != b.fake.Calls()["RunTask"] {
		t.Fatalf("RunTask requests: counter %d, fake %d", got["ECS.RunTask"], b.fake.Calls()["RunTask"])
	}
	t.Logf("%d runs with 10%% faults: requests %v, faults injected %v", runs, got, b.fake.FaultsInjected())
}

func TestClustersRoute(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.ECSOptions{})
	c := awsecs.Clusters{"jobs": b.exec}
	r := newRun(t)
	if _, err := c.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	r.Cluster = "elsewhere"
	if _, err := c.Start(context.Background(), r); !errors.Is(err, flotilla.ErrInvalid) {
		t.Fatalf("unknown cluster = %v, want ErrInvalid", err)
	}
}

// Secrets go into the task definition as references ECS resolves; the
// per-run overrides never carry them, and a changed reference is a new
// revision.
func TestSecretsAreInTheTaskDefinitionNotTheOverrides(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.ECSOptions{})
	ctx := context.Background()
	r := newRun(t)
	r.DefinitionID = "def_01JDSECRETS"
	r.Secrets = map[string]string{
		"TOKEN":  "ssm:/flotilla/token",
		"DB_URL": "secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
	}
	if _, err := b.exec.Start(ctx, r); err != nil {
		t.Fatal(err)
	}
	family := awsecs.Family(r.DefinitionID)
	out, err := b.client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &family})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range out.TaskDefinition.ContainerDefinitions[0].Secrets {
		got = append(got, *s.Name+"="+*s.ValueFrom)
	}
	want := "[DB_URL=arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf TOKEN=/flotilla/token]"
	if fmt.Sprint(got) != want {
		t.Errorf("task definition secrets = %v, want %v", got, want)
	}
	reqs := b.fake.RunTaskRequests()
	body, _ := json.Marshal(reqs[len(reqs)-1])
	for _, s := range []string{"TOKEN", "DB_URL", "/flotilla/token", "secret:db"} {
		if strings.Contains(string(body), s) {
			t.Errorf("RunTask request carries %q: %s", s, body)
		}
	}

	// The same secrets reuse the revision; a changed reference registers one.
	again := newRunLike(t, r)
	again.DefinitionID, again.Secrets = r.DefinitionID, r.Secrets
	if _, err := b.exec.Start(ctx, again); err != nil {
		t.Fatal(err)
	}
	if n := b.fake.Registrations(family); n != 1 {
		t.Fatalf("same secrets: %d registrations, want 1", n)
	}
	changed := newRunLike(t, r)
	changed.DefinitionID = r.DefinitionID
	changed.Secrets = map[string]string{"TOKEN": "ssm:/flotilla/token-v2"}
	if _, err := b.exec.Start(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if n := b.fake.Registrations(family); n != 2 {
		t.Fatalf("changed secret: %d registrations, want 2", n)
	}
}
