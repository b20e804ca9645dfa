package awsecs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Config is one Flotilla cluster's ECS settings.
type Config struct {
	// Cluster is the ECS cluster's name or ARN (required).
	Cluster string
	// LaunchType is FARGATE (the default) or EC2. It is ignored when
	// CapacityProviders is set.
	LaunchType string
	// CapacityProviders, when set, is the capacity provider strategy
	// (FARGATE_SPOT, or an Auto Scaling group's provider).
	CapacityProviders []CapacityProvider
	// Subnets and SecurityGroups are the tasks' awsvpc network settings
	// (Subnets is required on Fargate).
	Subnets        []string
	SecurityGroups []string
	// AssignPublicIP gives tasks a public IP (needed to pull images from a
	// public subnet without a NAT gateway).
	AssignPublicIP bool
	// ExecutionRoleARN lets the ECS agent pull images and write logs;
	// TaskRoleARN is the job's own AWS identity (optional).
	ExecutionRoleARN string
	TaskRoleARN      string
	// LogGroup is the awslogs group (default /flotilla/runs); the stream
	// is <LogStreamPrefix>/<ContainerName>/<task-id>.
	LogGroup        string
	LogStreamPrefix string // default "flotilla"
	// Region is the awslogs region (default: the ECS client's region).
	Region string
	// ContainerName names the job's container (default "job").
	ContainerName string
	// FamilyPrefix starts every task definition family this executor
	// registers (default "flotilla-"); a deployment's stage sets its own, so
	// that each stage's IAM scope covers only its families.
	FamilyPrefix string
	// SecretsPrefix, when set, is the name prefix of the SSM parameters and
	// Secrets Manager secrets the execution role may read; a run whose
	// secrets lie outside it is refused at launch (CheckSecrets).
	SecretsPrefix string
}

// CapacityProvider is one item of a capacity provider strategy.
type CapacityProvider struct {
	Name   string
	Weight int32
	Base   int32
}

// The defaults of Config.
const (
	DefaultLogGroup        = "/flotilla/runs"
	DefaultLogStreamPrefix = "flotilla"
	DefaultFamilyPrefix    = "flotilla-"
	DefaultContainerName   = "job"
)

// Tag keys Flotilla puts on task definitions and tasks.
const (
	TagRunID      = "flotilla:run-id"
	TagAttempt    = "flotilla:attempt"
	TagDefinition = "flotilla:definition-id"
	TagRevision   = "flotilla:definition-revision"
	TagSpec       = "flotilla:spec"
)

// Executor starts, stops and describes runs' tasks on one ECS cluster.
type Executor struct {
	client *ecs.Client
	cfg    Config

	mu       sync.Mutex
	defs     map[string]string        // spec hash → task definition ARN
	inflight map[string]chan struct{} // spec hash → registration in progress
}

var _ flotilla.Executor = (*Executor)(nil)

// New returns an Executor for cfg, with defaults applied.
func New(client *ecs.Client, cfg Config) (*Executor, error) {
	if cfg.Cluster == "" {
		return nil, flotilla.Invalid("cluster", "is required")
	}
	if cfg.LaunchType == "" {
		cfg.LaunchType = string(types.LaunchTypeFargate)
	}
	if cfg.LaunchType != string(types.LaunchTypeFargate) && cfg.LaunchType != string(types.LaunchTypeEc2) {
		return nil, flotilla.Invalid("launch_type", "must be FARGATE or EC2, not %q", cfg.LaunchType)
	}
	if cfg.LogGroup == "" {
		cfg.LogGroup = DefaultLogGroup
	}
	if cfg.FamilyPrefix == "" {
		cfg.FamilyPrefix = DefaultFamilyPrefix
	}
	if cfg.LogStreamPrefix == "" {
		cfg.LogStreamPrefix = DefaultLogStreamPrefix
	}
	if cfg.ContainerName == "" {
		cfg.ContainerName = DefaultContainerName
	}
	if cfg.Region == "" {
		cfg.Region = client.Options().Region
	}
	return &Executor{client: client, cfg: cfg, defs: map[string]string{}, inflight: map[string]chan struct{}{}}, nil
}

// Engine is what the executor's tasks run on: FARGATE or EC2.
func (e *Executor) Engine() string {
	if len(e.cfg.CapacityProviders) > 0 {
		if strings.HasPrefix(e.cfg.CapacityProviders[0].Name, "FARGATE") {
			return flotilla.EngineFargate
		}
		return flotilla.EngineEC2
	}
	return e.cfg.LaunchType
}

// Start runs the run's current attempt. Calling it again for the same run
// and attempt returns the task already started.
func (e *Executor) Start(ctx context.Context, r flotilla.Run) (flotilla.Task, error) {
	tdArn, err := e.taskDefinition(ctx, r)
	if err != nil {
		return flotilla.Task{}, fmt.Errorf("start run %s attempt %d: %w", r.ID, r.Attempt, err)
	}
	out, err := e.client.RunTask(ctx, e.runTaskInput(r, tdArn))
	if err != nil {
		var conflict *types.ConflictException
		if errors.As(err, &conflict) {
			// The clientToken was used with other parameters: the task of
			// this attempt exists already.
			return e.existingTask(ctx, r, conflict.ResourceIds)
		}
		return flotilla.Task{}, fmt.Errorf("start run %s attempt %d: run task: %w", r.ID, r.Attempt, translate(err))
	}
	if len(out.Tasks) > 0 {
		return flotilla.Task{ID: TaskID(aws.ToString(out.Tasks[0].TaskArn)), Engine: e.Engine()}, nil
	}
	if len(out.Failures) > 0 {
		return flotilla.Task{}, fmt.Errorf("start run %s attempt %d: %w", r.ID, r.Attempt, ClassifyFailure(out.Failures[0]))
	}
	return flotilla.Task{}, fmt.Errorf("start run %s attempt %d: RunTask returned neither tasks nor failures", r.ID, r.Attempt)
}

func (e *Executor) runTaskInput(r flotilla.Run, tdArn string) *ecs.RunTaskInput {
	env := make([]types.KeyValuePair, 0, len(r.Env)+3)
	for k, v := range r.Env {
		env = append(env, types.KeyValuePair{Name: aws.String(k), Value: aws.String(v)})
	}
	// What the job knows of itself, as the local executor gives it (a job
	// that launches runs passes FLOTILLA_RUN_ID as their parent). Users'
	// variables cannot start with FLOTILLA_, so these never collide.
	for k, v := range flotilla.RunEnv(r) {
		env = append(env, types.KeyValuePair{Name: aws.String(k), Value: aws.String(v)})
	}
	sort.Slice(env, func(i, j int) bool { return *env[i].Name < *env[j].Name })
	co := types.ContainerOverride{
		Name:        aws.String(e.cfg.ContainerName),
		Command:     []string{"sh", "-c", r.Command},
		Environment: env,
	}
	if r.GPU > 0 {
		co.ResourceRequirements = []types.ResourceRequirement{{Type: types.ResourceTypeGpu, Value: aws.String(strconv.Itoa(r.GPU))}}
	}
	in := &ecs.RunTaskInput{
		Cluster:        aws.String(e.cfg.Cluster),
		TaskDefinition: aws.String(tdArn),
		ClientToken:    aws.String(ClientToken(r.ID, r.Attempt)),
		StartedBy:      aws.String(r.ID),
		Group:          aws.String(Group(r.Attempt)),
		Count:          aws.Int32(1),
		Overrides: &types.TaskOverride{
			ContainerOverrides: []types.ContainerOverride{co},
			Cpu:                aws.String(strconv.Itoa(r.CPU)),
			Memory:             aws.String(strconv.Itoa(r.Memory)),
		},
		PropagateTags:        types.PropagateTagsTaskDefinition,
		EnableECSManagedTags: true,
		Tags: []types.Tag{
			{Key: aws.String(TagRunID), Value: aws.String(r.ID)},
			{Key: aws.String(TagAttempt), Value: aws.String(strconv.Itoa(r.Attempt))},
		},
	}
	if len(e.cfg.CapacityProviders) > 0 {
		for _, cp := range e.cfg.CapacityProviders {
			in.CapacityProviderStrategy = append(in.CapacityProviderStrategy,
				types.CapacityProviderStrategyItem{CapacityProvider: aws.String(cp.Name), Weight: cp.Weight, Base: cp.Base})
		}
	} else {
		in.LaunchType = types.LaunchType(e.cfg.LaunchType)
	}
	if len(e.cfg.Subnets) > 0 {
		assign := types.AssignPublicIpDisabled
		if e.cfg.AssignPublicIP {
			assign = types.AssignPublicIpEnabled
		}
		in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: e.cfg.Subnets, SecurityGroups: e.cfg.SecurityGroups, AssignPublicIp: assign,
		}}
	}
	return in
}

// existingTask finds the task a conflicting RunTask refers to.
func (e *Executor) existingTask(ctx context.Context, r flotilla.Run, arns []string) (flotilla.Task, error) {
	if len(arns) > 0 {
		return flotilla.Task{ID: TaskID(arns[0]), Engine: e.Engine()}, nil
	}
	t, err := e.findTask(ctx, r)
	if err != nil {
		return flotilla.Task{}, fmt.Errorf("start run %s attempt %d: find the task its client token started: %w", r.ID, r.Attempt, err)
	}
	return flotilla.Task{ID: TaskID(aws.ToString(t.TaskArn)), Engine: e.Engine()}, nil
}

// Stop asks the current attempt's task to stop. ErrNotFound: no task.
func (e *Executor) Stop(ctx context.Context, r flotilla.Run) error {
	id := currentTaskID(r)
	if id == "" {
		t, err := e.findTask(ctx, r)
		if err != nil {
			return fmt.Errorf("stop run %s: %w", r.ID, err)
		}
		id = TaskID(aws.ToString(t.TaskArn))
	}
	reason := "stopped by Flotilla"
	if sr := r.StopRequest; sr != nil && sr.Reason != "" {
		reason = sr.Reason
	}
	if len(reason) > 255 {
		reason = reason[:255]
	}
	_, err := e.client.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(e.cfg.Cluster), Task: aws.String(id), Reason: aws.String(reason)})
	if err != nil {
		return fmt.Errorf("stop run %s task %s: %w", r.ID, id, translateTaskErr(err))
	}
	return nil
}

// Describe reports the current attempt's task. ErrNotFound when ECS does
// not know it (never started, or stopped more than about an hour ago).
func (e *Executor) Describe(ctx context.Context, r flotilla.Run) (flotilla.TaskEvent, error) {
	var task types.Task
	if id := currentTaskID(r); id != "" {
		out, err := e.client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(e.cfg.Cluster), Tasks: []string{id}})
		if err != nil {
			return flotilla.TaskEvent{}, fmt.Errorf("describe run %s task %s: %w", r.ID, id, translateTaskErr(err))
		}
		if len(out.Tasks) == 0 {
			return flotilla.TaskEvent{}, fmt.Errorf("describe run %s task %s: %w", r.ID, id, flotilla.ErrNotFound)
		}
		task = out.Tasks[0]
	} else {
		t, err := e.findTask(ctx, r)
		if err != nil {
			return flotilla.TaskEvent{}, fmt.Errorf("describe run %s: %w", r.ID, err)
		}
		task = t
	}
	ev := TaskEventOf(task, e.cfg.ContainerName)
	ev.Cluster = r.Cluster
	if ev.Attempt == 0 {
		ev.Attempt = r.Attempt
	}
	return ev, nil
}

// findTask finds the current attempt's task by startedBy when its id is
// unknown (a crash between RunTask and recording the id). ErrNotFound: none.
//
// ListTasks takes startedBy only as its only filter, and then lists tasks
// whose desired status is RUNNING (ECS API Reference, ListTasks: "When you
// specify startedBy as the filter, it must be the only filter that you use";
// "The default status filter is RUNNING"). A task already stopped is found
// among the family's stopped tasks (ECS keeps them listed for at least an
// hour), filtered by startedBy here.
func (e *Executor) findTask(ctx context.Context, r flotilla.Run) (types.Task, error) {
	list := func(in *ecs.ListTasksInput, maxPages int) ([]string, error) {
		var arns []string
		p := ecs.NewListTasksPaginator(e.client, in)
		for page := 0; p.HasMorePages() && page < maxPages; page++ {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list tasks: %w", translateTaskErr(err))
			}
			arns = append(arns, out.TaskArns...)
		}
		return arns, nil
	}
	running, err := list(&ecs.ListTasksInput{Cluster: aws.String(e.cfg.Cluster), StartedBy: aws.String(r.ID)}, 10)
	if err != nil {
		return types.Task{}, err
	}
	best, err := e.newestOfAttempt(ctx, r, running)
	if err != nil || best != nil {
		return derefTask(best), err
	}
	// Bounded: the family's tasks stopped in the last hour or so, 100 a page.
	stopped, err := list(&ecs.ListTasksInput{Cluster: aws.String(e.cfg.Cluster),
		Family: aws.String(FamilyOf(e.cfg.FamilyPrefix, r.DefinitionID)), DesiredStatus: types.DesiredStatusStopped}, 10)
	if err != nil {
		return types.Task{}, err
	}
	if best, err = e.newestOfAttempt(ctx, r, stopped); err != nil {
		return types.Task{}, err
	}
	if best == nil {
		return types.Task{}, fmt.Errorf("no task for attempt %d: %w", r.Attempt, flotilla.ErrNotFound)
	}
	return *best, nil
}

// newestOfAttempt describes arns and returns the newest task that run r
// started for its current attempt, or nil.
func (e *Executor) newestOfAttempt(ctx context.Context, r flotilla.Run, arns []string) (*types.Task, error) {
	var best *types.Task
	for chunk := range slices.Chunk(arns, 100) {
		out, err := e.client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(e.cfg.Cluster), Tasks: chunk})
		if err != nil {
			return nil, fmt.Errorf("describe tasks: %w", translateTaskErr(err))
		}
		for i := range out.Tasks {
			t := &out.Tasks[i]
			if aws.ToString(t.StartedBy) != r.ID || AttemptOf(aws.ToString(t.Group)) != r.Attempt {
				continue
			}
			if best == nil || aws.ToTime(t.CreatedAt).After(aws.ToTime(best.CreatedAt)) {
				best = t
			}
		}
	}
	return best, nil
}

func derefTask(t *types.Task) types.Task {
	if t == nil {
		return types.Task{}
	}
	return *t
}

func currentTaskID(r flotilla.Run) string {
	if a := r.Current(); a != nil {
		return a.TaskID
	}
	return ""
}

// ClientToken is RunTask's idempotency token for a run attempt:
// "<run_id>#<attempt>", or its SHA-256 when that is not 1–64 printable
// ASCII characters.
func ClientToken(runID string, attempt int) string {
	s := runID + "#" + strconv.Itoa(attempt)
	ok := len(s) <= 64
	for i := 0; ok && i < len(s); i++ {
		ok = s[i] >= 33 && s[i] <= 126
	}
	if ok {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Group is the task group that names a run attempt. ECS echoes it in task
// state events, which carry no tags.
func Group(attempt int) string { return "flotilla-attempt-" + strconv.Itoa(attempt) }

// AttemptOf returns the attempt a task group names, or 0.
func AttemptOf(group string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(group, "flotilla-attempt-"))
	if err != nil || !strings.HasPrefix(group, "flotilla-attempt-") || n < 0 {
		return 0
	}
	return n
}

// TaskID returns the id at the end of a task ARN (or the id itself).
func TaskID(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// ClusterName returns the name at the end of a cluster ARN (or the name).
func ClusterName(arn string) string {
	if i := strings.LastIndex(arn, ":cluster/"); i >= 0 {
		return arn[i+len(":cluster/"):]
	}
	return arn
}

var familyUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// Family is the task definition family of a definition under the default
// prefix: flotilla-<definition_id>.
func Family(definitionID string) string { return FamilyOf(DefaultFamilyPrefix, definitionID) }

// FamilyOf is <prefix><definition_id>, limited to ECS's letters, digits, _ and -.
func FamilyOf(prefix, definitionID string) string {
	f := prefix + familyUnsafe.ReplaceAllString(definitionID, "-")
	if len(f) > 255 {
		f = f[:255]
	}
	return f
}

// TaskEventOf maps an ECS task (from DescribeTasks, or decoded from an
// EventBridge event) to a flotilla.TaskEvent. container names the job's
// essential container; when the task has no container of that name and
// only one container, that one is used. Cluster is the ECS cluster's name.
func TaskEventOf(t types.Task, container string) flotilla.TaskEvent {
	ev := flotilla.TaskEvent{
		RunID:         aws.ToString(t.StartedBy),
		Attempt:       AttemptOf(aws.ToString(t.Group)),
		TaskID:        TaskID(aws.ToString(t.TaskArn)),
		Cluster:       ClusterName(aws.ToString(t.ClusterArn)),
		Version:       t.Version,
		StopCode:      string(t.StopCode),
		StoppedReason: aws.ToString(t.StoppedReason),
		// What the task runs on: its capacity provider (FARGATE_SPOT, an
		// Auto Scaling group's), else its launch type.
		Capacity: firstNonEmpty(aws.ToString(t.CapacityProviderName), string(t.LaunchType)),
	}
	switch last := aws.ToString(t.LastStatus); {
	case last == "STOPPED":
		ev.State = flotilla.TaskStopped
		ev.At = firstTime(t.StoppedAt, t.ExecutionStoppedAt, t.StoppingAt, t.StartedAt, t.CreatedAt)
	case last == "RUNNING" || (t.StartedAt != nil && last != "PROVISIONING" && last != "PENDING" && last != "ACTIVATING"):
		// DEACTIVATING, STOPPING and DEPROVISIONING follow RUNNING when the
		// task started; they are still RUNNING for the run.
		ev.State = flotilla.TaskRunning
		ev.At = firstTime(t.StartedAt, t.CreatedAt)
	default:
		ev.State = flotilla.TaskPending
		ev.At = firstTime(t.PullStartedAt, t.CreatedAt)
	}
	c := jobContainer(t.Containers, container)
	if c != nil {
		if c.ExitCode != nil {
			code := int(*c.ExitCode)
			ev.ExitCode = &code
		}
		ev.ContainerReason = aws.ToString(c.Reason)
		ev.Container = aws.ToString(c.Name)
	} else {
		// No container is known to be the job's: if any ran and exited,
		// the task ran (it is not started again).
		for _, x := range t.Containers {
			ev.ContainersRan = ev.ContainersRan || x.ExitCode != nil
			if ev.ContainerReason == "" {
				ev.ContainerReason = aws.ToString(x.Reason)
			}
		}
	}
	ev.OOM = strings.HasPrefix(ev.ContainerReason, "OutOfMemoryError") || strings.Contains(ev.StoppedReason, "OutOfMemoryError")
	return ev
}

// jobContainer picks the container whose end is the run's: the one named
// container (the job's, in every task definition Flotilla registers); else
// the only one; else, in a task with sidecars and no container of that name
// (a task definition made elsewhere), the essential container that stopped
// the task, which is the one that exited non-zero, or else the one that
// exited 0 (ECS stops a task when an essential container exits: "Amazon ECS
// task definition parameters", essential). Nil when none qualifies.
func jobContainer(cs []types.Container, container string) *types.Container {
	for i := range cs {
		if aws.ToString(cs[i].Name) == container {
			return &cs[i]
		}
	}
	if len(cs) == 1 {
		return &cs[0]
	}
	var exited0 *types.Container
	for i := range cs {
		switch {
		case cs[i].ExitCode == nil:
		case *cs[i].ExitCode != 0:
			return &cs[i]
		case exited0 == nil:
			exited0 = &cs[i]
		}
	}
	return exited0
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstTime(ts ...*time.Time) time.Time {
	for _, t := range ts {
		if t != nil && !t.IsZero() {
			return t.UTC()
		}
	}
	return time.Time{}
}
