package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awssqs/sqstest"
)

// deployment is what `flotilla doctor` looks at, played on the hybrid
// emulators: serve behind a gateway that answers CORS preflights as API
// Gateway does (or, misconfigured, with the JWT authorizer's 401), the UI's
// config.json, the stage's dead-letter queues and the functions' log groups.
type deployment struct {
	h       *hybridStack
	gateway *httptest.Server
	ui      *httptest.Server
}

const doctorStage = "test"

func startDeployment(t *testing.T, o hybridOptions, corsOK, goodConfig bool) *deployment {
	t.Helper()
	d := &deployment{h: startHybrid(t, o)}
	api, _ := url.Parse(d.h.url)
	proxy := httputil.NewSingleHostReverseProxy(api)
	var uiOrigin string
	d.gateway = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			if !corsOK {
				// An ANY route with the JWT authorizer takes the preflight.
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"message":"Unauthorized"}`)
				return
			}
			if r.Header.Get("Origin") == uiOrigin {
				w.Header().Set("Access-Control-Allow-Origin", uiOrigin)
				w.Header().Set("Access-Control-Allow-Methods", "GET,POST,PATCH,DELETE,OPTIONS")
				w.Header().Set("Access-Control-Allow-Headers", "authorization,content-type")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(d.gateway.Close)
	config := `{"api_base_url":"` + d.gateway.URL + `","auth":{"region":"us-east-1","user_pool_id":"us-east-1_x","client_id":"abc","domain":"https://flotilla-test.auth.us-east-1.amazoncognito.com","redirect_uri":"x"}}`
	if !goodConfig {
		config = `{"api_base_url":"","auth":null}` // web/public's local one
	}
	d.ui = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/config.json" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, config)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(d.ui.Close)
	uiOrigin = d.ui.URL
	return d
}

// queues makes the stage's dead-letter queues; with letters, one holds one.
func (d *deployment) queues(t *testing.T, letters int) {
	t.Helper()
	c := sqstest.Client(t, d.h.sqsURL)
	ctx := context.Background()
	for _, name := range []string{"flotilla-" + doctorStage + "-default-dlq.fifo", "flotilla-" + doctorStage + "-events-dlq"} {
		attrs := map[string]string{}
		if strings.HasSuffix(name, ".fifo") {
			attrs[string(sqstypes.QueueAttributeNameFifoQueue)] = "true"
		}
		out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		for range letters {
			if !strings.HasSuffix(name, ".fifo") {
				if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String(`{"detail-type":"ECS Task State Change"}`)}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// functionLogs makes the functions' log groups; with errLine, the events
// function logged it a minute ago.
func (d *deployment) functionLogs(t *testing.T, errLines map[string]string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := awsclient.Load(ctx, awsclient.Options{Region: "us-east-1", StaticCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	c := cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String(d.h.logsURL) })
	for _, fn := range []string{"api", "dispatcher", "events", "sweep", "scheduler", "notifier"} {
		group := functionLogGroup(doctorStage, fn)
		if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String("2026/12/05/[$LATEST]abc")}); err != nil {
			t.Fatal(err)
		}
		lines := []string{`{"time":"…","level":"INFO","msg":"run started"}`,
			"REPORT RequestId: 8f5e0c1a-0d2b-4c36-9a57-3f1e2d4c5b6a\tDuration: 12.31 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\tMax Memory Used: 21 MB"}
		if l := errLines[fn]; l != "" {
			lines = append(lines, l)
		}
		var evs []cwltypes.InputLogEvent
		for _, l := range lines {
			evs = append(evs, cwltypes.InputLogEvent{Timestamp: aws.Int64(time.Now().Add(-time.Minute).UnixMilli()), Message: aws.String(l)})
		}
		if _, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group),
			LogStreamName: aws.String("2026/12/05/[$LATEST]abc"), LogEvents: evs}); err != nil {
			t.Fatal(err)
		}
	}
}

// doctor runs the real binary's `flotilla doctor` against the deployment.
func (d *deployment) doctor(t *testing.T, timeout time.Duration) (string, error) {
	t.Helper()
	cmd := exec.Command(flotillaBin, "doctor", "--api", d.gateway.URL, "--ui-url", d.ui.URL, "--stage", doctorStage,
		"--timeout", timeout.String(), "--poll", "200ms", "--image", "busybox")
	cmd.Env = append(os.Environ(), "FLOTILLA_TOKEN=doctor-test", "FLOTILLA_CONFIG_DIR="+t.TempDir(),
		"FLOTILLA_SQS_ENDPOINT="+d.h.sqsURL, "FLOTILLA_LOGS_ENDPOINT="+d.h.logsURL,
		"FLOTILLA_AWS_STATIC_CREDENTIALS=1", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestDoctorHealthyDeployment(t *testing.T) {
	d := startDeployment(t, hybridOptions{maxRunning: 2}, true, true)
	d.queues(t, 0)
	d.functionLogs(t, nil)
	out, err := d.doctor(t, 60*time.Second)
	t.Logf("flotilla doctor:\n%s", out)
	if err != nil {
		t.Fatalf("doctor failed on a healthy deployment: %v", err)
	}
	for _, name := range []string{"API health", "UI config.json", "CORS preflight from the UI", "signed in", "hello run",
		"task events arriving", "hello run logs", "dead-letter queues", "function errors"} {
		if !strings.Contains(out, "ok      "+name) {
			t.Errorf("no ok for %q", name)
		}
	}
}

// Every misconfiguration at once, each named with its fix: no task events
// (the EventBridge rule delivers nothing), the local config.json deployed,
// a preflight caught by the authorizer, a dead letter, a function error.
func TestDoctorNamesEachMisconfiguration(t *testing.T) {
	// Every log search first answers an empty page that is not the last.
	d := startDeployment(t, hybridOptions{maxRunning: 2, noEvents: true, logsEmptyPages: 1}, false, false)
	d.queues(t, 1)
	d.functionLogs(t, map[string]string{
		"events": `{"time":"…","level":"ERROR","msg":"reconcile run run_01: store unavailable"}`,
		// A platform error: the function's code logged nothing.
		"sweep": "2026-12-05T17:31:02.118Z 8f5e0c1a-0d2b-4c36-9a57-3f1e2d4c5b6a Task timed out after 55.06 seconds",
	})
	out, err := d.doctor(t, 8*time.Second)
	t.Logf("flotilla doctor:\n%s", out)
	if err == nil {
		t.Fatal("doctor passed a broken deployment")
	}
	for _, want := range []string{
		"ok      API health",
		"FAIL    UI config.json: it has no sign-in settings",
		"FAIL    CORS preflight from the UI: the preflight got 401",
		"FAIL    hello run: run",
		"runs stay PENDING: no ECS task events reach the events function; check the EventBridge rule",
		"FAIL    task events arriving",
		"FAIL    dead-letter queues: flotilla-test-events-dlq holds 1",
		"FAIL    function errors: events: 1 errors in the last hour",
		"sweep: 1 errors in the last hour, e.g. 2026-12-05T17:31:02.118Z 8f5e0c1a-0d2b-4c36-9a57-3f1e2d4c5b6a Task timed out",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// With no task events, the sweep still finds the hello run's end (by
// DescribeTasks, here within a second): the run succeeds, and doctor still
// says that no task event reached it, since the sweep's findings are
// recorded as the sweep's.
func TestDoctorTellsTheSweepFromTaskEvents(t *testing.T) {
	d := startDeployment(t, hybridOptions{maxRunning: 2, noEvents: true, stuckAfter: time.Second}, true, true)
	d.queues(t, 0)
	d.functionLogs(t, nil)
	out, err := d.doctor(t, 30*time.Second)
	t.Logf("flotilla doctor:\n%s", out)
	if err == nil {
		t.Fatal("doctor passed a deployment whose task events never arrive")
	}
	for _, want := range []string{"ok      hello run", "FAIL    task events arriving: no ECS task event reached run", "the sweep found its end by DescribeTasks"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}
