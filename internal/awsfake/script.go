package awsfake

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Script says how the ECS fake treats one run (one startedBy): how it
// answers the run's RunTask calls and how each task it starts lives.
type Script struct {
	// Replies answer the run's first RunTask calls, in order, instead of
	// starting a task: capacity failures, throttles, 500s. Calls after
	// them start tasks. An idempotent replay (same clientToken) does not
	// consume a reply.
	Replies []Reply
	// Lives script the run's 1st, 2nd, … task; the last one repeats. No
	// lives: every task lives as its command says (see Life).
	Lives []Life
}

// Reply is one scripted answer to RunTask: an error (Status, Type,
// Message), a 200 with Failure in failures[] and no task, or a 200 with a
// recorded Body.
type Reply struct {
	Status  int
	Type    string
	Message string
	Failure *Failure
	// Body, when set, is sent verbatim with a 200: a recorded RunTask
	// response.
	Body []byte
}

// Failure is an entry of RunTask's failures[].
type Failure struct {
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// Throttle is a ThrottlingException reply (400).
func Throttle() Reply {
	return Reply{Status: http.StatusBadRequest, Type: "ThrottlingException", Message: "Rate exceeded"}
}

// ServerError is a ServerException reply (500).
func ServerError() Reply {
	return Reply{Status: http.StatusInternalServerError, Type: "ServerException", Message: "Service Unavailable. Please try again later."}
}

// Fail is a 200 reply with one failure and no task, e.g.
// Fail("RESOURCE:MEMORY", "") or Fail("Capacity is unavailable at this time. Please try again later or in a different availability zone", "").
func Fail(reason, detail string) Reply {
	return Reply{Failure: &Failure{Reason: reason, Detail: detail}}
}

// Life scripts one task. The zero Life follows the task's command: a
// command made of `echo …` and `exit N` steps (the container override's
// `sh -c` argument, else the task definition's) writes those lines and
// exits with that code; anything else writes nothing and exits 0.
type Life struct {
	// ExitCode overrides the command's exit code.
	ExitCode *int
	// Logs override the command's lines; they are written when the task
	// reaches RUNNING.
	Logs []string
	// OOM: the container is killed for memory (exit 137, OutOfMemoryError).
	OOM bool
	// FailToStart stops the task from PROVISIONING with stopCode
	// TaskFailedToStart, this stoppedReason and no containers.
	FailToStart string
	// PullError stops the task from PENDING with TaskFailedToStart and
	// "CannotPullContainerError: <PullError>".
	PullError string
	// SpotInterruption stops the running task with stopCode SpotInterruption.
	SpotInterruption bool
	// Hold keeps the task RUNNING until StopTask or Release.
	Hold bool
	// Sidecar adds a second, non-essential container of this name; it is
	// stopped (exit 143) when the essential one exits, as ECS stops a
	// task's other containers when an essential container exits.
	Sidecar string
	// ContainerError stops the task from PENDING without running it: the
	// job container gets this reason and no exit code, and the task stopCode
	// EssentialContainerExited (e.g. "CannotStartContainerError: …").
	ContainerError string
	// StopFromOutside stops the running task as the ECS console or a
	// StopTask from outside Flotilla would: stopCode UserInitiated,
	// "Task stopped by user", exit 143.
	StopFromOutside bool
}

// Exit returns a pointer to code, for Life.ExitCode.
func Exit(code int) *int { return &code }

// program is what a task's container does: segments of lines, with a
// sleep before each segment after the first, then an exit code.
type program struct {
	segments [][]string
	sleeps   []time.Duration // sleeps[i] comes before segments[i+1]
	exit     int
}

// emulate runs the tiny subset of sh the fake understands: `echo TEXT`,
// `sleep SECONDS`, `exit CODE`, `true` and `false`, joined by ";" or "&&".
func emulate(cmd string) program {
	p := program{segments: [][]string{nil}}
	for _, stmt := range strings.Split(cmd, ";") {
		for _, part := range strings.Split(stmt, "&&") {
			part = strings.TrimSpace(part)
			f := strings.Fields(part)
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "echo":
				last := len(p.segments) - 1
				p.segments[last] = append(p.segments[last], unquote(strings.TrimSpace(strings.TrimPrefix(part, "echo"))))
			case "sleep":
				secs := 0.0
				if len(f) > 1 {
					secs, _ = strconv.ParseFloat(f[1], 64)
				}
				p.sleeps = append(p.sleeps, time.Duration(secs*float64(time.Second)))
				p.segments = append(p.segments, nil)
			case "exit":
				if len(f) > 1 {
					p.exit, _ = strconv.Atoi(f[1])
				}
				return p
			case "false":
				p.exit = 1
				return p
			}
		}
	}
	return p
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
