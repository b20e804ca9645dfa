//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb/ddbtest"
	"github.com/flotilla-run/flotilla/internal/awsecs"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/awssqs/sqstest"
	"github.com/flotilla-run/flotilla/internal/client"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/notify"
)

func TestMain(m *testing.M) {
	code := sqstest.Run(m)
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

var fns = []string{"api", "dispatcher", "events", "sweep"}

// built also holds the scheduler function, which only TestLambdasSchedulesAndStops
// starts, and the notifier, which TestLambdasEndToEnd starts when it needs it.
var builtFns = append(append([]string{}, fns...), "scheduler", "notifier")

// stack is the emulated AWS side and the four functions on it.
type stack struct {
	fn        map[string]*function
	rie       string
	bins      map[string]string
	env       []string
	api       *client.Client
	ecs       *awsfake.ECS
	logs      *awsfake.Logs
	scheduler *awsfake.Scheduler
	cognito   *awsfake.Cognito
	bridge    *awsfake.EventBridge
	ses       *awsfake.SES
	source    *eventSource
	dlq       string // the dead-letter queue's URL, if any
	bus       *eventBus
	started   time.Time
}

const (
	owner      = "0e2e0000-1111-2222-3333-444455556666" // the token's sub, whatever else it carries
	token      = "e2e-id-token"
	anonymous  = "e2e-token-without-email-or-sub"
	maxRunning = 3

	scheduleGroup = "flotilla-e2e"
	scheduleDLQ   = "arn:aws:sqs:us-east-1:123456789012:flotilla-e2e-events-dlq"
	revokedRole   = "flotilla-job-e2e-revoked"
)

// startStack starts the emulators and the four functions. With maxReceive
// above 0 the queue gets a dead-letter queue after that many receives.
func startStack(t *testing.T, maxReceive int) *stack {
	t.Helper()
	ctx := context.Background()
	s := &stack{fn: map[string]*function{}}

	// DynamoDB: minidyn in-process.
	// minidyn with its REMOVE fault mended: the functions send DynamoDB's
	// own writes (FLOTILLA_DYNAMODB_PUT_ON_REMOVE=0 below).
	ddb := httptest.NewServer(ddbtest.New())
	t.Cleanup(ddb.Close)
	cfg, err := awsclient.Load(ctx, awsclient.Options{Region: "us-east-1", StaticCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(ddb.URL)
		o.DisableValidateResponseChecksum = true
	})
	const table = "flotilla-e2e"
	if err := awsdynamodb.CreateTable(ctx, db, table); err != nil {
		t.Fatalf("create table: %v", err)
	}

	// SQS: fauxqs, the cluster's FIFO queue with a short visibility timeout.
	sqsURL := sqstest.Shared(t)
	sqsClient := sqstest.Client(t, sqsURL)
	queue := sqstest.CreateFIFOQueue(t, sqsClient, 2*time.Second)
	if maxReceive > 0 {
		s.dlq = withDeadLetterQueue(t, sqsClient, queue, maxReceive)
	}

	// ECS and Logs: tasks live on their own, a `sleep N` lasting N/10 s.
	s.logs = awsfake.NewLogs(awsfake.LogsOptions{})
	s.ecs = awsfake.NewECS(awsfake.ECSOptions{Auto: true, StepDelay: 10 * time.Millisecond, SleepScale: 0.1, Logs: s.logs,
		// IAM, as the fake plays it: a role whose trust or policy changed
		// after its definition was accepted can no longer be passed.
		MayPassRole: func(role string) bool { return !strings.HasSuffix(role, "/"+revokedRole) },
		// A run launched with OOM_ONCE in its env runs out of memory on its
		// first task, then runs as its command says.
		Script: func(l awsfake.Launch) awsfake.Script {
			if o := l.Request.Overrides; o != nil {
				for _, c := range o.ContainerOverrides {
					for _, e := range c.Environment {
						if e.Name == "OOM_ONCE" {
							return awsfake.Script{Lives: []awsfake.Life{{OOM: true}, {}}}
						}
					}
					// An array's child whose index FAIL_ARRAY_INDEXES lists exits 1.
					env := map[string]string{}
					for _, e := range c.Environment {
						env[e.Name] = e.Value
					}
					if i, ok := env["FLOTILLA_ARRAY_INDEX"]; ok && slices.Contains(strings.Split(env["FAIL_ARRAY_INDEXES"], ","), i) {
						return awsfake.Script{Lives: []awsfake.Life{{ExitCode: aws.Int(1)}}}
					}
				}
			}
			return awsfake.Script{}
		}})
	ecsURL, logsURL := awsfake.Serve(t, s.ecs), awsfake.Serve(t, s.logs)
	s.scheduler = awsfake.NewScheduler(awsfake.SchedulerOptions{Groups: []string{scheduleGroup}})
	schedulerURL := awsfake.Serve(t, s.scheduler)
	// The user pool: the token's owner is an enabled member.
	s.bridge = awsfake.NewEventBridge()
	busURL := awsfake.Serve(t, s.bridge)
	// What the notifier reads and sends through.
	s.ses = &awsfake.SES{Verified: []string{"flotilla.example"}}
	secretsURL := awsfake.Serve(t, awsfake.NewSecrets(map[string]string{
		"/flotilla/e2e/hook-key": "ssm-key", "flotilla/e2e/other-key": "sm-key"}))
	s.cognito = awsfake.NewCognito()
	s.cognito.SetUser(owner, true)
	cognitoURL := awsfake.Serve(t, s.cognito)

	clusters, _ := json.Marshal([]map[string]any{{
		"name": "default", "max_running": maxRunning, "queue_url": queue,
		"ecs_cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/flotilla-default", "launch_type": "FARGATE",
		"subnets": []string{"subnet-0e2e"}, "assign_public_ip": true,
	}})
	env := []string{
		"FLOTILLA_TABLE_NAME=" + table, "FLOTILLA_CLUSTERS=" + string(clusters),
		"FLOTILLA_TASK_EXECUTION_ROLE_ARN=arn:aws:iam::123456789012:role/flotilla-exec",
		"FLOTILLA_TASK_ROLE_ARN=arn:aws:iam::123456789012:role/flotilla-task",
		"FLOTILLA_DYNAMODB_ENDPOINT=" + ddb.URL, "FLOTILLA_SQS_ENDPOINT=" + sqsURL,
		"FLOTILLA_ECS_ENDPOINT=" + ecsURL, "FLOTILLA_LOGS_ENDPOINT=" + logsURL,
		"FLOTILLA_SCHEDULER_ENDPOINT=" + schedulerURL, "FLOTILLA_SCHEDULE_GROUP=" + scheduleGroup,
		"FLOTILLA_SCHEDULER_TARGET_ARN=arn:aws:lambda:us-east-1:123456789012:function:flotilla-scheduler",
		"FLOTILLA_SCHEDULER_ROLE_ARN=arn:aws:iam::123456789012:role/flotilla-scheduler",
		"FLOTILLA_SCHEDULE_DLQ_ARN=" + scheduleDLQ, "FLOTILLA_SECRETS_PREFIX=flotilla/e2e/",
		"FLOTILLA_JOB_ROLE_PREFIX=flotilla-job-e2e-",
		"FLOTILLA_EVENT_BUS=default", "FLOTILLA_EVENTBRIDGE_ENDPOINT=" + busURL, "FLOTILLA_UI_URL=https://ui.e2e.example",
		"FLOTILLA_SSM_ENDPOINT=" + secretsURL, "FLOTILLA_SECRETSMANAGER_ENDPOINT=" + secretsURL,
		"FLOTILLA_SES_ENDPOINT=" + awsfake.Serve(t, s.ses), "FLOTILLA_NOTIFY_FROM=jobs@flotilla.example",
		"FLOTILLA_USER_POOL_ID=us-east-1_E2Epool", "FLOTILLA_COGNITO_ENDPOINT=" + cognitoURL,
		"FLOTILLA_AWS_STATIC_CREDENTIALS=1", "AWS_EC2_METADATA_DISABLED=true", "FLOTILLA_DYNAMODB_PUT_ON_REMOVE=0",
	}
	rie, bins := artifacts(t)
	s.rie, s.bins, s.env = rie, bins, env
	for _, n := range fns {
		s.fn[n] = startFunction(t, rie, n, bins[n], env)
	}

	gw := httptest.NewServer(&gateway{fn: s.fn["api"], tokens: map[string]map[string]string{
		token:     {"email": "ann@example.com", "email_verified": "true", "sub": owner, "token_use": "id"},
		anonymous: {"token_use": "access", "scope": "openid"},
	}})
	t.Cleanup(gw.Close)
	s.api = client.New(gw.URL, token)

	runCtx, stop := context.WithCancel(ctx)
	s.source = &eventSource{t: t, fn: s.fn["dispatcher"], client: sqsClient, queueURL: queue}
	done := make(chan struct{})
	go func() { s.source.run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	s.bus = &eventBus{t: t, fn: s.fn["events"]}
	s.ecs.Subscribe(s.bus.deliver)
	return s
}

// TestLambdasEndToEnd: a definition is created over HTTP, 20 runs with
// scripted exit codes are launched on a cluster that runs 3 at a time, and
// each ends in its right status with its logs readable over the API, each
// started by exactly one RunTask.
func TestLambdasEndToEnd(t *testing.T) {
	begin := time.Now()
	s := startStack(t, 0)
	ctx := context.Background()
	t.Logf("stack up in %v", time.Since(begin).Round(time.Millisecond))

	// The sweep's rule fires before anything exists: a cold start too.
	if _, err := s.fn["sweep"].invoke(ctx, map[string]any{
		"version": "0", "id": "e2e-sweep-1", "detail-type": "Scheduled Event", "source": "aws.events",
		"time": time.Now().UTC().Format(time.RFC3339), "resources": []string{"arn:aws:events:us-east-1:123456789012:rule/flotilla-sweep"}, "detail": map[string]any{},
	}); err != nil {
		t.Fatalf("sweep: %v", err)
	}

	// The public health route needs no token; the rest do.
	if code, err := s.api.Do(ctx, "GET", "/v1/health", nil, nil, nil); err != nil || code != 200 {
		t.Fatalf("health: %d %v", code, err)
	}
	if _, err := client.New(s.api.BaseURL, "").ListRuns(ctx, nil); !isStatus(err, http.StatusUnauthorized) {
		t.Fatalf("list runs without a token: %v, want the authorizer's 401", err)
	}
	if _, err := client.New(s.api.BaseURL, anonymous).ListRuns(ctx, nil); !isStatus(err, http.StatusUnauthorized) {
		t.Fatalf("list runs with claims naming no one: %v, want the API's 401", err)
	}

	// A secret the deployment's execution role may not read is refused
	// when the definition is made, not at every attempt in ECS.
	if _, err := s.api.CreateDefinition(ctx, map[string]any{
		"alias": "reads-payroll", "image": "public.ecr.aws/docker/library/alpine:3", "command": "env",
		"cpu": 256, "memory": 512, "secrets": map[string]string{"PAYROLL": "ssm:/payroll/admin-password"},
	}); !isStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "secrets.PAYROLL") || !strings.Contains(err.Error(), "flotilla/e2e/") {
		t.Fatalf("definition with a secret outside flotilla/e2e/: %v, want a 400 naming secrets.PAYROLL", err)
	}

	// A job's own role must be one the deployment may pass to ECS.
	for role, why := range map[string]string{
		"arn:aws:iam::999999999999:role/flotilla-job-e2e-reports": "account 999999999999",
		"arn:aws:iam::123456789012:role/flotilla-job-prod-x":      "must start with flotilla-job-e2e-",
	} {
		if _, err := s.api.CreateDefinition(ctx, map[string]any{
			"alias": "own-role", "image": "public.ecr.aws/docker/library/alpine:3", "command": "true",
			"cpu": 256, "memory": 512, "task_role_arn": role,
		}); !isStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "task_role_arn") || !strings.Contains(err.Error(), why) {
			t.Fatalf("definition with task role %s: %v, want a 400 naming task_role_arn (%s)", role, err, why)
		}
	}

	const jobRole = "arn:aws:iam::123456789012:role/flotilla-job-e2e-reports"
	def, err := s.api.CreateDefinition(ctx, map[string]any{
		"alias": "nightly-report", "image": "public.ecr.aws/docker/library/alpine:3", "command": "echo default",
		"cpu": 256, "memory": 512, "task_role_arn": jobRole,
	})
	if err != nil {
		t.Fatalf("create definition: %v", err)
	}

	const n = 20
	type want struct {
		status flotilla.RunStatus
		exit   int
		line   string
	}
	wants := map[string]want{}
	launchStart := time.Now()
	for i := range n {
		exit := []int{0, 0, 1, 0, 3}[i%5]
		line := fmt.Sprintf("run %d of %d", i+1, n)
		r, err := s.api.Launch(ctx, map[string]any{
			"definition": def.Alias, "cluster": "default",
			"command": fmt.Sprintf("echo %s; sleep 2; echo done; exit %d", line, exit),
		})
		if err != nil {
			t.Fatalf("launch %d: %v", i, err)
		}
		if r.Owner != owner || r.OwnerName != "ann@example.com" {
			t.Fatalf("run %s owner %q (%q), want the token's sub %q and its verified e-mail as the name", r.ID, r.Owner, r.OwnerName, owner)
		}
		st := flotilla.StatusSucceeded
		if exit != 0 {
			st = flotilla.StatusFailed
		}
		wants[r.ID] = want{st, exit, line}
	}

	// Every run ends.
	deadline := time.Now().Add(90 * time.Second)
	final := map[string]flotilla.Run{}
	for len(final) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d runs ended after 90 s; still going: %v", len(final), n, going(ctx, s, wants, final))
		}
		for id := range wants {
			if _, ok := final[id]; ok {
				continue
			}
			r, err := s.api.GetRun(ctx, id)
			if err != nil {
				t.Fatalf("get run %s: %v", id, err)
			}
			if r.Status.Terminal() {
				final[id] = r
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	allDone := time.Since(launchStart)
	s.ecs.Flush()
	// A role the deployment can no longer pass fails the run at once, with
	// a reason that says what to fix, and is not retried.
	revoked, err := s.api.CreateDefinition(ctx, map[string]any{
		"alias": "revoked-role", "image": "public.ecr.aws/docker/library/alpine:3", "command": "true",
		"cpu": 256, "memory": 512, "task_role_arn": "arn:aws:iam::123456789012:role/" + revokedRole, "retry": map[string]int{"max_attempts": 3},
	})
	if err != nil {
		t.Fatalf("create definition: %v", err)
	}
	rr, err := s.api.Launch(ctx, map[string]any{"definition": revoked.ID})
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); !rr.Status.Terminal(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("run %s with a role that cannot be passed is still %s", rr.ID, rr.Status)
		}
		if rr, err = s.api.GetRun(ctx, rr.ID); err != nil {
			t.Fatal(err)
		}
	}
	if rr.Status != flotilla.StatusFailed || rr.ReasonCode != flotilla.ReasonCouldNotStart || rr.Attempt != 1 || !strings.Contains(rr.StatusReason, "task_role_arn") {
		t.Errorf("run with a role that cannot be passed: %s %s attempt %d (%s), want FAILED could_not_start on the first attempt naming task_role_arn",
			rr.Status, rr.ReasonCode, rr.Attempt, rr.StatusReason)
	}

	// A definition that asks for it retries a run that ran out of memory
	// with twice the memory: the second task's overrides carry it.
	grows, err := s.api.CreateDefinition(ctx, map[string]any{
		"alias": "grows", "image": "public.ecr.aws/docker/library/alpine:3", "command": "echo fits",
		"cpu": 256, "memory": 512, "on_out_of_memory": map[string]any{"retry_with_memory_factor": 2},
	})
	if err != nil {
		t.Fatalf("create definition: %v", err)
	}
	gr, err := s.api.Launch(ctx, map[string]any{"definition": grows.ID, "env": map[string]string{"OOM_ONCE": "1"}})
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); !gr.Status.Terminal(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("run %s that ran out of memory once is still %s", gr.ID, gr.Status)
		}
		if gr, err = s.api.GetRun(ctx, gr.ID); err != nil {
			t.Fatal(err)
		}
	}
	if gr.Status != flotilla.StatusSucceeded || gr.Attempt != 2 || gr.Memory != 1024 {
		t.Errorf("run that ran out of memory once: %s on attempt %d with %d MiB (%s), want SUCCEEDED on attempt 2 with 1024 MiB", gr.Status, gr.Attempt, gr.Memory, gr.StatusReason)
	}
	var mems []string
	for _, req := range s.ecs.RunTaskRequests() {
		if req.StartedBy == gr.ID && req.Overrides != nil {
			mems = append(mems, req.Overrides.Memory)
		}
	}
	if strings.Join(mems, ",") != "512,1024" {
		t.Errorf("the run's tasks were given %v MiB, want 512 then 1024", mems)
	}
	var story any
	if _, err := s.api.Do(ctx, "GET", "/v1/runs/"+gr.ID+"/events", nil, nil, &story); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(story), "retrying with 1024 MiB") {
		t.Errorf("the life story does not say the memory grew: %v", story)
	}

	// Every status change of every run was put on the default bus as a
	// "Flotilla Run State Change", in order, ending with its end.
	published := map[string][]flotilla.RunChange{}
	for _, e := range s.bridge.Entries() {
		if e.Source != "flotilla" || e.DetailType != "Flotilla Run State Change" || e.EventBusName != "" {
			t.Errorf("published %s / %s on %q", e.Source, e.DetailType, e.EventBusName)
		}
		var c flotilla.RunChange
		if err := json.Unmarshal([]byte(e.Detail), &c); err != nil {
			t.Fatalf("detail %s: %v", e.Detail, err)
		}
		published[c.RunID] = append(published[c.RunID], c)
	}
	for id, w := range wants {
		cs := published[id]
		var statuses []string
		for _, c := range cs {
			statuses = append(statuses, string(c.Status))
		}
		if got := strings.Join(statuses, " "); got != "QUEUED PENDING RUNNING "+string(w.status) {
			t.Errorf("run %s: published %q, want QUEUED PENDING RUNNING %s", id, got, w.status)
			continue
		}
		last := cs[len(cs)-1]
		if !last.Terminal || last.ExitCode == nil || *last.ExitCode != w.exit || last.CostUSD == nil || last.Owner != owner ||
			last.Alias != def.Alias || last.Links["run"] != "https://ui.e2e.example/runs/"+id || last.Links["api"] != "/v1/runs/"+id {
			t.Errorf("run %s: last change %+v", id, last)
		}
	}

	// A run that names notify targets: the rule on the bus sends its end to
	// the notifier function, which tells each target and writes the outcome
	// into the run's life story.
	type hookHit struct{ path, sig, ts string }
	var hookMu sync.Mutex
	var hookHits []hookHit
	// Over TLS, as a deployment requires: the notifier trusts the test
	// server's certificate through SSL_CERT_FILE (Go's crypto/x509 reads it
	// for the system roots on Linux).
	hooks := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		hookHits = append(hookHits, hookHit{r.URL.Path, r.Header.Get(notify.HeaderSignature), r.Header.Get(notify.HeaderTimestamp)})
		hookMu.Unlock()
		ts, _ := strconv.ParseInt(r.Header.Get(notify.HeaderTimestamp), 10, 64)
		key := map[string]string{"/ssm": "ssm-key", "/sm": "sm-key"}[r.URL.Path]
		if r.Header.Get(notify.HeaderSignature) != notify.Sign([]byte(key), ts, body) {
			t.Errorf("webhook %s: signature does not verify with its key", r.URL.Path)
		}
	}))
	defer hooks.Close()
	certFile := filepath.Join(t.TempDir(), "hooks.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hooks.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	s.fn["notifier"] = startFunction(t, s.rie, "notifier", s.bins["notifier"], append(slices.Clone(s.env), "SSL_CERT_FILE="+certFile))
	told, err := s.api.CreateDefinition(ctx, map[string]any{
		"alias": "told", "image": "public.ecr.aws/docker/library/alpine:3", "command": "echo hi; exit 2", "cpu": 256, "memory": 512,
		"notify": []map[string]string{{"webhook": hooks.URL + "/ssm", "secret": "ssm:/flotilla/e2e/hook-key"},
			{"webhook": hooks.URL + "/sm", "secret": "secretsmanager:flotilla/e2e/other-key"}, {"email": "ann@example.com"}},
	})
	if err != nil {
		t.Fatalf("create definition: %v", err)
	}
	tr, err := s.api.Launch(ctx, map[string]any{"definition": told.ID})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); !tr.Status.Terminal(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("run %s is still %s", tr.ID, tr.Status)
		}
		if tr, err = s.api.GetRun(ctx, tr.ID); err != nil {
			t.Fatal(err)
		}
	}
	delivered := 0
	for _, e := range s.bridge.Entries() {
		var c flotilla.RunChange
		json.Unmarshal([]byte(e.Detail), &c)
		if c.RunID != tr.ID || !c.Terminal {
			continue
		}
		if c.Notify != 3 {
			t.Errorf("the published end names %d targets, want 3", c.Notify)
		}
		if strings.Contains(e.Detail, hooks.URL) || strings.Contains(e.Detail, "hook-key") {
			t.Errorf("the bus carries the targets themselves: %s", e.Detail)
		}
		// EventBridge's envelope around the entry, as the rule delivers it.
		if _, err := s.fn["notifier"].invoke(ctx, map[string]any{"version": "0", "id": "e2e-notify", "detail-type": e.DetailType,
			"source": e.Source, "account": "123456789012", "time": time.Now().UTC().Format(time.RFC3339), "region": "us-east-1",
			"resources": []string{}, "detail": json.RawMessage(e.Detail)}); err != nil {
			t.Fatalf("notifier: %v", err)
		}
		delivered++
	}
	if delivered != 1 {
		t.Fatalf("%d terminal changes of run %s on the bus, want 1", delivered, tr.ID)
	}
	hookMu.Lock()
	if len(hookHits) != 2 {
		t.Errorf("webhooks got %v, want /ssm and /sm once each", hookHits)
	}
	hookMu.Unlock()
	if sent := s.ses.Sent(); len(sent) != 1 || sent[0].To != "ann@example.com" || sent[0].From != "jobs@flotilla.example" || !strings.Contains(sent[0].Subject, "told FAILED") {
		t.Errorf("SES sent %+v", sent)
	}
	var toldStory struct{ Items []flotilla.RunEvent }
	if _, err := s.api.Do(ctx, "GET", "/v1/runs/"+tr.ID+"/events", nil, nil, &toldStory); err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, e := range toldStory.Items {
		if e.Source == flotilla.SourceNotifier {
			notes = append(notes, e.Reason)
		}
	}
	if want := []string{"notified " + hooks.URL + "/ssm (HTTP 200, attempt 1)", "notified " + hooks.URL + "/sm (HTTP 200, attempt 1)", "e-mailed ann@example.com"}; strings.Join(notes, "|") != strings.Join(want, "|") {
		t.Errorf("life story notes %q, want %q", notes, want)
	}

	// The runs ran as the definition's role.
	if got := s.ecs.LatestTaskDefinition(awsecs.FamilyOf(awsecs.DefaultFamilyPrefix, def.ID))["taskRoleArn"]; got != jobRole {
		t.Errorf("the task definition's taskRoleArn is %v, want the definition's %s", got, jobRole)
	}

	for id, w := range wants {
		r := final[id]
		if r.Status != w.status || r.ExitCode == nil || *r.ExitCode != w.exit {
			t.Errorf("run %s: %s exit %v (%s), want %s exit %d", id, r.Status, deref(r.ExitCode), r.StatusReason, w.status, w.exit)
		}
		if calls := s.ecs.RunTaskCalls(id); calls != 1 {
			t.Errorf("run %s: %d RunTask calls, want 1", id, calls)
		}
		page, err := s.api.Logs(ctx, id, url.Values{"limit": {"100"}})
		if err != nil {
			t.Errorf("logs of %s: %v", id, err)
			continue
		}
		var lines []string
		for _, e := range page.Events {
			lines = append(lines, e.Message)
		}
		if got := strings.Join(lines, "|"); got != w.line+"|done" || !page.Complete {
			t.Errorf("logs of %s: %q complete=%v, want %q complete", id, got, page.Complete, w.line+"|done")
		}
	}
	if most := maxConcurrentTasks(t, s.ecs.Events()); most > maxRunning {
		t.Errorf("%d tasks ran at once on a cluster of max_running %d", most, maxRunning)
	} else {
		t.Logf("at most %d tasks at once (max_running %d)", most, maxRunning)
	}

	// A last sweep finds nothing to do.
	if _, err := s.fn["sweep"].invoke(ctx, map[string]any{"detail-type": "Scheduled Event", "source": "aws.events", "detail": map[string]any{}}); err != nil {
		t.Errorf("sweep: %v", err)
	}
	s.bus.mu.Lock()
	if len(s.bus.lost) > 0 {
		t.Errorf("task events never applied: %v", s.bus.lost)
	}
	t.Logf("events function: %d events applied, %d deliveries retried", s.bus.delivered, s.bus.retried)
	s.bus.mu.Unlock()
	// Every message was consumed: deleted after the dispatcher took it.
	attrs, err := s.source.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(s.source.queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Errorf("queue attributes: %v", err)
	} else if left := attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)] + "/" +
		attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]; left != "0/0" {
		t.Errorf("messages left in the queue (visible/in flight): %s", left)
	}
	s.source.mu.Lock()
	t.Logf("dispatcher: %d batches, %d messages deleted, %d reported failed", s.source.batches, s.source.deleted, s.source.reported)
	s.source.mu.Unlock()
	t.Logf("%d runs launched and ended in %v", n, allDone.Round(time.Millisecond))

	report(t, s)
}

// coldStartEvents are harmless first invokes, one per function.
var coldStartEvents = map[string]any{
	"api": map[string]any{"version": "2.0", "routeKey": "$default", "rawPath": "/v1/health",
		"requestContext": map[string]any{"stage": "$default", "http": map[string]any{"method": "GET", "path": "/v1/health"}}},
	"dispatcher": map[string]any{"Records": []any{}},
	"events":     map[string]any{"source": "aws.ecs", "detail-type": "ECS Container Instance State Change", "detail": map[string]any{}},
	"sweep":      map[string]any{"source": "aws.events", "detail-type": "Scheduled Event", "detail": map[string]any{}},
}

// coldInits starts each function n more times under a fresh RIE, invokes
// it once, and returns the median init duration RIE reported.
func coldInits(t *testing.T, s *stack, n int) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, name := range fns {
		var ms []float64
		for range n {
			f := startFunction(t, s.rie, name, s.bins[name], s.env)
			if _, err := f.invoke(context.Background(), coldStartEvents[name]); err != nil {
				t.Errorf("%s cold start: %v", name, err)
			}
			f.stop()
			if v, ok := f.initMillis(); ok {
				ms = append(ms, v)
			}
		}
		if len(ms) > 0 {
			slices.Sort(ms)
			out[name] = ms[len(ms)/2]
		}
	}
	return out
}

// report logs each function's cold init and binary size. With
// FLOTILLA_BENCH_OUT set it also takes the median of 5 more cold starts
// per function, builds the linux/arm64 binaries for their sizes, and merges
// both into the benchmark results.
func report(t *testing.T, s *stack) {
	t.Helper()
	bench := os.Getenv(benchOutEnv) != ""
	results := map[string]benchResult{}
	sizes, medians := map[string]float64{}, map[string]float64{}
	if bench {
		sizes = armSizes(t)
		medians = coldInits(t, s, 5)
	}
	for _, n := range fns {
		f := s.fn[n]
		ms, ok := f.initMillis()
		if !ok {
			t.Errorf("%s: RIE reported no init duration", n)
			continue
		}
		line := fmt.Sprintf("%-10s init %6.1f ms in the scenario  %3d invokes", n, ms, f.invokes)
		if m, ok := medians[n]; ok {
			ms = m
			line += fmt.Sprintf("  median of 5 cold starts %6.1f ms", m)
		}
		results["lambda_init_ms_"+n] = benchResult{Value: round1(ms), Unit: "ms", Goal: "< 50"}
		if mb, ok := sizes[n]; ok {
			results["lambda_binary_mb_"+n] = benchResult{Value: round1(mb), Unit: "MB (linux/arm64, stripped)"}
			line += fmt.Sprintf("  %.1f MB linux/arm64", mb)
		}
		t.Log(line)
	}
	if bench {
		if err := mergeBench(t, os.Getenv(benchOutEnv), results); err != nil {
			t.Fatal(err)
		}
	}
}

// armSizes builds each function as `make lambdas` does and returns the
// sizes in MB.
func armSizes(t *testing.T) map[string]float64 {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", dir + string(filepath.Separator)}
	for _, n := range fns {
		args = append(args, "./lambdas/"+n)
	}
	cmd := exec.Command(goTool(), args...)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build linux/arm64: %v\n%s", err, out)
	}
	sizes := map[string]float64{}
	for _, n := range fns {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		sizes[n] = float64(st.Size()) / 1e6
	}
	return sizes
}

// going lists the runs not ended yet, with their status and reason.
func going[W any](ctx context.Context, s *stack, wants map[string]W, final map[string]flotilla.Run) []string {
	var out []string
	for id := range wants {
		if _, ok := final[id]; ok {
			continue
		}
		r, err := s.api.GetRun(ctx, id)
		out = append(out, fmt.Sprintf("%s %s (%s) %v", id, r.Status, r.StatusReason, err))
	}
	return out
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func isStatus(err error, code int) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == code
}
