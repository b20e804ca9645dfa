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
	// Container names the container ExitCode and ContainerReason are of
	// (the job's, or the one the engine judged to be it).
	Container string
	// ContainersRan is set when any container of the task exited with a
	// code: the task ran, and is not started again.
	ContainersRan bool
	// Capacity is what the task runs on: FARGATE, FARGATE_SPOT, EC2 or a
	// capacity provider's name ("" when the engine does not say).
	Capacity string
}

// Outcome is what a stopped task means for its run.
type Outcome struct {
	To       RunStatus
	Code     ReasonCode
	Reason   string
	ExitCode *int
	// Retry means the run goes back to QUEUED as a new attempt.
	Retry bool
	// Memory, with Retry, is the next attempt's memory (0: unchanged).
	Memory int
	// Spot: the task was stopped by a Fargate Spot interruption.
	Spot bool
}

// DecideOutcome maps a stopped task to the run's next status, a reason code
// and plain words, by the first rule of StopRules that matches. Rules that
// retry do so while attempts remain, then fail the run as
// retries_exhausted.
func DecideOutcome(r Run, ev TaskEvent) Outcome {
	reason := firstNonEmpty(ev.ContainerReason, ev.StoppedReason)
	for _, rule := range StopRules {
		if !rule.Matches(r, ev, reason) {
			continue
		}
		out := rule.Outcome(r, ev, reason)
		if out.Retry && out.Memory > 0 {
			// A retry with more memory is decided by its rule (which
			// checked the attempts left), worded as it says.
			out.To = StatusQueued
			return out
		}
		if out.Retry {
			next := retryOrFail(r, out.Code, out.Reason)
			next.Spot = out.Spot
			return next
		}
		return out
	}
	// Unreachable: the last rule matches every stopped task.
	return retryOrFail(r, ReasonCouldNotStart, "could not start: "+firstNonEmpty(reason, ev.StopCode))
}

// StopRule is one row of the table that decides how a run ends when its
// task stopped. Kind is the row's name in the README's table of reasons.
type StopRule struct {
	Kind    string
	Matches func(r Run, ev TaskEvent, reason string) bool
	Outcome func(r Run, ev TaskEvent, reason string) Outcome
}

// StopRules is the table, in order. The message shapes come from AWS's
// documentation: "Amazon ECS stopped task error messages"
// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html),
// "CannotPullContainer task errors" (…/task_cannot_pull_image.html),
// "ResourceInitializationError" (…/resource-initialization-error.html) and
// the Task API reference's stopCode
// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html).
// Codes (stopCode) are matched first; the English messages only where ECS
// gives nothing else.
var StopRules = []StopRule{
	{"stop requested", func(r Run, ev TaskEvent, _ string) bool {
		// A stop asked for while the job was already ending on its own does
		// not rewrite that end: ECS says EssentialContainerExited for a task
		// whose container exited by itself and UserInitiated for StopTask.
		return r.StopRequest != nil && !(ev.StopCode == StopCodeEssentialContainerExited && ev.ExitCode != nil)
	}, func(r Run, ev TaskEvent, _ string) Outcome {
		to := StatusStopped
		if r.StopRequest.Code != ReasonStopped {
			to = StatusFailed
		}
		return Outcome{To: to, Code: r.StopRequest.Code, Reason: r.StopRequest.Reason, ExitCode: ev.ExitCode}
	}},
	{"lost by the engine", func(_ Run, ev TaskEvent, _ string) bool { return ev.StopCode == StopCodeLost },
		func(_ Run, _ TaskEvent, reason string) Outcome {
			return Outcome{To: StatusFailed, Code: ReasonLost, Reason: firstNonEmpty(reason, "the engine lost the task")}
		}},
	{"out of memory", func(_ Run, ev TaskEvent, _ string) bool {
		return ev.OOM || strings.HasPrefix(ev.ContainerReason, "OutOfMemoryError") || strings.HasPrefix(ev.StoppedReason, "OutOfMemoryError")
	}, func(r Run, ev TaskEvent, _ string) Outcome {
		out := Outcome{To: StatusFailed, Code: ReasonOutOfMemory, ExitCode: ev.ExitCode,
			Reason: fmt.Sprintf("out of memory (limit %d MiB)", r.Memory)}
		p := r.OnOutOfMemory
		if p == nil || p.RetryWithMemoryFactor <= 1 {
			return out
		}
		grown := GrownMemory(r.CPU, r.Memory, p.RetryWithMemoryFactor)
		switch {
		case grown <= r.Memory:
			out.Reason += fmt.Sprintf("; not retried: %d MiB is the most cpu %d allows", r.Memory, r.CPU)
		case r.Attempt >= r.MaxAttempts:
			out.Reason += fmt.Sprintf("; not retried: no attempts left (%d of %d)", r.Attempt, r.MaxAttempts)
		default:
			return Outcome{Retry: true, Code: ReasonOutOfMemory, Memory: grown, ExitCode: ev.ExitCode,
				Reason: fmt.Sprintf("attempt %d of %d ran out of memory (limit %d MiB): retrying with %d MiB (on_out_of_memory × %g)",
					r.Attempt, r.MaxAttempts, r.Memory, grown, p.RetryWithMemoryFactor)}
		}
		return out
	}},
	{"Spot interruption", func(_ Run, ev TaskEvent, _ string) bool { return ev.StopCode == StopCodeSpotInterruption },
		func(_ Run, ev TaskEvent, _ string) Outcome {
			return Outcome{Retry: true, Code: ReasonCouldNotStart, Spot: true,
				Reason: spotReclaimed + " (" + firstNonEmpty(ev.StoppedReason, ev.StopCode) + ")"}
		}},
	{"host terminated", func(_ Run, ev TaskEvent, _ string) bool {
		return ev.StopCode == StopCodeTerminationNotice || strings.Contains(ev.StoppedReason, "Host EC2") ||
			strings.Contains(ev.StoppedReason, "instance") && strings.Contains(ev.StoppedReason, "terminated")
	}, func(_ Run, ev TaskEvent, _ string) Outcome {
		return Outcome{Retry: true, Code: ReasonCouldNotStart,
			Reason: "the host running the task went away (" + firstNonEmpty(ev.StoppedReason, ev.StopCode) + ")"}
	}},
	{"stopped outside Flotilla", func(r Run, ev TaskEvent, _ string) bool {
		return ev.StopCode == StopCodeUserInitiated && r.StopRequest == nil
	}, func(_ Run, ev TaskEvent, _ string) Outcome {
		return Outcome{To: StatusStopped, Code: ReasonStopped, ExitCode: ev.ExitCode,
			Reason: "stopped outside Flotilla (ECS console or API)"}
	}},
	{"essential container exited 0", func(_ Run, ev TaskEvent, _ string) bool { return ev.ExitCode != nil && *ev.ExitCode == 0 },
		func(_ Run, ev TaskEvent, _ string) Outcome {
			return Outcome{To: StatusSucceeded, Code: ReasonSucceeded, Reason: "exited with code 0", ExitCode: ev.ExitCode}
		}},
	{"essential container exited non-zero", func(_ Run, ev TaskEvent, _ string) bool { return ev.ExitCode != nil },
		func(_ Run, ev TaskEvent, _ string) Outcome {
			why := fmt.Sprintf("exit code %d", *ev.ExitCode)
			if ev.Container != "" && ev.Container != DefaultJobContainer {
				why += " (container " + ev.Container + ")"
			}
			return Outcome{To: StatusFailed, Code: ReasonExitCode, Reason: why, ExitCode: ev.ExitCode}
		}},
	{"a container ran and exited", func(_ Run, ev TaskEvent, _ string) bool { return ev.ContainersRan },
		// The job's container is not known but containers ran: the job may
		// have had effects, so it is not run again.
		func(_ Run, ev TaskEvent, reason string) Outcome {
			return Outcome{To: StatusFailed, Code: ReasonCouldNotStart,
				Reason: "the task's containers ran and stopped without the job's exit code: " + firstNonEmpty(reason, ev.StopCode)}
		}},
	{"image pull throttled", func(_ Run, _ TaskEvent, reason string) bool {
		return strings.Contains(reason, "CannotPullContainerError") &&
			containsAny(reason, "toomanyrequests", "too many requests", "rate exceeded", "429")
	}, func(r Run, _ TaskEvent, reason string) Outcome {
		return Outcome{Retry: true, Code: ReasonImagePull, Reason: "the registry throttled the pull of " + r.Image + ": " + reason}
	}},
	{"image not found", func(_ Run, _ TaskEvent, reason string) bool {
		return strings.Contains(reason, "CannotPullContainerError") &&
			containsAny(reason, "not found", "manifest unknown", "repository does not exist", "invalid reference", "name unknown")
	}, func(r Run, _ TaskEvent, reason string) Outcome {
		return Outcome{To: StatusFailed, Code: ReasonImagePull, Reason: "image " + r.Image + " was not found: " + reason}
	}},
	{"image pull denied", func(_ Run, _ TaskEvent, reason string) bool {
		return strings.Contains(reason, "CannotPullContainerError") &&
			containsAny(reason, "access denied", "unauthorized", "no basic auth credentials", "403 forbidden", "denied:")
	}, func(r Run, _ TaskEvent, reason string) Outcome {
		return Outcome{To: StatusFailed, Code: ReasonImagePull,
			Reason: "not allowed to pull image " + r.Image + " (is it private? the task execution role pulls only this account's ECR): " + reason}
	}},
	{"image pull failed", func(_ Run, _ TaskEvent, reason string) bool {
		return strings.Contains(reason, "CannotPullContainerError")
	},
		func(r Run, _ TaskEvent, reason string) Outcome {
			return Outcome{Retry: true, Code: ReasonImagePull, Reason: "could not pull image " + r.Image + ": " + reason}
		}},
	{"container could not start", func(_ Run, _ TaskEvent, reason string) bool {
		return strings.Contains(reason, "CannotStartContainerError")
	}, func(r Run, _ TaskEvent, reason string) Outcome {
		// Permanent: the image cannot run the command (no /bin/sh, a bad
		// entrypoint); a second attempt fails the same way.
		return Outcome{To: StatusFailed, Code: ReasonCouldNotStart,
			Reason: "the container could not start (every command runs under sh -c: does " + r.Image + " have /bin/sh?): " + reason}
	}},
	{"secret not found", func(_ Run, _ TaskEvent, reason string) bool {
		return strings.Contains(reason, "ResourceInitializationError") &&
			containsAny(reason, "invalid ssm parameters", "parameternotfound", "resourcenotfoundexception", "can't find the specified secret")
	}, func(_ Run, _ TaskEvent, reason string) Outcome {
		return Outcome{To: StatusFailed, Code: ReasonCouldNotStart, Reason: "a secret the definition references does not exist: " + reason}
	}},
	{"secret access denied", func(_ Run, _ TaskEvent, reason string) bool {
		return strings.Contains(reason, "ResourceInitializationError") && containsAny(reason, "accessdenied", "not authorized")
	}, func(_ Run, _ TaskEvent, reason string) Outcome {
		return Outcome{To: StatusFailed, Code: ReasonCouldNotStart,
			Reason: "the task execution role may not read a secret or the image (secrets must be named flotilla/…): " + reason}
	}},
	{"secrets or network unreachable", func(_ Run, _ TaskEvent, reason string) bool {
		return strings.Contains(reason, "ResourceInitializationError")
	}, func(_ Run, _ TaskEvent, reason string) Outcome {
		return Outcome{Retry: true, Code: ReasonCouldNotStart, Reason: "the task could not reach SSM, Secrets Manager or the registry: " + reason}
	}},
	{"network interface not provisioned", func(_ Run, ev TaskEvent, reason string) bool {
		return containsAny(reason, "network interface", "eni provision", "eni attachment")
	}, func(_ Run, _ TaskEvent, reason string) Outcome {
		return Outcome{Retry: true, Code: ReasonCouldNotStart, Reason: "the task's network interface was not provisioned: " + reason}
	}},
	{"capacity unavailable", func(_ Run, _ TaskEvent, reason string) bool {
		return containsAny(reason, "capacity is unavailable", "insufficient capacity")
	}, func(_ Run, _ TaskEvent, reason string) Outcome {
		return Outcome{Retry: true, Code: ReasonCouldNotStart, Reason: "ECS had no capacity for the task: " + reason}
	}},
	{"failed to start", func(Run, TaskEvent, string) bool { return true },
		func(_ Run, ev TaskEvent, reason string) Outcome {
			return Outcome{Retry: true, Code: ReasonCouldNotStart,
				Reason: "could not start: " + firstNonEmpty(reason, ev.StopCode, "the task stopped without an exit code")}
		}},
}

// DefaultJobContainer is the name Flotilla gives the job's container.
const DefaultJobContainer = "job"

func retryOrFail(r Run, code ReasonCode, reason string) Outcome {
	if r.Attempt < max(r.MaxAttempts, 1) {
		return Outcome{To: StatusQueued, Code: code, Retry: true,
			Reason: fmt.Sprintf("attempt %d of %d failed: %s; retrying", r.Attempt, r.MaxAttempts, reason)}
	}
	return Outcome{To: StatusFailed, Code: ReasonRetriesExhausted,
		Reason: fmt.Sprintf("gave up after %d attempts: %s", r.Attempt, reason)}
}

// containsAny reports whether s holds one of subs, ignoring case.
func containsAny(s string, subs ...string) bool {
	l := strings.ToLower(s)
	for _, sub := range subs {
		if strings.Contains(l, sub) {
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

// spotReclaimed starts the reason of an attempt that Fargate Spot
// interrupted (the "Spot interruption" rule).
const spotReclaimed = "Fargate Spot reclaimed the capacity"

// SpotInterruptions counts the attempts of r that ended by a Fargate Spot
// interruption.
func SpotInterruptions(r Run) int {
	n := 0
	for _, a := range r.Attempts {
		if strings.Contains(a.Reason, spotReclaimed) {
			n++
		}
	}
	return n
}
