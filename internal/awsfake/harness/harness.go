// Package harness wires the AWS Executor and LogReader to the in-repo ECS
// and CloudWatch Logs fakes, for the conformance suites that both adapters
// run.
package harness

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsecs"
	"github.com/flotilla-run/flotilla/internal/awsevents"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/awslogs"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

// ExecutorAndLogs wires the ECS Executor and the LogReader to the fakes, with the ECS
// fake's EventBridge events decoded as the events function does.
func ExecutorAndLogs(t *testing.T, faults awsfake.Faults) flotillatest.ExecutorHarness {
	t.Helper()
	logs := awsfake.NewLogs(awsfake.LogsOptions{Faults: faults, EmptyPages: 1})
	fake := awsfake.NewECS(awsfake.ECSOptions{Auto: true, StepDelay: 10 * time.Millisecond, Logs: logs, Faults: faults})
	ecsURL, logsURL := awsfake.Serve(t, fake), awsfake.Serve(t, logs)
	cfg, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", StaticCredentials: true, Counter: awsclient.NewCounter()})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := awsecs.New(ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = &ecsURL }), awsecs.Config{
		Cluster: "default", Subnets: []string{"subnet-a"}, SecurityGroups: []string{"sg-1"}, LogGroup: "/flotilla/runs",
	})
	if err != nil {
		t.Fatal(err)
	}
	reader := awslogs.New(cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = &logsURL }),
		awslogs.Config{LogGroup: "/flotilla/runs"})
	events := make(chan flotilla.TaskEvent, 4096)
	fake.Subscribe(func(b []byte) {
		if ev, err := (awsevents.Decoder{}).Decode(b); err == nil {
			events <- ev
		}
	})
	return flotillatest.ExecutorHarness{Executor: exec, Logs: reader, Events: events}
}
