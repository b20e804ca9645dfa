package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb/ddbtest"
	"github.com/flotilla-run/flotilla/internal/awsevents"
	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
	"github.com/flotilla-run/flotilla/internal/runs"
)

// The task state changes written from AWS's stopped-task documentation,
// through the function's entry point (handleEvent) onto a run in the
// DynamoDB store on the emulator: each ends the run as flotilla.StopRules
// says, or queues its next attempt.
func TestStopShapesThroughTheFunction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file   string
		status flotilla.RunStatus
		code   flotilla.ReasonCode // of the end; "" for a retry
		exit   *int
	}{
		{"stopped-sidecar-app.json", flotilla.StatusFailed, flotilla.ReasonExitCode, ptr(1)},
		{"stopped-sidecar-job.json", flotilla.StatusFailed, flotilla.ReasonExitCode, ptr(1)},
		{"stopped-secret-missing.json", flotilla.StatusFailed, flotilla.ReasonCouldNotStart, nil},
		{"stopped-secrets-unreachable.json", flotilla.StatusQueued, "", nil},
		{"stopped-no-shell.json", flotilla.StatusFailed, flotilla.ReasonCouldNotStart, nil},
		{"stopped-pull-throttled.json", flotilla.StatusQueued, "", nil},
		{"stopped-pull-denied.json", flotilla.StatusFailed, flotilla.ReasonImagePull, nil},
		{"stopped-pull-error.json", flotilla.StatusFailed, flotilla.ReasonImagePull, nil},
		{"stopped-host-terminated.json", flotilla.StatusQueued, "", nil},
		{"stopped-capacity.json", flotilla.StatusQueued, "", nil},
		{"stopped-spot.json", flotilla.StatusQueued, "", nil},
		{"stopped-oom.json", flotilla.StatusFailed, flotilla.ReasonOutOfMemory, ptr(137)},
		{"stopped-user.json", flotilla.StatusStopped, flotilla.ReasonStopped, ptr(143)},
		{"stopped-exit2.json", flotilla.StatusFailed, flotilla.ReasonExitCode, ptr(2)},
		{"stopped-exit0.json", flotilla.StatusSucceeded, flotilla.ReasonSucceeded, ptr(0)},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			svc, store := stack(t)
			raw := payload(t, tt.file)
			ev, err := awsevents.Decoder{}.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			// The run the event is about, dispatched to that task.
			r := flotillatest.NewRun("flotilla-jobs", "ann", 0)
			r.ID, r.Memory, r.MaxAttempts = ev.RunID, 1024, 3
			ctx := context.Background()
			if _, _, err := store.CreateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
			if _, err := store.TransitionRun(ctx, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusQueued},
				To: flotilla.StatusPending, At: time.Now(), Source: flotilla.SourceDispatcher, MaxRunning: 10, TaskID: ev.TaskID}); err != nil {
				t.Fatal(err)
			}
			if err := handleEvent(ctx, slog.New(slog.DiscardHandler), raw, awsevents.Decoder{}.Decode, svc.Reconcile); err != nil {
				t.Fatalf("handleEvent: %v", err)
			}
			got, err := store.GetRun(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.status {
				t.Fatalf("run %s (%s), want %s", got.Status, got.StatusReason, tt.status)
			}
			if tt.status == flotilla.StatusQueued {
				if got.Attempt != 2 || !strings.Contains(got.StatusReason, "retrying") {
					t.Errorf("retry: attempt %d, %q; want attempt 2 retrying", got.Attempt, got.StatusReason)
				}
				return
			}
			if got.ReasonCode != tt.code || (tt.exit == nil) != (got.ExitCode == nil) || (tt.exit != nil && *got.ExitCode != *tt.exit) {
				t.Errorf("ended %s %v (%s), want %s exit %v", got.ReasonCode, got.ExitCode, got.StatusReason, tt.code, tt.exit)
			}
			u, err := store.ClusterUsage(ctx, "flotilla-jobs")
			if err != nil || u.Running != 0 {
				t.Errorf("slots held after the end: %+v, %v", u, err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// stack is the events function's world: the DynamoDB store on minidyn
// (production writes, ddbtest mends minidyn's REMOVE) and a queue for
// retries.
func stack(t *testing.T) (*runs.Service, *awsdynamodb.Store) {
	t.Helper()
	ctx := context.Background()
	srv := httptest.NewServer(ddbtest.New())
	t.Cleanup(srv.Close)
	cfg, err := awsclient.Load(ctx, awsclient.Options{Region: "us-east-1", StaticCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.DisableValidateResponseChecksum = true
	})
	if err := awsdynamodb.CreateTable(ctx, db, "flotilla-events"); err != nil {
		t.Fatal(err)
	}
	store := awsdynamodb.New(db, "flotilla-events", awsdynamodb.Options{})
	sqlite, err := embedded.OpenDB(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlite.Close() })
	return &runs.Service{Store: store, Queue: embedded.NewQueue(sqlite, []string{"flotilla-jobs"}, time.Second),
		Clusters: map[string]flotilla.Cluster{"flotilla-jobs": {Name: "flotilla-jobs", MaxRunning: 10}}, DefaultCluster: "flotilla-jobs"}, store
}
