package flotilla

import (
	"fmt"
	"strings"
	"time"
)

// TaskState is the engine's view of a run's task.
type TaskState string

// The task states every engine reports.
const (
	TaskPending TaskState = "PENDING"
	TaskRunning TaskState = "RUNNING"
	TaskStopped TaskState = "STOPPED"
)

// Stop codes, in ECS's vocabulary; the local executor reports the same ones.
const (
	StopCodeTaskFailedToStart        = "TaskFailedToStart"
	StopCodeEssentialContainerExited = "EssentialContainerExited"
	StopCodeUserInitiated            = "UserInitiated"
	StopCodeSpotInterruption         = "SpotInterruption"
	StopCodeTerminationNotice        = "TerminationNotice"
	StopCodeServiceSchedulerInit     = "ServiceSchedulerInitiated"
	// StopCodeLost is Flotilla's own: the engine lost the task (the local
	// server died under it, or ECS forgot it before its end was seen).
	StopCodeLost = "Lost"
)

// TaskEvent is an engine's report of a task's state: an EventBridge ECS
// "Task State Change", a DescribeTasks answer, or the local executor's
// notice. Events may come more than once and out of order.
type TaskEvent struct {
	RunID string
	// Attempt is the run attempt the task belongs to, when the engine knows
	// it; otherwise TaskID is matched against the run's current attempt.
	Attempt int
	TaskID  string
	Cluster string
	State   TaskState
	// Version orders events of one task (ECS detail.version); 0 if unknown.
	Version int64
	At      time.Time
	// ExitCode is the essential container's exit code, when it exited.
	ExitCode        *int
	StopCode        string
	StoppedReason   string
	ContainerReason string
	// OOM is set when the engine knows the container ran out of memory.
	OOM bool
}

// Outcome is what a stopped task means for its run.
type Outcome struct {
	To       RunStatus
	Code     ReasonCode
	Reason   string
	ExitCode *int
	// Retry means the run goes back to QUEUED as a new attempt.
	Retry bool
}

// DecideOutcome maps a stopped task to the run's next status, a reason code
// and plain words. Infrastructure failures are retried while attempts remain.
func DecideOutcome(r Run, ev TaskEvent) Outcome {
	// A stop that was asked for while the job was already ending on its own
	// does not rewrite its end: the engine says which came first. ECS
	// reports stopCode UserInitiated for a task ended by StopTask and
	// EssentialContainerExited for one whose container exited by itself
	// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html,
	// "stopCode"); the local executor reports the same codes.
	ownEnd := ev.StopCode == StopCodeEssentialContainerExited && ev.ExitCode != nil
	if sr := r.StopRequest; sr != nil && !ownEnd {
		to := StatusStopped
		if sr.Code != ReasonStopped {
			to = StatusFailed
		}
		return Outcome{To: to, Code: sr.Code, Reason: sr.Reason, ExitCode: ev.ExitCode}
	}
	reason := firstNonEmpty(ev.ContainerReason, ev.StoppedReason)
	switch {
	case ev.StopCode == StopCodeLost:
		return Outcome{To: StatusFailed, Code: ReasonLost, Reason: firstNonEmpty(reason, "the engine lost the task")}
	case ev.OOM || strings.HasPrefix(ev.ContainerReason, "OutOfMemoryError") || strings.HasPrefix(ev.StoppedReason, "OutOfMemoryError"):
		return Outcome{To: StatusFailed, Code: ReasonOutOfMemory, ExitCode: ev.ExitCode,
			Reason: fmt.Sprintf("out of memory (limit %d MiB)", r.Memory)}
	case ev.StopCode == StopCodeSpotInterruption || ev.StopCode == StopCodeTerminationNotice:
		return retryOrFail(r, ReasonCouldNotStart, "the engine reclaimed its capacity ("+firstNonEmpty(ev.StoppedReason, ev.StopCode)+")")
	case ev.ExitCode != nil && *ev.ExitCode == 0:
		return Outcome{To: StatusSucceeded, Code: ReasonSucceeded, Reason: "exited with code 0", ExitCode: ev.ExitCode}
	case ev.ExitCode != nil:
		return Outcome{To: StatusFailed, Code: ReasonExitCode, Reason: fmt.Sprintf("exit code %d", *ev.ExitCode), ExitCode: ev.ExitCode}
	case strings.Contains(reason, "CannotPullContainerError"):
		if permanentPullError(reason) {
			return Outcome{To: StatusFailed, Code: ReasonImagePull, Reason: "could not pull image " + r.Image + ": " + reason}
		}
		return retryOrFail(r, ReasonImagePull, "could not pull image "+r.Image+": "+reason)
	default:
		if reason == "" {
			reason = firstNonEmpty(ev.StopCode, "the task stopped without an exit code")
		}
		return retryOrFail(r, ReasonCouldNotStart, "could not start: "+reason)
	}
}

func retryOrFail(r Run, code ReasonCode, reason string) Outcome {
	if r.Attempt < max(r.MaxAttempts, 1) {
		return Outcome{To: StatusQueued, Code: code, Retry: true,
			Reason: fmt.Sprintf("attempt %d of %d failed: %s; retrying", r.Attempt, r.MaxAttempts, reason)}
	}
	return Outcome{To: StatusFailed, Code: ReasonRetriesExhausted,
		Reason: fmt.Sprintf("gave up after %d attempts: %s", r.Attempt, reason)}
}

func permanentPullError(reason string) bool {
	r := strings.ToLower(reason)
	for _, s := range []string{"not found", "manifest unknown", "access denied", "pull access denied", "repository does not exist", "invalid reference"} {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
