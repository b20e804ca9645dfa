package awsfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsfake"
)

func clients(t *testing.T, ecsFake *awsfake.ECS, logsFake *awsfake.Logs, attempts int) (*ecs.Client, *cloudwatchlogs.Client) {
	t.Helper()
	cfg, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", StaticCredentials: true, MaxAttempts: attempts})
	if err != nil {
		t.Fatal(err)
	}
	var ec *ecs.Client
	var lc *cloudwatchlogs.Client
	if ecsFake != nil {
		u := awsfake.Serve(t, ecsFake)
		ec = ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = &u })
	}
	if logsFake != nil {
		u := awsfake.Serve(t, logsFake)
		lc = cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = &u })
	}
	return ec, lc
}

func register(t *testing.T, c *ecs.Client) string {
	t.Helper()
	out, err := c.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("flotilla-def_1"), Cpu: aws.String("256"), Memory: aws.String("512"), NetworkMode: types.NetworkModeAwsvpc,
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("job"), Image: aws.String("alpine:3"),
			LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
				"awslogs-group": "/g", "awslogs-stream-prefix": "p", "awslogs-region": "us-east-1"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

func runTask(t *testing.T, c *ecs.Client, td, startedBy, command string) types.Task {
	t.Helper()
	out, err := c.RunTask(context.Background(), &ecs.RunTaskInput{
		Cluster: aws.String("jobs"), TaskDefinition: aws.String(td), StartedBy: aws.String(startedBy), ClientToken: aws.String(startedBy + "#1"),
		LaunchType:           types.LaunchTypeFargate,
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-a"}}},
		Overrides:            &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("job"), Command: []string{"sh", "-c", command}}}},
	})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask = %+v, %v", out, err)
	}
	return out.Tasks[0]
}

type event struct {
	Version    string   `json:"version"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Time       string   `json:"time"`
	Resources  []string `json:"resources"`
	Detail     struct {
		TaskArn, LastStatus, DesiredStatus, StopCode, StoppedReason, StartedBy, CreatedAt, StoppedAt string
		Version                                                                                      int64
		Containers                                                                                   []struct {
			Name     string
			ExitCode *int
			Reason   string
		}
	} `json:"detail"`
}

func events(t *testing.T, f *awsfake.ECS, startedBy string) []event {
	t.Helper()
	var out []event
	for _, b := range f.Events() {
		var ev event
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Detail.StartedBy == startedBy {
			out = append(out, ev)
		}
	}
	return out
}

func TestECSTaskLives(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		command  string
		life     awsfake.Life
		stop     bool
		statuses []string
		stopCode string
		exit     *int
		reason   string
		logs     []string
	}{
		{"exit code from the command", "echo hi; sleep 1; echo there; exit 3", awsfake.Life{}, false,
			[]string{"PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED"}, "EssentialContainerExited", awsfake.Exit(3), "", []string{"hi", "there"}},
		{"scripted exit and lines", "true", awsfake.Life{ExitCode: awsfake.Exit(0), Logs: []string{"a", "b"}}, false,
			[]string{"PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED"}, "EssentialContainerExited", awsfake.Exit(0), "", []string{"a", "b"}},
		{"out of memory", "echo x", awsfake.Life{OOM: true}, false,
			[]string{"PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED"}, "EssentialContainerExited", awsfake.Exit(137), "OutOfMemoryError: Container killed due to memory usage", []string{"x"}},
		{"failed to start", "echo x", awsfake.Life{FailToStart: "Timeout waiting for network interface provisioning to complete."}, false,
			[]string{"PROVISIONING", "STOPPED"}, "TaskFailedToStart", nil, "", nil},
		{"image pull error", "echo x", awsfake.Life{PullError: "pull access denied"}, false,
			[]string{"PROVISIONING", "PENDING", "STOPPED"}, "TaskFailedToStart", nil, "CannotPullContainerError: pull access denied", nil},
		{"spot interruption", "echo x", awsfake.Life{SpotInterruption: true}, false,
			[]string{"PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED"}, "SpotInterruption", awsfake.Exit(143), "", []string{"x"}},
		{"held and stopped", "echo x", awsfake.Life{Hold: true}, true,
			[]string{"PROVISIONING", "PENDING", "RUNNING", "RUNNING", "DEPROVISIONING", "STOPPED"}, "UserInitiated", awsfake.Exit(143), "", []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := awsfake.NewLogs(awsfake.LogsOptions{})
			f := awsfake.NewECS(awsfake.ECSOptions{Logs: logs})
			c, _ := clients(t, f, nil, 1)
			td := register(t, c)
			f.SetScript("run_1", awsfake.Script{Lives: []awsfake.Life{tt.life}})
			task := runTask(t, c, td, "run_1", tt.command)
			f.Settle()
			if tt.stop {
				if _, err := c.StopTask(context.Background(), &ecs.StopTaskInput{Cluster: aws.String("jobs"), Task: task.TaskArn, Reason: aws.String("by ada")}); err != nil {
					t.Fatal(err)
				}
				f.Settle()
			}
			evs := events(t, f, "run_1")
			var statuses []string
			for i, ev := range evs {
				statuses = append(statuses, ev.Detail.LastStatus)
				if ev.Detail.Version != int64(i+1) || ev.Version != "0" || ev.Source != "aws.ecs" || ev.DetailType != "ECS Task State Change" ||
					ev.Resources[0] != ev.Detail.TaskArn {
					t.Fatalf("event %d: %+v", i, ev)
				}
				if _, err := time.Parse(time.RFC3339Nano, ev.Detail.CreatedAt); err != nil {
					t.Fatalf("createdAt %q is not ISO-8601", ev.Detail.CreatedAt)
				}
			}
			if !slices.Equal(statuses, tt.statuses) {
				t.Fatalf("statuses %v, want %v", statuses, tt.statuses)
			}
			last := evs[len(evs)-1].Detail
			if last.StopCode != tt.stopCode {
				t.Fatalf("stopCode %q, want %q", last.StopCode, tt.stopCode)
			}
			if tt.life.FailToStart != "" {
				if len(last.Containers) != 0 || last.StoppedReason != tt.life.FailToStart {
					t.Fatalf("failed to start: %+v", last)
				}
			} else {
				c := last.Containers[0]
				if (c.ExitCode == nil) != (tt.exit == nil) || (c.ExitCode != nil && *c.ExitCode != *tt.exit) || c.Reason != tt.reason {
					t.Fatalf("container %+v, want exit %v reason %q", c, tt.exit, tt.reason)
				}
			}
			// DescribeTasks agrees with the last event, with epoch times.
			out, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String("jobs"), Tasks: []string{aws.ToString(task.TaskArn)}})
			if err != nil || len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].LastStatus) != "STOPPED" || out.Tasks[0].Version != last.Version ||
				out.Tasks[0].StoppedAt == nil {
				t.Fatalf("DescribeTasks = %+v, %v", out, err)
			}
			id := task.TaskArn
			lines := logs.Lines("/g", "p/job/"+(*id)[len(*id)-32:])
			if !slices.Equal(lines, tt.logs) {
				t.Fatalf("log lines %q, want %q", lines, tt.logs)
			}
		})
	}
}

func TestECSIdempotency(t *testing.T) {
	t.Parallel()
	f := awsfake.NewECS(awsfake.ECSOptions{})
	c, _ := clients(t, f, nil, 1)
	td := register(t, c)
	a := runTask(t, c, td, "run_1", "echo a")
	b := runTask(t, c, td, "run_1", "echo a")
	if aws.ToString(a.TaskArn) != aws.ToString(b.TaskArn) || len(f.TasksStarted("run_1")) != 1 || f.RunTaskCalls("run_1") != 2 {
		t.Fatalf("same token gave %s and %s", aws.ToString(a.TaskArn), aws.ToString(b.TaskArn))
	}
	_, err := c.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String("jobs"), TaskDefinition: aws.String(td),
		StartedBy: aws.String("run_1"), ClientToken: aws.String("run_1#1"), LaunchType: types.LaunchTypeEc2})
	var conflict *types.ConflictException
	if !errors.As(err, &conflict) || !slices.Equal(conflict.ResourceIds, []string{aws.ToString(a.TaskArn)}) {
		t.Fatalf("changed parameters = %v, want ConflictException naming %s", err, aws.ToString(a.TaskArn))
	}
	f.Forget((*a.TaskArn)[len(*a.TaskArn)-32:])
	out, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String("jobs"), Tasks: []string{aws.ToString(a.TaskArn)}})
	if err != nil || len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Fatalf("forgotten task: %+v, %v", out, err)
	}
}

func TestECSScriptedReplies(t *testing.T) {
	t.Parallel()
	f := awsfake.NewECS(awsfake.ECSOptions{Script: func(l awsfake.Launch) awsfake.Script {
		if l.StartedBy == "run_busy" {
			return awsfake.Script{Replies: []awsfake.Reply{awsfake.Throttle(), awsfake.ServerError(), awsfake.Fail("RESOURCE:CPU", "")}}
		}
		return awsfake.Script{}
	}})
	c, _ := clients(t, f, nil, 1) // no retries: every reply shows
	td := register(t, c)
	in := &ecs.RunTaskInput{Cluster: aws.String("jobs"), TaskDefinition: aws.String(td), StartedBy: aws.String("run_busy"), LaunchType: types.LaunchTypeEc2}
	var api smithy.APIError
	if _, err := c.RunTask(context.Background(), in); !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" {
		t.Fatalf("1st = %v", err)
	}
	if _, err := c.RunTask(context.Background(), in); !errors.As(err, &api) || api.ErrorCode() != "ServerException" {
		t.Fatalf("2nd = %v", err)
	}
	out, err := c.RunTask(context.Background(), in)
	if err != nil || len(out.Tasks) != 0 || aws.ToString(out.Failures[0].Reason) != "RESOURCE:CPU" {
		t.Fatalf("3rd = %+v, %v", out, err)
	}
	if out, err := c.RunTask(context.Background(), in); err != nil || len(out.Tasks) != 1 {
		t.Fatalf("4th = %+v, %v", out, err)
	}
	if n := f.RunTaskCalls("run_busy"); n != 4 {
		t.Fatalf("%d calls counted", n)
	}
}

func TestFaultsAreSeeded(t *testing.T) {
	t.Parallel()
	counts := func() map[string]int {
		f := awsfake.NewECS(awsfake.ECSOptions{Faults: awsfake.Faults{Rate: 0.3, Seed: 99}})
		c, _ := clients(t, f, nil, 1)
		for range 50 {
			_, _ = c.ListTasks(context.Background(), &ecs.ListTasksInput{Cluster: aws.String("jobs")})
		}
		return f.FaultsInjected()
	}
	a, b := counts(), counts()
	if a["ListTasks"] == 0 || a["ListTasks"] != b["ListTasks"] {
		t.Fatalf("faults %v then %v", a, b)
	}
}

func TestLogsForwardTokens(t *testing.T) {
	t.Parallel()
	l := awsfake.NewLogs(awsfake.LogsOptions{})
	_, c := clients(t, nil, l, 1)
	ctx := context.Background()
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/g")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/g"), LogStreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	var exists *logtypes.ResourceAlreadyExistsException
	if _, err := c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/g"), LogStreamName: aws.String("s")}); !errors.As(err, &exists) {
		t.Fatalf("second CreateLogStream = %v", err)
	}
	var missing *logtypes.ResourceNotFoundException
	if _, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("/g"), LogStreamName: aws.String("nope"),
		LogEvents: []logtypes.InputLogEvent{{Timestamp: aws.Int64(1), Message: aws.String("x")}}}); !errors.As(err, &missing) {
		t.Fatalf("PutLogEvents to a missing stream = %v", err)
	}
	var in []logtypes.InputLogEvent
	for i, m := range []string{"a", "b", "c"} {
		in = append(in, logtypes.InputLogEvent{Timestamp: aws.Int64(int64(1000 + i)), Message: aws.String(m)})
	}
	if _, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("/g"), LogStreamName: aws.String("s"), LogEvents: in}); err != nil {
		t.Fatal(err)
	}
	get := func(tok *string, head bool, limit int32) *cloudwatchlogs.GetLogEventsOutput {
		out, err := c.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/g"), LogStreamName: aws.String("s"),
			NextToken: tok, StartFromHead: aws.Bool(head), Limit: aws.Int32(limit)})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	p1 := get(nil, true, 2)
	p2 := get(p1.NextForwardToken, true, 2)
	p3 := get(p2.NextForwardToken, true, 2)
	if len(p1.Events) != 2 || len(p2.Events) != 1 || len(p3.Events) != 0 || aws.ToString(p3.NextForwardToken) != aws.ToString(p2.NextForwardToken) {
		t.Fatalf("forward pages: %d, %d, %d events; end token %q vs %q", len(p1.Events), len(p2.Events), len(p3.Events),
			aws.ToString(p3.NextForwardToken), aws.ToString(p2.NextForwardToken))
	}
	back := get(nil, false, 2)
	if len(back.Events) != 2 || aws.ToString(back.Events[0].Message) != "b" || aws.ToString(back.Events[1].Message) != "c" {
		t.Fatalf("newest page = %+v", back.Events)
	}
	if _, err := c.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/g"), LogStreamName: aws.String("s"),
		NextToken: p1.NextForwardToken}); err == nil {
		t.Fatal("a forward token without startFromHead was accepted")
	}
}

func TestLogsFilterLogEvents(t *testing.T) {
	t.Parallel()
	l := awsfake.NewLogs(awsfake.LogsOptions{FilterLogEventsTPS: 5})
	_, c := clients(t, nil, l, 1)
	at := time.UnixMilli(5000)
	l.Write("/g", "p/job/t1", at, "alpha", "beta")
	l.Write("/g", "p/job/t2", at.Add(time.Second), "alphabet")
	l.Write("/g", "other", at, "alpha elsewhere")
	ctx := context.Background()
	out, err := c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/g"), LogStreamNamePrefix: aws.String("p/job/"),
		FilterPattern: aws.String(`"alpha"`), Limit: aws.Int32(1)})
	if err != nil || len(out.Events) != 1 || aws.ToString(out.Events[0].Message) != "alpha" || out.NextToken == nil {
		t.Fatalf("page 1 = %+v, %v", out, err)
	}
	out, err = c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/g"), LogStreamNamePrefix: aws.String("p/job/"),
		FilterPattern: aws.String(`"alpha"`), NextToken: out.NextToken})
	if err != nil || len(out.Events) != 1 || aws.ToString(out.Events[0].Message) != "alphabet" || out.NextToken != nil {
		t.Fatalf("page 2 = %+v, %v", out, err)
	}
	throttled := false
	for range 10 {
		_, err := c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/g")})
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "ThrottlingException" {
			throttled = true
		}
	}
	if !throttled {
		t.Fatal("12 FilterLogEvents in a second were not throttled at 5 TPS")
	}
}
