package awsevents_test

import (
	"strings"
	"testing"

	"github.com/flotilla-run/flotilla/internal/awsevents"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestStopShapesEndAsTheTableSays: task state changes written from AWS's
// documentation of stopped-task errors (see flotilla.StopRules), decoded and
// decided. A run with a stop request is not among them: every one of these
// ended on its own or from outside Flotilla.
func TestStopShapesEndAsTheTableSays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file   string
		to     flotilla.RunStatus
		code   flotilla.ReasonCode
		retry  bool
		reason string // a part of the plain reason
	}{
		// The job's container is not named job (a task definition made
		// elsewhere) and a sidecar ran beside it: the essential container
		// that exited non-zero is the job's; nothing is retried.
		{"stopped-sidecar-app", flotilla.StatusFailed, flotilla.ReasonExitCode, false, "exit code 1 (container app)"},
		// The job exited 1 beside a sidecar killed with 137: the job's code.
		{"stopped-sidecar-job", flotilla.StatusFailed, flotilla.ReasonExitCode, false, "exit code 1"},
		{"stopped-secret-missing", flotilla.StatusFailed, flotilla.ReasonCouldNotStart, false, "a secret the definition references does not exist"},
		{"stopped-secrets-unreachable", flotilla.StatusQueued, flotilla.ReasonCouldNotStart, true, "could not reach SSM, Secrets Manager"},
		{"stopped-no-shell", flotilla.StatusFailed, flotilla.ReasonCouldNotStart, false, "have /bin/sh?"},
		{"stopped-pull-throttled", flotilla.StatusQueued, flotilla.ReasonImagePull, true, "the registry throttled the pull"},
		{"stopped-pull-denied", flotilla.StatusFailed, flotilla.ReasonImagePull, false, "not allowed to pull image"},
		{"stopped-pull-error", flotilla.StatusFailed, flotilla.ReasonImagePull, false, "was not found"},
		{"stopped-host-terminated", flotilla.StatusQueued, flotilla.ReasonCouldNotStart, true, "the host running the task went away"},
		{"stopped-capacity", flotilla.StatusQueued, flotilla.ReasonCouldNotStart, true, "ECS had no capacity"},
		{"stopped-failed-to-start", flotilla.StatusQueued, flotilla.ReasonCouldNotStart, true, "network interface was not provisioned"},
		{"stopped-spot", flotilla.StatusQueued, flotilla.ReasonCouldNotStart, true, "Fargate Spot reclaimed"},
		{"stopped-oom", flotilla.StatusFailed, flotilla.ReasonOutOfMemory, false, "out of memory (limit 1024 MiB)"},
		{"stopped-user", flotilla.StatusStopped, flotilla.ReasonStopped, false, "stopped outside Flotilla (ECS console or API)"},
		{"stopped-exit2", flotilla.StatusFailed, flotilla.ReasonExitCode, false, "exit code 2"},
		{"stopped-exit0", flotilla.StatusSucceeded, flotilla.ReasonSucceeded, false, "exited with code 0"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			ev, err := awsevents.Decoder{}.Decode(load(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if ev.State != flotilla.TaskStopped {
				t.Fatalf("state %s, want STOPPED", ev.State)
			}
			run := flotilla.Run{ID: ev.RunID, Image: "python:3.12-slim", Memory: 1024, Attempt: 1, MaxAttempts: 3}
			out := flotilla.DecideOutcome(run, ev)
			if out.To != tt.to || out.Code != tt.code || out.Retry != tt.retry || !strings.Contains(out.Reason, tt.reason) {
				t.Errorf("outcome %+v, want %s %s retry=%v with %q", out, tt.to, tt.code, tt.retry, tt.reason)
			}
			// On the last attempt a retried shape fails for good, saying why.
			run.Attempt = 3
			if last := flotilla.DecideOutcome(run, ev); tt.retry && (last.To != flotilla.StatusFailed || last.Code != flotilla.ReasonRetriesExhausted) {
				t.Errorf("last attempt: %+v, want FAILED retries_exhausted", last)
			}
		})
	}
}

// TestEveryStopRuleIsExercised keeps the table and its tests together: a
// rule no shape reaches is dead or untested.
func TestEveryStopRuleIsExercised(t *testing.T) {
	t.Parallel()
	files := []string{"stopped-sidecar-app", "stopped-secret-missing", "stopped-secrets-unreachable",
		"stopped-no-shell", "stopped-pull-throttled", "stopped-pull-denied", "stopped-pull-error",
		"stopped-host-terminated", "stopped-capacity", "stopped-failed-to-start", "stopped-spot",
		"stopped-oom", "stopped-user", "stopped-exit2", "stopped-exit0"}
	hit := map[string]bool{}
	for _, f := range files {
		ev, err := awsevents.Decoder{}.Decode(load(t, f))
		if err != nil {
			t.Fatal(err)
		}
		run := flotilla.Run{ID: ev.RunID, Image: "x", Memory: 512, Attempt: 1, MaxAttempts: 3}
		reason := ev.ContainerReason
		if reason == "" {
			reason = ev.StoppedReason
		}
		for _, rule := range flotilla.StopRules {
			if rule.Matches(run, ev, reason) {
				hit[rule.Kind] = true
				break
			}
		}
	}
	// Reached by the domain's own tests (no ECS event has them): a stop
	// request, a lost task, pulls that fail transiently or with other
	// messages, a container that ran without a known job container,
	// and the catch-all.
	for _, k := range []string{"stop requested", "lost by the engine", "image pull failed", "a container ran and exited",
		"secret access denied", "failed to start"} {
		hit[k] = true
	}
	for _, rule := range flotilla.StopRules {
		if !hit[rule.Kind] {
			t.Errorf("no shape reaches the rule %q", rule.Kind)
		}
	}
}
