package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/spf13/cobra"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/client"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// doctorConfig is what `flotilla doctor` checks.
type doctorConfig struct {
	API, UI  string
	Stage    string
	Timeout  time.Duration
	SkipRun  bool
	SkipAWS  bool
	Image    string
	Interval time.Duration
}

// check is one line of the doctor's report.
type check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok, FAIL, skipped
	Detail string `json:"detail,omitempty"`
	Fix    string `json:"fix,omitempty"`
}

func doctorCmd(e *env) *cobra.Command {
	var c doctorConfig
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "check a deployed Flotilla end to end and say how to fix what is wrong",
		Long: `doctor checks the deployment FLOTILLA_URL points at: the API's health, the UI's
config.json, the browser's CORS preflight from the UI, your sign-in, a hello run reaching
SUCCEEDED with its logs readable and its task events arriving, the dead-letter queues, and the
functions' recent errors. Each check prints ok, or what is wrong and how to fix it.
The AWS checks (queues, function logs) use your AWS credentials: they need sqs:ListQueues,
sqs:GetQueueAttributes and logs:FilterLogEvents.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.API == "" {
				c.API = e.url()
			}
			checks := runDoctor(cmd.Context(), e, c)
			failed := 0
			for _, ch := range checks {
				if ch.Status == "FAIL" {
					failed++
				}
			}
			if e.json {
				b, _ := json.MarshalIndent(checks, "", "  ")
				fmt.Fprintln(e.stdout, string(b))
			} else {
				for _, ch := range checks {
					fmt.Fprintf(e.stdout, "%-7s %s", ch.Status, ch.Name)
					if ch.Detail != "" {
						fmt.Fprintf(e.stdout, ": %s", ch.Detail)
					}
					fmt.Fprintln(e.stdout)
					if ch.Fix != "" {
						fmt.Fprintf(e.stdout, "        fix: %s\n", ch.Fix)
					}
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d checks failed", failed, len(checks))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.API, "api", "", "the API's URL (default $FLOTILLA_URL)")
	f.StringVar(&c.UI, "ui-url", "", "the UI's URL (the UiUrl output), to check its config.json and CORS")
	f.StringVar(&c.Stage, "stage", "prod", "the deployment's stage (its queues are flotilla-<stage>-…)")
	f.DurationVar(&c.Timeout, "timeout", 5*time.Minute, "how long the hello run may take")
	f.BoolVar(&c.SkipRun, "skip-run", false, "do not launch the hello run")
	f.BoolVar(&c.SkipAWS, "skip-aws", false, "skip the checks that call AWS (dead-letter queues, function errors)")
	f.StringVar(&c.Image, "image", "public.ecr.aws/docker/library/busybox:stable", "the hello run's image")
	f.DurationVar(&c.Interval, "poll", time.Second, "how often the hello run is looked at")
	return cmd
}

// runDoctor runs every check in order.
func runDoctor(ctx context.Context, e *env, c doctorConfig) []check {
	api := strings.TrimRight(c.API, "/")
	hc := &http.Client{Timeout: 15 * time.Second}
	cl := client.New(api, e.client().Token)
	var out []check
	add := func(ch check) { out = append(out, ch) }

	add(checkHealth(ctx, hc, api))
	if c.UI == "" {
		add(check{Name: "UI config.json", Status: "skipped", Detail: "no --ui-url"})
		add(check{Name: "CORS preflight from the UI", Status: "skipped", Detail: "no --ui-url"})
	} else {
		add(checkUIConfig(ctx, hc, strings.TrimRight(c.UI, "/"), api))
		add(checkCORS(ctx, hc, api, strings.TrimRight(c.UI, "/")))
	}
	signedIn := checkSignIn(ctx, cl)
	add(signedIn)
	if c.SkipRun {
		add(check{Name: "hello run", Status: "skipped", Detail: "--skip-run"})
	} else if signedIn.Status != "ok" {
		add(check{Name: "hello run", Status: "skipped", Detail: "not signed in"})
	} else {
		out = append(out, checkHelloRun(ctx, cl, c)...)
	}
	if c.SkipAWS {
		add(check{Name: "dead-letter queues", Status: "skipped", Detail: "--skip-aws"})
		add(check{Name: "function errors", Status: "skipped", Detail: "--skip-aws"})
		return out
	}
	cfg, err := awsclient.Load(ctx, awsclient.Options{StaticCredentials: e.getenv("FLOTILLA_AWS_STATIC_CREDENTIALS") == "1", MaxAttempts: 2})
	if err != nil {
		add(check{Name: "AWS checks", Status: "skipped", Detail: "no AWS configuration: " + err.Error(),
			Fix: "set AWS credentials (AWS_PROFILE, …) of the deployment's account, or pass --skip-aws"})
		return out
	}
	add(checkDeadLetterQueues(ctx, sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = endpointOf(e.getenv("FLOTILLA_SQS_ENDPOINT")) }), c.Stage))
	add(checkFunctionErrors(ctx, cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = endpointOf(e.getenv("FLOTILLA_LOGS_ENDPOINT")) }), c.Stage))
	return out
}

func endpointOf(u string) *string {
	if u == "" {
		return nil
	}
	return aws.String(u)
}

func checkHealth(ctx context.Context, hc *http.Client, api string) check {
	ch := check{Name: "API health"}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/v1/health", nil)
	resp, err := hc.Do(req)
	if err != nil {
		ch.Status, ch.Detail = "FAIL", err.Error()
		ch.Fix = "check FLOTILLA_URL (the ApiUrl output of the stack)"
		return ch
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body)
	if resp.StatusCode != http.StatusOK || body.Status != "ok" {
		ch.Status, ch.Detail = "FAIL", fmt.Sprintf("GET /v1/health answered %s", resp.Status)
		ch.Fix = "the api function fails or is not wired to the HTTP API: look at its log group (/flotilla/<stage>/functions/api)"
		return ch
	}
	ch.Status = "ok"
	return ch
}

// checkUIConfig: the deployed UI must carry the stack's sign-in settings,
// not web/public's local config.json (which turns sign-in off).
func checkUIConfig(ctx context.Context, hc *http.Client, ui, api string) check {
	ch := check{Name: "UI config.json"}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ui+"/config.json", nil)
	resp, err := hc.Do(req)
	if err != nil {
		ch.Status, ch.Detail, ch.Fix = "FAIL", err.Error(), "check --ui-url (the UiUrl output of the stack)"
		return ch
	}
	defer resp.Body.Close()
	var cfg struct {
		APIBaseURL string `json:"api_base_url"`
		Auth       *struct {
			ClientID string `json:"client_id"`
			Domain   string `json:"domain"`
		} `json:"auth"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&cfg) != nil {
		ch.Status, ch.Detail = "FAIL", fmt.Sprintf("GET /config.json answered %s, not the UI's settings", resp.Status)
		ch.Fix = "deploy the stack again (make deploy): it writes config.json into the UI bucket"
		return ch
	}
	switch {
	case cfg.Auth == nil || cfg.Auth.ClientID == "" || cfg.Auth.Domain == "":
		ch.Status, ch.Detail = "FAIL", "it has no sign-in settings: the UI would run as if it were local"
		ch.Fix = "the local web/public/config.json reached the bucket; deploy with this version of the stack (it deploys web/dist without it and writes its own)"
	case strings.TrimRight(cfg.APIBaseURL, "/") != api:
		ch.Status, ch.Detail = "FAIL", fmt.Sprintf("its api_base_url is %q, not %q", cfg.APIBaseURL, api)
		ch.Fix = "point FLOTILLA_URL at the same stage as --ui-url, or deploy the stack again"
	default:
		ch.Status = "ok"
	}
	return ch
}

// checkCORS plays the browser's preflight of a POST with a token.
func checkCORS(ctx context.Context, hc *http.Client, api, ui string) check {
	ch := check{Name: "CORS preflight from the UI"}
	u, err := url.Parse(ui)
	if err != nil {
		ch.Status, ch.Detail = "FAIL", "--ui-url is not a URL"
		return ch
	}
	origin := u.Scheme + "://" + u.Host
	req, _ := http.NewRequestWithContext(ctx, http.MethodOptions, api+"/v1/runs", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	resp, err := hc.Do(req)
	if err != nil {
		ch.Status, ch.Detail = "FAIL", err.Error()
		return ch
	}
	resp.Body.Close()
	allowOrigin := resp.Header.Get("Access-Control-Allow-Origin")
	methods := strings.ToUpper(resp.Header.Get("Access-Control-Allow-Methods"))
	headers := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		ch.Status, ch.Detail = "FAIL", fmt.Sprintf("the preflight got %s: a route with the JWT authorizer takes OPTIONS", resp.Status)
		ch.Fix = "the API must not have ANY routes with the authorizer (API Gateway then answers OPTIONS itself): deploy this version of the stack"
	case resp.StatusCode >= 300:
		ch.Status, ch.Detail = "FAIL", "the preflight got "+resp.Status
		ch.Fix = "configure CORS on the HTTP API for the UI's origin (the stack does)"
	case allowOrigin != origin && allowOrigin != "*":
		ch.Status, ch.Detail = "FAIL", fmt.Sprintf("Access-Control-Allow-Origin is %q, not %q", allowOrigin, origin)
		ch.Fix = "the HTTP API's CORS allows another origin: deploy the stack again so it allows the UI's"
	case !strings.Contains(methods, "POST") || !strings.Contains(headers, "authorization"):
		ch.Status, ch.Detail = "FAIL", fmt.Sprintf("allowed methods %q, headers %q: POST with authorization is not allowed", methods, headers)
		ch.Fix = "the HTTP API's CORS must allow POST, PATCH, DELETE and the authorization and content-type headers"
	default:
		ch.Status = "ok"
	}
	return ch
}

func checkSignIn(ctx context.Context, cl *client.Client) check {
	ch := check{Name: "signed in"}
	_, err := cl.ListRuns(ctx, url.Values{"limit": {"1"}})
	var ae *client.Error
	switch {
	case err == nil:
		ch.Status = "ok"
	case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
		ch.Status, ch.Detail = "FAIL", fmt.Sprintf("the API answered %d", ae.Status)
		ch.Fix = "run flotilla login --ui-url <UiUrl> (or set FLOTILLA_TOKEN); a token lasts an hour"
	default:
		ch.Status, ch.Detail = "FAIL", err.Error()
	}
	return ch
}

// doctorAlias is the definition of the hello run.
const doctorAlias = "flotilla-doctor"

// checkHelloRun launches a run that prints one line and follows it: that it
// ends SUCCEEDED, that its task events arrived (its changes came from the
// engine, not from the sweep finding them later), and that its log reads.
func checkHelloRun(ctx context.Context, cl *client.Client, c doctorConfig) []check {
	run := check{Name: "hello run"}
	const line = "flotilla-doctor says hello"
	body := map[string]any{"alias": doctorAlias, "image": c.Image, "command": "echo " + line, "cpu": 256, "memory": 512}
	if _, err := cl.CreateDefinition(ctx, body); err != nil {
		var ae *client.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusConflict {
			run.Status, run.Detail = "FAIL", "cannot create the definition "+doctorAlias+": "+err.Error()
			return []check{run}
		}
	}
	r, err := cl.Launch(ctx, map[string]any{"definition": doctorAlias, "idempotency_key": "doctor-" + strconv.FormatInt(time.Now().UnixNano(), 36)})
	if err != nil {
		run.Status, run.Detail = "FAIL", "launch: "+err.Error()
		return []check{run}
	}
	deadline := time.Now().Add(c.Timeout)
	for !r.Status.Terminal() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			run.Status, run.Detail = "FAIL", ctx.Err().Error()
			return []check{run}
		case <-time.After(c.Interval):
		}
		if next, err := cl.GetRun(ctx, r.ID); err == nil {
			r = next
		}
	}
	events := check{Name: "task events arriving"}
	story := runStory(ctx, cl, r.ID)
	fromEngine := slices.ContainsFunc(story, func(e flotilla.RunEvent) bool {
		return e.Source == flotilla.SourceEngine && (e.To == flotilla.StatusRunning || e.To.Terminal())
	})
	switch {
	case r.Status == flotilla.StatusSucceeded:
		run.Status, run.Detail = "ok", fmt.Sprintf("run %s SUCCEEDED", r.ID)
	case r.Status == flotilla.StatusQueued:
		run.Status, run.Detail = "FAIL", fmt.Sprintf("run %s still QUEUED after %s: %s", r.ID, c.Timeout, r.StatusReason)
		run.Fix = "no dispatcher took it: check the dispatcher function's errors and its SQS event source on the cluster queue, and the cluster's max_running"
	case r.Status == flotilla.StatusPending:
		run.Status, run.Detail = "FAIL", fmt.Sprintf("run %s stays PENDING after %s: %s", r.ID, c.Timeout, r.StatusReason)
		run.Fix = "runs stay PENDING: no ECS task events reach the events function; check the EventBridge rule (ECS Task State Change of Flotilla's clusters → the events function), its dead-letter queue and the events function's errors"
	default:
		run.Status, run.Detail = "FAIL", fmt.Sprintf("run %s ended %s (%s): %s", r.ID, r.Status, r.ReasonCode, r.StatusReason)
		run.Fix = "see `flotilla runs events " + r.ID + "` and the README's table of reasons"
	}
	switch {
	case fromEngine:
		events.Status = "ok"
	case r.Status == flotilla.StatusQueued:
		events.Status, events.Detail = "skipped", "the run never started"
	default:
		events.Status = "FAIL"
		events.Detail = fmt.Sprintf("no ECS task event reached run %s in %s", r.ID, c.Timeout)
		if r.Status.Terminal() {
			events.Detail = fmt.Sprintf("no ECS task event reached run %s: the sweep found its end by DescribeTasks, a minute late", r.ID)
		}
		events.Fix = "no ECS task events reach the events function; check the EventBridge rule (ECS Task State Change of Flotilla's clusters → the events function), its retry policy and dead-letter queue, and the events function's errors"
	}
	logs := check{Name: "hello run logs"}
	if r.Status != flotilla.StatusSucceeded {
		logs.Status, logs.Detail = "skipped", "the run did not succeed"
		return []check{run, events, logs}
	}
	var lines []string
	q := url.Values{}
	for range 100 {
		page, err := cl.Logs(ctx, r.ID, q)
		if err != nil {
			logs.Status, logs.Detail = "FAIL", "reading the log: "+err.Error()
			logs.Fix = "the api function reads CloudWatch Logs: check its role (logs:GetLogEvents on the job log group) and the task execution role (writes the job log group)"
			return []check{run, events, logs}
		}
		for _, ev := range page.Events {
			lines = append(lines, ev.Message)
		}
		if page.Complete || page.NextToken == "" {
			break
		}
		q.Set("next_token", page.NextToken)
	}
	if slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, line) }) {
		logs.Status = "ok"
	} else {
		logs.Status, logs.Detail = "FAIL", fmt.Sprintf("the log holds %d lines, none of them %q", len(lines), line)
		logs.Fix = "the job's output does not reach CloudWatch Logs: check the task definition's awslogs settings and the execution role"
	}
	return []check{run, events, logs}
}

func runStory(ctx context.Context, cl *client.Client, id string) []flotilla.RunEvent {
	var page struct {
		Items []flotilla.RunEvent `json:"items"`
	}
	if _, err := cl.Do(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(id)+"/events", nil, nil, &page); err != nil {
		return nil
	}
	return page.Items
}

// checkDeadLetterQueues: a message in a dead-letter queue is a run or an
// event that could not be handled.
func checkDeadLetterQueues(ctx context.Context, c *sqs.Client, stage string) check {
	ch := check{Name: "dead-letter queues"}
	prefix := "flotilla-" + stage + "-"
	var urls []string
	p := sqs.NewListQueuesPaginator(c, &sqs.ListQueuesInput{QueueNamePrefix: aws.String(prefix)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			ch.Status, ch.Detail, ch.Fix = "FAIL", "listing the queues: "+err.Error(), "the checks that call AWS need sqs:ListQueues and sqs:GetQueueAttributes"
			return ch
		}
		for _, u := range out.QueueUrls {
			name := u[strings.LastIndex(u, "/")+1:]
			if strings.HasSuffix(name, "-dlq.fifo") || strings.HasSuffix(name, "-dlq") {
				urls = append(urls, u)
			}
		}
	}
	if len(urls) == 0 {
		ch.Status, ch.Detail = "FAIL", "no dead-letter queue named "+prefix+"…-dlq"
		ch.Fix = "is --stage right, and are the credentials of the deployment's account and Region?"
		return ch
	}
	var full []string
	for _, u := range urls {
		out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			ch.Status, ch.Detail = "FAIL", "reading "+u+": "+err.Error()
			return ch
		}
		n, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
		m, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
		if n+m > 0 {
			full = append(full, fmt.Sprintf("%s holds %d", u[strings.LastIndex(u, "/")+1:], n+m))
		}
	}
	if len(full) > 0 {
		ch.Status, ch.Detail = "FAIL", strings.Join(full, "; ")
		ch.Fix = "read them (aws sqs receive-message --queue-url …): a cluster queue's dead letters are runs the dispatcher failed on 5 times, the events one holds task events and sweep ticks EventBridge could not deliver, schedule firings EventBridge Scheduler could not deliver, and invocations the events, sweep or scheduler function failed after Lambda's retries (the message's attributes or its requestContext say which); fix the cause in the function's log, then move them back (aws sqs start-message-move-task)"
		return ch
	}
	ch.Status, ch.Detail = "ok", fmt.Sprintf("%d queues empty", len(urls))
	return ch
}

// functionErrorPattern finds, in a function's log group, Flotilla's own
// error lines (slog's "level":"ERROR") and the Lambda platform's: a
// timeout ("Task timed out after …"), a crash or panic ("Runtime exited
// with error", "Runtime.ExitError") and the REPORT line's status (Lambda
// Developer Guide, "Troubleshoot invocation issues" and "Lambda
// telemetry/REPORT" log lines). Any of the terms matches (the ?term form
// of CloudWatch Logs' filter pattern syntax).
const functionErrorPattern = `?ERROR ?"Task timed out" ?"Runtime exited" ?"Runtime.ExitError" ?"Status: timeout" ?"Status: error"`

// checkFunctionErrors reads the last hour of each function's log group
// (/flotilla/<stage>/functions/<fn>) for errors, its own and Lambda's.
func checkFunctionErrors(ctx context.Context, c *cloudwatchlogs.Client, stage string) check {
	ch := check{Name: "function errors"}
	since := time.Now().Add(-time.Hour).UnixMilli()
	var problems []string
	for _, fn := range []string{"api", "dispatcher", "events", "sweep", "scheduler", "notifier"} {
		group := functionLogGroup(stage, fn)
		// A page may be partly full or empty while more follow (CloudWatch
		// Logs API Reference, FilterLogEvents: "Partially full or empty
		// pages don't necessarily mean that pagination is finished"): read
		// on until an error shows up or the pages end.
		var found []cwltypes.FilteredLogEvent
		var err error
		pages := cloudwatchlogs.NewFilterLogEventsPaginator(c, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group),
			StartTime: aws.Int64(since), FilterPattern: aws.String(functionErrorPattern), Limit: aws.Int32(50)})
		for pages.HasMorePages() && len(found) == 0 && err == nil {
			var out *cloudwatchlogs.FilterLogEventsOutput
			if out, err = pages.NextPage(ctx); err == nil {
				found = out.Events
			}
		}
		var nf *cwltypes.ResourceNotFoundException
		switch {
		case errors.As(err, &nf):
			problems = append(problems, fmt.Sprintf("%s: no log group %s", fn, group))
			continue
		case err != nil:
			ch.Status, ch.Detail, ch.Fix = "FAIL", fmt.Sprintf("reading %s: %v", group, err), "the checks that call AWS need logs:FilterLogEvents"
			return ch
		}
		if n := len(found); n > 0 {
			first := aws.ToString(found[0].Message)
			if len(first) > 200 {
				first = first[:200] + "…"
			}
			problems = append(problems, fmt.Sprintf("%s: %d errors in the last hour, e.g. %s", fn, n, strings.TrimSpace(first)))
		}
	}
	if len(problems) > 0 {
		ch.Status, ch.Detail = "FAIL", strings.Join(problems, "; ")
		ch.Fix = "read the function's log group (/flotilla/<stage>/functions/<fn>) around those times"
		return ch
	}
	ch.Status = "ok"
	return ch
}

// functionLogGroup is where a function of the stage logs (infra/stack.go).
func functionLogGroup(stage, fn string) string { return "/flotilla/" + stage + "/functions/" + fn }
