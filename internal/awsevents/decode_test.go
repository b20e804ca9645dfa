package awsevents_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/awsevents"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

const runID = "run_01JDQ6Z3Y8K4M2N5P7R9T1V3W5"

func load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func code(n int) *int { return &n }

func TestDecode(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	tests := []struct {
		file string
		want flotilla.TaskEvent
		// outcome is what the run becomes (attempt 1 of 3, 1024 MiB).
		outcome flotilla.RunStatus
		retry   bool
	}{
		{"provisioning", flotilla.TaskEvent{State: flotilla.TaskPending, Version: 1, At: at("2026-11-26T12:00:01.402Z")}, "", false},
		{"pending", flotilla.TaskEvent{State: flotilla.TaskPending, Version: 2, At: at("2026-11-26T12:00:06.103Z")}, "", false},
		{"running", flotilla.TaskEvent{State: flotilla.TaskRunning, Version: 3, At: at("2026-11-26T12:00:14.103Z")}, "", false},
		{"deprovisioning", flotilla.TaskEvent{State: flotilla.TaskRunning, Version: 4, At: at("2026-11-26T12:00:14.103Z"), ExitCode: code(0),
			StopCode: "EssentialContainerExited", StoppedReason: "Essential container in task exited"}, "", false},
		{"stopped-exit0", flotilla.TaskEvent{State: flotilla.TaskStopped, Version: 5, At: at("2026-11-26T12:03:31.517Z"), ExitCode: code(0),
			StopCode: "EssentialContainerExited", StoppedReason: "Essential container in task exited"}, flotilla.StatusSucceeded, false},
		{"stopped-exit2", flotilla.TaskEvent{State: flotilla.TaskStopped, Version: 5, At: at("2026-11-26T12:03:31.517Z"), ExitCode: code(2),
			StopCode: "EssentialContainerExited", StoppedReason: "Essential container in task exited"}, flotilla.StatusFailed, false},
		{"stopped-oom", flotilla.TaskEvent{State: flotilla.TaskStopped, Version: 5, At: at("2026-11-26T12:03:31.517Z"), ExitCode: code(137),
			StopCode: "EssentialContainerExited", StoppedReason: "Essential container in task exited",
			ContainerReason: "OutOfMemoryError: Container killed due to memory usage", OOM: true}, flotilla.StatusFailed, false},
		{"stopped-failed-to-start", flotilla.TaskEvent{State: flotilla.TaskStopped, Version: 3, At: at("2026-11-26T12:31:02Z"),
			StopCode: "TaskFailedToStart", StoppedReason: "Timeout waiting for network interface provisioning to complete."}, flotilla.StatusQueued, true},
		{"stopped-spot", flotilla.TaskEvent{State: flotilla.TaskStopped, Version: 5, At: at("2026-11-26T12:03:31.517Z"),
			StopCode: "SpotInterruption", StoppedReason: "Your Spot Task was interrupted."}, flotilla.StatusQueued, true},
		{"stopped-pull-error", flotilla.TaskEvent{State: flotilla.TaskStopped, Version: 4, At: at("2026-11-26T12:00:40Z"),
			StopCode: "TaskFailedToStart", StoppedReason: pullErr, ContainerReason: pullErr}, flotilla.StatusFailed, false},
		{"stopped-user", flotilla.TaskEvent{State: flotilla.TaskStopped, Version: 6, At: at("2026-11-26T12:03:31.517Z"), ExitCode: code(143),
			StopCode: "UserInitiated", StoppedReason: "stopped by ada@example.com"}, flotilla.StatusStopped, false}, // outside Flotilla: no stop request
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := awsevents.Decoder{}.Decode(load(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.RunID, want.Attempt, want.TaskID, want.Cluster = runID, 1, "c13b4cb40f1f4fe4a2971f76ae5a47ad", "flotilla-jobs"
			if tt.file != "stopped-failed-to-start" { // its task never got a container
				want.Container = "job"
			}
			// What the task ran on: the capacity provider when the event
			// names one (Spot), else the launch type.
			want.Capacity = "FARGATE"
			if tt.file == "stopped-spot" {
				want.Capacity = "FARGATE_SPOT"
			}
			if !equal(got, want) {
				t.Fatalf("Decode(%s)\n got %+v\nwant %+v", tt.file, show(got), show(want))
			}
			if got.State != flotilla.TaskStopped {
				return
			}
			run := flotilla.Run{ID: runID, Image: "python:3.12-slim", Memory: 1024, Attempt: 1, MaxAttempts: 3}
			out := flotilla.DecideOutcome(run, got)
			if out.To != tt.outcome || out.Retry != tt.retry {
				t.Fatalf("outcome = %+v, want %s (retry %v)", out, tt.outcome, tt.retry)
			}
		})
	}
}

const pullErr = "CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref docker.io/library/pyhton:3.12-slim: docker.io/library/pyhton:3.12-slim: not found"

type shown struct {
	flotilla.TaskEvent
	Exit any
}

func show(e flotilla.TaskEvent) shown {
	s := shown{TaskEvent: e, Exit: nil}
	if e.ExitCode != nil {
		s.Exit = *e.ExitCode
	}
	s.ExitCode = nil
	return s
}

func equal(a, b flotilla.TaskEvent) bool {
	if (a.ExitCode == nil) != (b.ExitCode == nil) || (a.ExitCode != nil && *a.ExitCode != *b.ExitCode) {
		return false
	}
	a.ExitCode, b.ExitCode = nil, nil
	return a.At.Equal(b.At) && func() bool { a.At, b.At = time.Time{}, time.Time{}; return a == b }()
}

func TestDecodeIgnoresOthers(t *testing.T) {
	t.Parallel()
	if _, err := (awsevents.Decoder{}).Decode(load(t, "not-ours")); !errors.Is(err, awsevents.ErrIgnored) {
		t.Fatalf("not-ours: %v, want ErrIgnored", err)
	}
	other := []byte(`{"version":"0","source":"aws.ecs","detail-type":"ECS Container Instance State Change","detail":{}}`)
	if _, err := (awsevents.Decoder{}).Decode(other); !errors.Is(err, awsevents.ErrIgnored) {
		t.Fatalf("container instance event: %v, want ErrIgnored", err)
	}
	for _, bad := range []string{`{`, `{"source":"aws.ecs","detail-type":"ECS Task State Change"}`,
		`{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{"startedBy":"run_x"}}`} {
		if _, err := (awsevents.Decoder{}).Decode([]byte(bad)); !errors.Is(err, flotilla.ErrInvalid) {
			t.Fatalf("Decode(%s) = %v, want ErrInvalid", bad, err)
		}
	}
}

// Duplicate and reversed events: a consumer that applies an event only
// when its version is higher than the last one applied ends in the state
// of the highest version, whatever the order of arrival.
func TestDuplicateAndReversedVersions(t *testing.T) {
	t.Parallel()
	orders := [][]string{
		{"provisioning", "pending", "running", "running-duplicate", "stopped-exit0"},
		{"stopped-exit0", "running", "pending", "running-duplicate", "provisioning"},
		{"running-duplicate", "provisioning", "stopped-exit0", "running", "deprovisioning", "pending"},
	}
	for _, order := range orders {
		var last flotilla.TaskEvent
		applied := 0
		for _, name := range order {
			ev, err := awsevents.Decoder{}.Decode(load(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Version > last.Version {
				last = ev
				applied++
			}
		}
		if last.State != flotilla.TaskStopped || last.Version != 5 || *last.ExitCode != 0 {
			t.Fatalf("order %v ended in %+v", order, show(last))
		}
	}
	a, _ := awsevents.Decoder{}.Decode(load(t, "running"))
	b, _ := awsevents.Decoder{}.Decode(load(t, "running-duplicate"))
	if !equal(a, b) {
		t.Fatalf("a duplicate decodes differently: %+v vs %+v", show(a), show(b))
	}
}

func TestDecodeUnknownAttempt(t *testing.T) {
	t.Parallel()
	b := []byte(`{"source":"aws.ecs","detail-type":"ECS Task State Change","time":"2026-11-26T12:00:00Z",
		"detail":{"taskArn":"arn:aws:ecs:us-east-1:1:task/c/abc","startedBy":"run_1","group":"family:x","lastStatus":"PENDING","version":2}}`)
	ev, err := awsevents.Decoder{}.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Attempt != 0 || ev.TaskID != "abc" || !ev.At.Equal(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %+v", show(ev))
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := awsevents.Decoder{}.Decode(b)
		if err != nil {
			if !errors.Is(err, flotilla.ErrInvalid) && !errors.Is(err, awsevents.ErrIgnored) {
				t.Fatalf("error %v is neither ErrInvalid nor ErrIgnored", err)
			}
			return
		}
		if ev.RunID == "" || (ev.State != flotilla.TaskPending && ev.State != flotilla.TaskRunning && ev.State != flotilla.TaskStopped) {
			t.Fatalf("decoded %+v without a run id or state", ev)
		}
	})
}

func TestDecodeMapsClusters(t *testing.T) {
	t.Parallel()
	ev, err := awsevents.Decoder{Clusters: map[string]string{"flotilla-jobs": "default"}}.Decode(load(t, "running"))
	if err != nil || ev.Cluster != "default" {
		t.Fatalf("Decode = %+v, %v; want cluster default", show(ev), err)
	}
}
