package flotilla

import (
	"context"
	"time"
)

// Page is one page of a list; NextToken is empty on the last page.
type Page[T any] struct {
	Items     []T    `json:"items"`
	NextToken string `json:"next_token,omitempty"`
}

// DefinitionFilter selects definitions. Empty fields match everything.
type DefinitionFilter struct {
	Alias     string // substring
	Group     string
	Tag       string
	Image     string // substring
	Limit     int
	NextToken string
}

// RunFilter selects runs, newest first. Empty fields match everything.
type RunFilter struct {
	Statuses     []RunStatus
	Cluster      string
	DefinitionID string
	Owner        string
	Tag          string
	ScheduleID   string
	// Parent selects the runs launched from it (an array's children among them).
	Parent string
	// After selects the runs that wait for it (Run.After lists it).
	After        string
	Since, Until time.Time // on queued_at; zero means unbounded
	Limit        int
	NextToken    string
}

// Store keeps definitions, runs, their life stories and the clusters' slot
// counters. Every method returns ErrNotFound for a missing item and
// ErrConflict for a failed condition; other errors are the store's own.
type Store interface {
	// CreateDefinition stores revision 1. ErrConflict: the alias is taken.
	CreateDefinition(ctx context.Context, d Definition) (Definition, error)
	// GetDefinition finds the latest revision by id or alias.
	GetDefinition(ctx context.Context, ref string) (Definition, error)
	// GetDefinitionRevision finds one revision by id or alias.
	GetDefinitionRevision(ctx context.Context, ref string, revision int) (Definition, error)
	// UpdateDefinition stores d as a new revision, only when the stored
	// revision is d.Revision-1. ErrConflict: stale revision or alias taken.
	UpdateDefinition(ctx context.Context, d Definition) (Definition, error)
	// DeleteDefinition removes a definition and its revisions; runs stay.
	DeleteDefinition(ctx context.Context, ref string) error
	ListDefinitions(ctx context.Context, f DefinitionFilter) (Page[Definition], error)

	// CreateRun stores a new QUEUED or WAITING run and its first life-story event. When
	// the run's owner already has a run with the same idempotency key, it
	// stores nothing and returns that run with created=false.
	CreateRun(ctx context.Context, r Run) (run Run, created bool, err error)
	// CreateRuns stores each of runs (QUEUED or WAITING, without
	// idempotency keys) whose id is not stored yet, as CreateRun does, and
	// leaves a run whose id exists as it is; it returns how many it
	// created. An array's children are made with it, a batch at a time: a
	// batch made again after a crash creates no child twice.
	CreateRuns(ctx context.Context, runs []Run) (int, error)
	// PutArrayElements stores an array parent's elements, in order, before
	// the parent itself is stored; storing them again is harmless.
	PutArrayElements(ctx context.Context, parentID string, elems []ArrayElement) error
	// ArrayElements returns the elements [from, to) of an array's parent.
	ArrayElements(ctx context.Context, parentID string, from, to int) ([]ArrayElement, error)
	// ChildSummary counts the runs whose Parent is parent by status and
	// lists the array indexes of those that ended FAILED or STOPPED. The
	// counts are exact: they change in the same write as each child.
	ChildSummary(ctx context.Context, parent string) (ChildSummary, error)
	GetRun(ctx context.Context, id string) (Run, error)
	ListRuns(ctx context.Context, f RunFilter) (Page[Run], error)
	// TransitionRun applies t atomically: the status condition, the slot
	// counters (with t.MaxRunning and t.MaxRunningPerOwner), the run's new
	// fields and its life-story event. ErrConflict: the run is not in
	// t.From (or on t.Attempt); ErrNoCapacity: no slot is free.
	TransitionRun(ctx context.Context, t Transition) (Run, error)
	// AppendRunEvent adds an entry to a run's life story without changing
	// the run (a notification delivered or failed); ErrNotFound when there
	// is no such run.
	AppendRunEvent(ctx context.Context, ev RunEvent) error
	// ListRunEvents returns a run's life story, oldest first.
	ListRunEvents(ctx context.Context, runID string) ([]RunEvent, error)

	// ListQueued returns a cluster's QUEUED runs, oldest first.
	ListQueued(ctx context.Context, cluster string, limit int) ([]Run, error)
	// OldestQueuedPerOwner returns, for each owner with QUEUED runs in the
	// cluster, that owner's oldest QUEUED run; oldest first, at most limit.
	// Admission takes turns between owners with it, so one owner's burst
	// cannot starve the others.
	OldestQueuedPerOwner(ctx context.Context, cluster string, limit int) ([]Run, error)
	// QueuedAhead counts the cluster's QUEUED runs queued before r.
	QueuedAhead(ctx context.Context, r Run) (int, error)
	// ClusterUsage reports a cluster's queued runs and held slots.
	ClusterUsage(ctx context.Context, cluster string) (Usage, error)
}

// Message is what a cluster's queue carries: ids, never whole runs.
type Message struct {
	Cluster string `json:"cluster"`
	RunID   string `json:"run_id"`
	Attempt int    `json:"attempt"`
	// Owner chooses the message group, so one owner's burst does not block
	// the others' messages.
	Owner string `json:"owner"`
	// DedupID makes a re-send within the deduplication window a no-op.
	DedupID string `json:"dedup_id"`
	// Kind is empty for a run to admit, or MessageArray: RunID is an
	// array's parent whose children are to be made (or stopped) next.
	Kind string `json:"kind,omitempty"`
}

// MessageArray is the Kind of a message that carries an array's work.
const MessageArray = "array"

// Delivery is a received message and the handle that deletes it.
type Delivery struct {
	Message
	Receipt      string
	ReceiveCount int
}

// Queue is a durable FIFO queue per cluster, with message groups and
// deduplication as SQS FIFO has them.
type Queue interface {
	Send(ctx context.Context, msgs ...Message) error
	// Receive waits up to wait for up to max messages of the cluster. A
	// received message is hidden until deleted or its visibility ends.
	Receive(ctx context.Context, cluster string, max int, wait time.Duration) ([]Delivery, error)
	Delete(ctx context.Context, cluster, receipt string) error
}

// Task is what an engine started for a run attempt.
type Task struct {
	ID     string
	Engine string
}

// Executor starts and stops runs' tasks on an engine. Start is idempotent
// per run id and attempt: calling it again returns the same task and never
// starts a second one.
type Executor interface {
	// Start errors: a *CapacityError (ErrNoCapacity) when the engine has no
	// room now; ErrThrottled when it refuses calls for a while; ErrInvalid
	// when the run can never start as asked (the run fails with the reason);
	// anything else is transient.
	Start(ctx context.Context, r Run) (Task, error)
	// Stop asks the run's current task to stop; its end arrives as an event.
	Stop(ctx context.Context, r Run) error
	// Describe reports the current attempt's task; ErrNotFound when the
	// engine does not know it (never started, or forgotten).
	Describe(ctx context.Context, r Run) (TaskEvent, error)
}

// LogEvent is one line a job wrote.
type LogEvent struct {
	Timestamp time.Time `json:"timestamp"`
	Message   string    `json:"message"`
	// Stream is "stderr" for a line the job wrote to its standard error,
	// when the engine tells them apart (the local executor does; ECS's
	// awslogs driver sends both streams to one log stream unmarked, so
	// there every line has no stream).
	Stream string `json:"stream,omitempty"`
}

// LogQuery pages through a run's log lines.
type LogQuery struct {
	Token string
	Limit int
	// Since and Until bound the lines' timestamps; zero is unbounded.
	Since, Until time.Time
	// Search keeps only lines containing it.
	Search string
	// Tail, when > 0 and Token is empty, starts at the last Tail lines.
	Tail int
}

// MaxLogPageBytes bounds the messages of one page of log lines (besides
// the line limit): a page of a run that writes huge lines stays small, as
// CloudWatch Logs' GetLogEvents pages do (1 MB,
// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html).
const MaxLogPageBytes = 1 << 20

// LogPage is one page of log lines. End means no more lines exist now; a
// later call with NextToken returns lines written since.
type LogPage struct {
	Events    []LogEvent
	NextToken string
	End       bool
}

// LogReader reads the lines a run's tasks wrote, across its attempts.
// A malformed token is ErrInvalid.
type LogReader interface {
	ReadLogs(ctx context.Context, r Run, q LogQuery) (LogPage, error)
}
