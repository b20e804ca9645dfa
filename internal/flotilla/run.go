package flotilla

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// RunStatus is where a run is in its life. See the package doc for the graph.
type RunStatus string

// The statuses of a run.
const (
	// StatusWaiting: accepted, but not in any queue: it waits for the runs
	// it was launched after (wait_reason dependencies), or it is an array's
	// parent waiting for its children (wait_reason children). It holds no
	// slot and is not counted as queued.
	StatusWaiting RunStatus = "WAITING"
	// StatusQueued: accepted and waiting in its cluster's queue.
	StatusQueued RunStatus = "QUEUED"
	// StatusPending: admitted (it holds a cluster slot) and handed to the
	// engine, which is provisioning or pulling the image.
	StatusPending RunStatus = "PENDING"
	// StatusRunning: its container or process is running.
	StatusRunning RunStatus = "RUNNING"
	// StatusSucceeded: it exited 0. Terminal.
	StatusSucceeded RunStatus = "SUCCEEDED"
	// StatusFailed: it exited non-zero, ran out of memory, could not start
	// after its attempts, or timed out. Terminal.
	StatusFailed RunStatus = "FAILED"
	// StatusStopped: stopped on request. Terminal.
	StatusStopped RunStatus = "STOPPED"
)

// AllStatuses lists every status in lifecycle order.
var AllStatuses = []RunStatus{StatusWaiting, StatusQueued, StatusPending, StatusRunning, StatusSucceeded, StatusFailed, StatusStopped}

// ActiveStatuses are the statuses of a run that has not ended.
var ActiveStatuses = []RunStatus{StatusWaiting, StatusQueued, StatusPending, StatusRunning}

// Valid reports whether s is a known status.
func (s RunStatus) Valid() bool { return slices.Contains(AllStatuses, s) }

// Terminal reports whether a run in s has ended for good.
func (s RunStatus) Terminal() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusStopped
}

// HoldsSlot reports whether a run in s counts against its cluster's
// max_running.
func (s RunStatus) HoldsSlot() bool { return s == StatusPending || s == StatusRunning }

// CanTransition reports whether a run may move from one status to another.
// Staying in the same non-terminal status is allowed: it annotates the run
// (a wait reason, a task id, a stop request) without moving it.
func CanTransition(from, to RunStatus) bool {
	if from.Terminal() || !from.Valid() || !to.Valid() {
		return false
	}
	if from == to {
		return true
	}
	switch from {
	case StatusWaiting:
		// To QUEUED when what it waits for succeeded; an array's parent
		// ends when its children have.
		return to == StatusQueued || to.Terminal()
	case StatusQueued:
		return to == StatusPending || to == StatusStopped || to == StatusFailed
	case StatusPending:
		return to == StatusRunning || to == StatusQueued || to.Terminal()
	case StatusRunning:
		return to == StatusQueued || to.Terminal()
	}
	return false
}

// SlotDelta is the change to the cluster's used-slot counter when a run moves
// from one status to another: +1 on admission, -1 when a slot-holding run
// ends or goes back to the queue, else 0. Stores apply it in the same atomic
// write as the status change, so a slot is taken and released exactly once.
func SlotDelta(from, to RunStatus) int {
	switch {
	case !from.HoldsSlot() && to.HoldsSlot():
		return 1
	case from.HoldsSlot() && !to.HoldsSlot():
		return -1
	}
	return 0
}

// ReasonCode says, in a closed set, why a run ended.
type ReasonCode string

// The reason codes of ended runs.
const (
	ReasonSucceeded        ReasonCode = "succeeded"
	ReasonExitCode         ReasonCode = "exit_code"
	ReasonOutOfMemory      ReasonCode = "out_of_memory"
	ReasonImagePull        ReasonCode = "image_pull"
	ReasonCouldNotStart    ReasonCode = "could_not_start"
	ReasonQueueTimeout     ReasonCode = "queue_timeout"
	ReasonRunTimeout       ReasonCode = "run_timeout"
	ReasonStopped          ReasonCode = "stopped"
	ReasonRetriesExhausted ReasonCode = "retries_exhausted"
	ReasonLost             ReasonCode = "lost"
	// ReasonDependencyFailed: a run it was launched after failed or was
	// stopped, so it never ran.
	ReasonDependencyFailed ReasonCode = "dependency_failed"
	// ReasonChildrenFailed: an array's parent, some of whose children
	// failed or were stopped.
	ReasonChildrenFailed ReasonCode = "children_failed"
)

// ReasonCodes lists the closed set, for documentation and validation.
var ReasonCodes = []ReasonCode{ReasonSucceeded, ReasonExitCode, ReasonOutOfMemory, ReasonImagePull,
	ReasonCouldNotStart, ReasonQueueTimeout, ReasonRunTimeout, ReasonStopped, ReasonRetriesExhausted, ReasonLost,
	ReasonDependencyFailed, ReasonChildrenFailed}

// WaitReason says, in a closed set, why a QUEUED or WAITING run is waiting.
type WaitReason string

// The reasons a run waits.
const (
	WaitNoFreeSlot     WaitReason = "no_free_slot"
	WaitEngineCapacity WaitReason = "engine_capacity"
	WaitAccountQuota   WaitReason = "account_quota"
	WaitOwnerTurn      WaitReason = "owner_turn"
	WaitLaunchThrottle WaitReason = "launch_throttle"
	// WaitDependencies: WAITING for the runs it was launched after.
	WaitDependencies WaitReason = "dependencies"
	// WaitChildren: an array's parent, WAITING for its children.
	WaitChildren WaitReason = "children"
)

// WaitReasons lists the closed set.
var WaitReasons = []WaitReason{WaitNoFreeSlot, WaitEngineCapacity, WaitAccountQuota, WaitOwnerTurn, WaitLaunchThrottle,
	WaitDependencies, WaitChildren}

// Attempt is one try at running a run: a new attempt follows an
// infrastructure failure.
type Attempt struct {
	Attempt    int        `json:"attempt"`
	TaskID     string     `json:"task_id,omitempty"`
	QueuedAt   time.Time  `json:"queued_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	ExitCode   *int       `json:"exit_code,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	// Capacity is what the attempt's task ran on, as the engine reported
	// it: FARGATE, FARGATE_SPOT, EC2 or a capacity provider's name.
	Capacity string `json:"capacity,omitempty"`
}

// UnmarshalJSON reads a stored run; one stored before runs had an
// architecture ran on x86_64.
func (r *Run) UnmarshalJSON(b []byte) error {
	type plain Run
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.Architecture == "" {
		p.Architecture = ArchX86
	}
	*r = Run(p)
	return nil
}

// StopRequest records that someone (or the sweep, on a timeout) asked for a
// started run to stop; the run ends when its task does.
type StopRequest struct {
	By     string     `json:"by"`
	Code   ReasonCode `json:"code"`
	Reason string     `json:"reason"`
	At     time.Time  `json:"at"`
}

// Run is one launch of a definition, with the effective settings it ran with.
type Run struct {
	ID            string     `json:"run_id"`
	DefinitionID  string     `json:"definition_id"`
	Alias         string     `json:"alias"`
	Revision      int        `json:"revision"`
	Cluster       string     `json:"cluster"`
	Status        RunStatus  `json:"status"`
	StatusReason  string     `json:"status_reason,omitempty"`
	ReasonCode    ReasonCode `json:"reason_code,omitempty"`
	WaitReason    WaitReason `json:"wait_reason,omitempty"`
	QueuePosition int        `json:"queue_position,omitempty"`
	Owner         string     `json:"owner"`
	// OwnerName is the owner's display name (their verified e-mail in AWS), when known.
	OwnerName    string            `json:"owner_name,omitempty"`
	Image        string            `json:"image"`
	Command      string            `json:"command"`
	CPU          int               `json:"cpu"`
	Memory       int               `json:"memory"`
	GPU          int               `json:"gpu"`
	Architecture string            `json:"architecture"`
	Env          map[string]string `json:"env"`
	// Secrets are the definition's secret references (never values).
	Secrets map[string]string `json:"secrets"`
	// TaskRoleARN is the definition's task role, if it names one.
	TaskRoleARN string `json:"task_role_arn,omitempty"`
	// OnOutOfMemory is the definition's policy for an attempt that runs out
	// of memory, if it has one.
	OnOutOfMemory *OOMPolicy `json:"on_out_of_memory,omitempty"`
	// Notify are told when it ends: the definition's targets and the
	// launch's.
	Notify []NotifyTarget `json:"notify,omitempty"`
	// Parent is the run this one was launched from (a job launching its
	// own runs passes its FLOTILLA_RUN_ID): stopping the parent stops it.
	// It is also the run's tag ParentTag(parent), which indexes it.
	Parent string `json:"parent,omitempty"`
	// Array, on an array's parent, describes its children.
	Array *Array `json:"array,omitempty"`
	// ArrayIndex, on an array's child, is its index (its
	// FLOTILLA_ARRAY_INDEX); Parent is the array's parent.
	ArrayIndex *int `json:"array_index,omitempty"`
	// ArrayItem, on a child of an array launched with items, is its item
	// (its FLOTILLA_ARRAY_ITEM; merged into Params too when the definition
	// has parameters).
	ArrayItem json.RawMessage `json:"array_item,omitempty"`
	// After are the runs it waits for: it stays WAITING until all have
	// succeeded, and ends STOPPED (dependency_failed) when one fails or is
	// stopped.
	After          []string   `json:"after,omitempty"`
	Tags           []string   `json:"tags"`
	Engine         string     `json:"engine,omitempty"`
	Attempt        int        `json:"attempt"`
	MaxAttempts    int        `json:"max_attempts"`
	Attempts       []Attempt  `json:"attempts"`
	ExitCode       *int       `json:"exit_code,omitempty"`
	QueuedAt       time.Time  `json:"queued_at"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
	TimeoutSeconds int        `json:"timeout_seconds"`
	IdempotencyKey string     `json:"idempotency_key,omitempty"`
	// RequestHash fingerprints the launch request that used
	// IdempotencyKey, so the key reused with another request is refused
	// instead of answered with this unrelated run.
	RequestHash      string       `json:"request_hash,omitempty"`
	ScheduleID       string       `json:"schedule_id,omitempty"`
	StopRequest      *StopRequest `json:"stop_request,omitempty"`
	EstimatedCostUSD *float64     `json:"estimated_cost_usd"`
	CostUSD          *float64     `json:"cost_usd,omitempty"`

	// Params are the template parameters the command was rendered with
	// (defaults filled in); nil for a definition without parameters.
	Params Params `json:"params,omitempty"`
}

// Current returns the current attempt's record.
func (r *Run) Current() *Attempt {
	for i := range r.Attempts {
		if r.Attempts[i].Attempt == r.Attempt {
			return &r.Attempts[i]
		}
	}
	return nil
}

// EventSource says who changed a run.
type EventSource string

// The sources of run changes.
const (
	SourceAPI        EventSource = "api"
	SourceDispatcher EventSource = "dispatcher"
	SourceEngine     EventSource = "engine"
	SourceSweep      EventSource = "sweep"
	SourceSchedule   EventSource = "schedule"
)

// RunEvent is one entry of a run's life story.
type RunEvent struct {
	RunID   string      `json:"run_id"`
	Time    time.Time   `json:"time"`
	Source  EventSource `json:"source"`
	From    RunStatus   `json:"from,omitempty"`
	To      RunStatus   `json:"to"`
	Reason  string      `json:"reason,omitempty"`
	Attempt int         `json:"attempt"`
}

// Transition is one conditional change of a run. The store applies it only
// when the run's status is one of From (and its attempt is Attempt, when
// set), updates the cluster's slot counter by SlotDelta in the same atomic
// write, and records a RunEvent when the status changes or Event is set.
type Transition struct {
	RunID   string
	From    []RunStatus
	Attempt int
	To      RunStatus
	At      time.Time
	Source  EventSource

	// Reason is the new status_reason, in plain words.
	Reason     string
	ReasonCode ReasonCode
	WaitReason WaitReason
	ExitCode   *int
	TaskID     string
	Engine     string
	// StopRequest, when set, is recorded on the run (a stop asked of a
	// started run).
	StopRequest *StopRequest
	// NewAttempt moves the run back to QUEUED as attempt+1.
	NewAttempt bool
	// Memory, with NewAttempt, is the memory (MiB) of the next attempt
	// (0: unchanged).
	Memory int
	// Cluster, with NewAttempt, moves the run to another cluster's queue
	// ("": unchanged). The slot it leaves is the old cluster's.
	Cluster string
	// MaxRunning is the cluster's admission limit, checked atomically with
	// the slot counter when the transition takes a slot (0: no limit).
	MaxRunning int
	// MaxRunningPerOwner caps the slots the run's owner may hold in the
	// cluster, checked the same way (0: no cap).
	MaxRunningPerOwner int
	// CostUSD is the billed cost, set when the run ends.
	CostUSD *float64
	// Capacity is what the current attempt's task runs on (TaskEvent.Capacity).
	Capacity string
	// Event forces a life-story entry although the status does not change.
	Event bool
	// NoStopRequest makes the transition conditional on the run having no
	// stop request: an outcome decided without one must not overwrite a
	// stop that arrived meanwhile.
	NoStopRequest bool
	// ArrayCreated, on an array's parent, records that its children up to
	// this element exist; the transition applies only when fewer were
	// recorded, so two materialisers never both advance from one point.
	ArrayCreated int
}

// Check validates a transition against a run's current state, returning
// ErrConflict when the run is not where the transition expects it.
func (t Transition) Check(r Run) error {
	if !slices.Contains(t.From, r.Status) {
		return fmt.Errorf("run %s is %s, not %v: %w", r.ID, r.Status, t.From, ErrConflict)
	}
	if t.Attempt != 0 && t.Attempt != r.Attempt {
		return fmt.Errorf("run %s is on attempt %d, not %d: %w", r.ID, r.Attempt, t.Attempt, ErrConflict)
	}
	if !CanTransition(r.Status, t.To) {
		return fmt.Errorf("run %s cannot move from %s to %s: %w", r.ID, r.Status, t.To, ErrConflict)
	}
	if t.NoStopRequest && r.StopRequest != nil {
		return fmt.Errorf("run %s was asked to stop meanwhile: %w", r.ID, ErrConflict)
	}
	if t.NewAttempt && t.To != StatusQueued {
		return fmt.Errorf("run %s: a new attempt must go back to QUEUED: %w", r.ID, ErrInvalid)
	}
	if t.ArrayCreated > 0 {
		if r.Array == nil {
			return fmt.Errorf("run %s is not an array: %w", r.ID, ErrInvalid)
		}
		if r.Array.Created >= t.ArrayCreated {
			return fmt.Errorf("run %s already has %d children, not fewer than %d: %w", r.ID, r.Array.Created, t.ArrayCreated, ErrConflict)
		}
	}
	return nil
}

// Apply returns r changed by the transition (no checks: call Check first)
// and whether a life-story event must be recorded. Every store uses it, so
// they agree on what a transition writes.
func (t Transition) Apply(r Run) (Run, *RunEvent) {
	from := r.Status
	at := t.At.UTC()
	r.Attempts = slices.Clone(r.Attempts)
	cur := r.Current()
	if cur == nil {
		r.Attempts = append(r.Attempts, Attempt{Attempt: r.Attempt, QueuedAt: r.QueuedAt})
		cur = &r.Attempts[len(r.Attempts)-1]
	}
	if t.TaskID != "" {
		cur.TaskID = t.TaskID
	}
	if t.Capacity != "" {
		cur.Capacity = t.Capacity
	}
	if t.Engine != "" {
		r.Engine = t.Engine
	}
	if t.ExitCode != nil {
		code := *t.ExitCode
		cur.ExitCode = &code
		r.ExitCode = &code
	}
	if t.StopRequest != nil {
		sr := *t.StopRequest
		r.StopRequest = &sr
	}
	if from == StatusWaiting && t.To == StatusQueued {
		// Its time in the queue starts now, not when it began to wait.
		cur.QueuedAt = at
	}
	if t.ArrayCreated > 0 && r.Array != nil {
		a := *r.Array
		a.Created = t.ArrayCreated
		r.Array = &a
	}
	if t.To == StatusRunning && cur.StartedAt == nil {
		cur.StartedAt = &at
		if r.StartedAt == nil {
			r.StartedAt = &at
		}
	}
	leaving := from.HoldsSlot() && (t.To.Terminal() || t.To == StatusQueued)
	if leaving && cur.FinishedAt == nil {
		cur.FinishedAt = &at
		cur.Reason = t.Reason
	}
	r.Status = t.To
	if t.Reason != "" || from != t.To {
		r.StatusReason = t.Reason
	}
	if t.To == StatusQueued || t.To == StatusWaiting {
		if t.WaitReason != "" {
			r.WaitReason = t.WaitReason
		}
	} else {
		r.WaitReason = ""
	}
	if t.To.Terminal() {
		r.ReasonCode = t.ReasonCode
		r.FinishedAt = &at
		if cur.FinishedAt == nil {
			cur.FinishedAt = &at
			cur.Reason = t.Reason
		}
		if t.CostUSD != nil {
			c := *t.CostUSD
			r.CostUSD = &c
		}
	}
	if t.NewAttempt {
		if t.Memory > 0 {
			r.Memory = t.Memory
		}
		if t.Cluster != "" {
			r.Cluster = t.Cluster
		}
		r.Attempt++
		r.Attempts = append(r.Attempts, Attempt{Attempt: r.Attempt, QueuedAt: at})
		r.ExitCode = nil
		r.StopRequest = nil
	}
	if from == t.To && !t.Event {
		return r, nil
	}
	return r, &RunEvent{RunID: r.ID, Time: at, Source: t.Source, From: from, To: t.To, Reason: t.Reason, Attempt: r.Attempt}
}

// ParentTag is the tag a run launched from parent carries, so that the
// history's tag index finds a run's children.
func ParentTag(parent string) string { return "parent:" + parent }

// Array describes an array's parent run: its children share its snapshot
// and each has an index (FLOTILLA_ARRAY_INDEX) and, when the launch listed
// items, an item (FLOTILLA_ARRAY_ITEM, and merged into params).
type Array struct {
	// Size is how many children it has.
	Size int `json:"size"`
	// Created is how many of them exist: they are made in batches after
	// the launch is answered, in element order.
	Created int `json:"created"`
	// Listed says its elements (indexes and items) are stored apart
	// (Store.ArrayElements): the launch listed items, or it retries some
	// children of another array. Otherwise child k has index k, no item.
	Listed bool `json:"listed,omitempty"`
	// Items says the launch gave an item per child.
	Items bool `json:"items,omitempty"`
	// AfterEach are other arrays' parents, of the same size: child i waits
	// for their children i.
	AfterEach []string `json:"after_each,omitempty"`
	// RetryOf is the array whose failed children this one runs again.
	RetryOf string `json:"retry_of,omitempty"`
	// ParametersSchema is the definition's, kept when the children are
	// rendered from items, so they render as launched whatever becomes of
	// the definition.
	ParametersSchema json.RawMessage `json:"parameters_schema,omitempty"`
	// Summary counts the children by status; the service fills it in when
	// the run is read, stores never keep it here.
	Summary *ChildSummary `json:"summary,omitempty"`
}

// ArrayElement is one child of an array as its launch asked for it.
type ArrayElement struct {
	Index int             `json:"i"`
	Item  json.RawMessage `json:"item,omitempty"`
}

// ChildSummary counts a run's children by status.
type ChildSummary struct {
	Counts map[RunStatus]int `json:"counts"`
	// Ended is how many of them have ended.
	Ended int `json:"ended"`
	// FailedIndexes are the array indexes of the children that ended FAILED
	// or STOPPED, ascending.
	FailedIndexes []int `json:"failed_indexes"`
}

// MaxArraySize bounds an array's children (AWS Batch's array jobs go to
// 10,000 too: https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html).
const MaxArraySize = 10000

// MaxAfter bounds the runs one run may wait for (AWS Batch allows 20
// dependencies a job: https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html).
const MaxAfter = 20

// RunEnv is what a run's job is told of itself, besides its own
// variables (whose names cannot start with FLOTILLA_, so these never
// collide): its id (a job that launches runs passes it as their parent),
// attempt and definition, and for an array's child its index and item.
func RunEnv(r Run) map[string]string {
	env := map[string]string{"FLOTILLA_RUN_ID": r.ID, "FLOTILLA_ATTEMPT": strconv.Itoa(r.Attempt), "FLOTILLA_DEFINITION": r.Alias}
	if r.ArrayIndex != nil {
		env["FLOTILLA_ARRAY_INDEX"] = strconv.Itoa(*r.ArrayIndex)
		env["FLOTILLA_PARENT_RUN_ID"] = r.Parent
	}
	if len(r.ArrayItem) > 0 {
		env["FLOTILLA_ARRAY_ITEM"] = string(r.ArrayItem)
	}
	return env
}
