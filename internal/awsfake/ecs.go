package awsfake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ECSOptions configure an ECS fake. The zero value answers every call,
// starts every task and leaves tasks where they are until Advance.
type ECSOptions struct {
	// Region and Account appear in ARNs (defaults us-east-1, 123456789012).
	Region, Account string
	// Now is the clock for task times and events (default time.Now).
	Now func() time.Time
	// Auto lets tasks live on their own, one step every StepDelay (real
	// time), instead of waiting for Advance. A command's `sleep N` then
	// takes N seconds times SleepScale (default 1).
	Auto       bool
	StepDelay  time.Duration
	SleepScale float64
	// Script scripts a run on its first RunTask call, unless SetScript did.
	Script func(Launch) Script
	// Logs, when set, receives the lines of tasks whose task definition
	// uses the awslogs driver, in stream <prefix>/<container>/<task-id>.
	Logs *Logs
	// MayPassRole, when set, stands for the caller's iam:PassRole: a task
	// definition whose taskRoleArn or executionRoleArn it refuses is
	// refused with AccessDeniedException, in IAM's words ("User: … is not
	// authorized to perform: iam:PassRole on resource: <role>"). Only our
	// fake decides this; in AWS it is the caller's IAM policy.
	MayPassRole func(roleARN string) bool
	// Faults injects throttles and 500s into a fraction of responses. A
	// RunTask 500 is sent after the task was started (the response is
	// lost), so retries must rely on clientToken.
	Faults Faults
}

// Launch describes a RunTask call, for ECSOptions.Script.
type Launch struct {
	StartedBy string
	Group     string
	Cluster   string
	Tags      map[string]string
	Request   RunTaskRequest
}

// ECS is a fake of Amazon ECS (X-Amz-Target
// AmazonEC2ContainerServiceV20141113.*): RegisterTaskDefinition,
// DescribeTaskDefinition, RunTask, StopTask, DescribeTasks, ListTasks. It is
// an http.Handler.
type ECS struct {
	opts   ECSOptions
	faults *faulter
	bus    *eventBus

	mu       sync.Mutex
	families map[string][]*taskDef
	tasks    map[string]*task // by task id
	order    []string         // task ids in creation order
	tokens   map[string]idem  // cluster + "/" + clientToken
	runs     map[string]*runState
	scripts  map[string]Script
	calls    map[string]int
	requests []RunTaskRequest
	seq      int
}

type idem struct {
	params string
	ids    []string
}

type runState struct {
	script  Script
	replies int
	calls   int
	tasks   []string
}

// NewECS returns an ECS fake with no task definitions and no tasks.
func NewECS(o ECSOptions) *ECS {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Account == "" {
		o.Account = "123456789012"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &ECS{
		opts: o, faults: newFaulter(o.Faults), bus: newEventBus(),
		families: map[string][]*taskDef{}, tasks: map[string]*task{}, tokens: map[string]idem{},
		runs: map[string]*runState{}, scripts: map[string]Script{}, calls: map[string]int{},
	}
}

// SetScript scripts a run (by startedBy) before its first RunTask.
func (f *ECS) SetScript(startedBy string, s Script) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripts[startedBy] = s
}

// Subscribe registers fn to receive every EventBridge "ECS Task State
// Change" event (JSON), in order, on one goroutine, after the change.
func (f *ECS) Subscribe(fn func(event []byte)) { f.bus.subscribe(fn) }

// Flush waits until every event emitted so far was delivered.
func (f *ECS) Flush() { f.bus.flush() }

// Events returns every event emitted so far, in order.
func (f *ECS) Events() [][]byte { return f.bus.history() }

// Calls returns how many requests each operation received (faults included).
func (f *ECS) Calls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.calls))
	for k, v := range f.calls {
		out[k] = v
	}
	return out
}

// FaultsInjected returns how many faults each operation got.
func (f *ECS) FaultsInjected() map[string]int { return f.faults.counts() }

// RunTaskCalls returns how many RunTask requests named startedBy.
func (f *ECS) RunTaskCalls(startedBy string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rs := f.runs[startedBy]; rs != nil {
		return rs.calls
	}
	return 0
}

// TasksStarted returns the ids of the tasks started for startedBy, in order.
func (f *ECS) TasksStarted(startedBy string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rs := f.runs[startedBy]; rs != nil {
		return slices.Clone(rs.tasks)
	}
	return nil
}

// RunTaskRequests returns every RunTask request received, as decoded.
func (f *ECS) RunTaskRequests() []RunTaskRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// Registrations returns how many revisions a family has.
func (f *ECS) Registrations(family string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.families[family])
}

// LatestTaskDefinition returns the request body of a family's newest
// revision (nil when it has none).
func (f *ECS) LatestTaskDefinition(family string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	revs := f.families[family]
	if len(revs) == 0 {
		return nil
	}
	return revs[len(revs)-1].body
}

// TaskStatus returns a task's lastStatus ("" when unknown).
func (f *ECS) TaskStatus(taskID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tasks[taskID]; t != nil {
		return t.lastStatus
	}
	return ""
}

// Forget drops a task, as ECS does about an hour after it stopped.
func (f *ECS) Forget(taskID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tasks, taskID)
}

// Advance moves every live task one step in its life (a state change, or
// the next lines after a `sleep`), and returns how many moved.
func (f *ECS) Advance() int {
	f.mu.Lock()
	var events [][]byte
	moved := 0
	for _, id := range f.order {
		if t := f.tasks[id]; t != nil && !t.driven {
			ok, ev := f.stepLocked(t)
			if ok {
				moved++
			}
			events = append(events, ev)
		}
	}
	f.mu.Unlock()
	f.bus.emit(events...)
	return moved
}

// Settle advances until no task moves: every task ends, except held ones,
// which stay RUNNING.
func (f *ECS) Settle() {
	for f.Advance() > 0 {
	}
}

// Release lets a held task of startedBy finish its life.
func (f *ECS) Release(startedBy string) {
	f.mu.Lock()
	var started []*task
	for _, id := range f.runs[startedBy].tasksOrNil() {
		if t := f.tasks[id]; t != nil && t.held {
			t.held = false
			started = append(started, t)
		}
	}
	f.mu.Unlock()
	for _, t := range started {
		f.drive(t)
	}
}

func (rs *runState) tasksOrNil() []string {
	if rs == nil {
		return nil
	}
	return rs.tasks
}

func (f *ECS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	serveJSON(w, r, "AmazonEC2ContainerServiceV20141113", f.handle)
}

func (f *ECS) handle(op string, body []byte) (any, *apiError) {
	f.mu.Lock()
	f.calls[op]++
	f.mu.Unlock()
	fault := f.faults.draw(op)
	if fault == http.StatusBadRequest {
		return nil, throttled()
	}
	if fault == http.StatusInternalServerError && op != "RunTask" {
		return nil, serverErr("ServerException")
	}
	switch op {
	case "RegisterTaskDefinition":
		return f.registerTaskDefinition(body)
	case "DescribeTaskDefinition":
		return f.describeTaskDefinition(body)
	case "RunTask":
		out, err := f.runTask(body)
		if err == nil && fault == http.StatusInternalServerError {
			return nil, serverErr("ServerException")
		}
		return out, err
	case "StopTask":
		return f.stopTask(body)
	case "DescribeTasks":
		return f.describeTasks(body)
	case "ListTasks":
		return f.listTasks(body)
	}
	return nil, clientErr("InvalidParameterException", "the ECS fake does not implement "+op)
}

func (f *ECS) arn(resource string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:%s", f.opts.Region, f.opts.Account, resource)
}

// clusterName accepts a cluster name or ARN (default "default").
func clusterName(s string) string {
	if s == "" {
		return "default"
	}
	if i := strings.LastIndex(s, ":cluster/"); i >= 0 {
		return s[i+len(":cluster/"):]
	}
	return s
}

// taskID accepts a task id or ARN.
func taskID(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}

// ---- task definitions ----

type taskDef struct {
	arn, family string
	revision    int
	body        map[string]any
	tags        []any
	containers  []containerDef
}

type containerDef struct {
	Name             string   `json:"name"`
	Image            string   `json:"image"`
	Command          []string `json:"command"`
	Essential        *bool    `json:"essential"`
	LogConfiguration *struct {
		LogDriver string            `json:"logDriver"`
		Options   map[string]string `json:"options"`
	} `json:"logConfiguration"`
}

func (f *ECS) registerTaskDefinition(body []byte) (any, *apiError) {
	var raw map[string]any
	var in struct {
		Family               string         `json:"family"`
		ContainerDefinitions []containerDef `json:"containerDefinitions"`
		Tags                 []any          `json:"tags"`
		TaskRoleArn          string         `json:"taskRoleArn"`
		ExecutionRoleArn     string         `json:"executionRoleArn"`
	}
	if err := decode(body, &raw); err != nil {
		return nil, err
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Family == "" || len(in.ContainerDefinitions) == 0 {
		return nil, clientErr("ClientException", "Family and container definitions are required.")
	}
	for _, c := range in.ContainerDefinitions {
		if c.Name == "" || c.Image == "" {
			return nil, clientErr("ClientException", "Container.name and Container.image should not be null or empty.")
		}
	}
	for _, role := range []string{in.ExecutionRoleArn, in.TaskRoleArn} {
		if role != "" && f.opts.MayPassRole != nil && !f.opts.MayPassRole(role) {
			return nil, clientErr("AccessDeniedException", "User: arn:aws:sts::"+f.opts.Account+":assumed-role/flotilla-dispatcher/flotilla-dispatcher is not authorized to perform: iam:PassRole on resource: "+role)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rev := len(f.families[in.Family]) + 1
	td := &taskDef{arn: f.arn(fmt.Sprintf("task-definition/%s:%d", in.Family, rev)), family: in.Family, revision: rev,
		tags: in.Tags, containers: in.ContainerDefinitions}
	delete(raw, "tags")
	raw["taskDefinitionArn"] = td.arn
	raw["revision"] = rev
	raw["status"] = "ACTIVE"
	raw["registeredAt"] = epoch(f.opts.Now())
	raw["compatibilities"] = []string{"EC2", "FARGATE"}
	td.body = raw
	f.families[in.Family] = append(f.families[in.Family], td)
	return map[string]any{"taskDefinition": raw, "tags": nonNil(in.Tags)}, nil
}

func nonNil(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

// lookupTaskDef resolves family, family:revision or an ARN.
func (f *ECS) lookupTaskDef(ref string) *taskDef {
	if i := strings.LastIndex(ref, ":task-definition/"); i >= 0 {
		ref = ref[i+len(":task-definition/"):]
	}
	family, revStr, hasRev := strings.Cut(ref, ":")
	revs := f.families[family]
	if len(revs) == 0 {
		return nil
	}
	if !hasRev {
		return revs[len(revs)-1]
	}
	n, err := strconv.Atoi(revStr)
	if err != nil || n < 1 || n > len(revs) {
		return nil
	}
	return revs[n-1]
}

func (f *ECS) describeTaskDefinition(body []byte) (any, *apiError) {
	var in struct {
		TaskDefinition string   `json:"taskDefinition"`
		Include        []string `json:"include"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	td := f.lookupTaskDef(in.TaskDefinition)
	if td == nil {
		return nil, clientErr("ClientException", "Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": td.body}
	if slices.Contains(in.Include, "TAGS") {
		out["tags"] = nonNil(td.tags)
	}
	return out, nil
}

// ---- tasks ----

// RunTaskRequest is a RunTask request as the fake received it.
type RunTaskRequest struct {
	Cluster                  string `json:"cluster"`
	TaskDefinition           string `json:"taskDefinition"`
	StartedBy                string `json:"startedBy"`
	Group                    string `json:"group"`
	ClientToken              string `json:"clientToken"`
	LaunchType               string `json:"launchType"`
	PropagateTags            string `json:"propagateTags"`
	Count                    *int   `json:"count"`
	CapacityProviderStrategy []struct {
		CapacityProvider string `json:"capacityProvider"`
		Weight           int    `json:"weight"`
		Base             int    `json:"base"`
	} `json:"capacityProviderStrategy"`
	NetworkConfiguration *struct {
		AwsvpcConfiguration *struct {
			Subnets        []string `json:"subnets"`
			SecurityGroups []string `json:"securityGroups"`
			AssignPublicIp string   `json:"assignPublicIp"`
		} `json:"awsvpcConfiguration"`
	} `json:"networkConfiguration"`
	Overrides *struct {
		Cpu                string `json:"cpu"`
		Memory             string `json:"memory"`
		ContainerOverrides []struct {
			Name        string   `json:"name"`
			Command     []string `json:"command"`
			Environment []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"environment"`
			ResourceRequirements []struct {
				Type  string `json:"type"`
				Value string `json:"value"`
			} `json:"resourceRequirements"`
		} `json:"containerOverrides"`
	} `json:"overrides"`
	Tags []Tag `json:"tags"`

	overridesRaw json.RawMessage
}

// Tag is an ECS tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (f *ECS) runTask(body []byte) (any, *apiError) {
	var in RunTaskRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(body, &raw)
	in.overridesRaw = raw["overrides"]
	delete(raw, "clientToken")
	params, _ := json.Marshal(raw)

	f.mu.Lock()
	f.requests = append(f.requests, in)
	rs := f.runs[in.StartedBy]
	if rs == nil {
		rs = &runState{}
		f.runs[in.StartedBy] = rs
		if s, ok := f.scripts[in.StartedBy]; ok {
			rs.script = s
		} else if f.opts.Script != nil {
			tags := map[string]string{}
			for _, t := range in.Tags {
				tags[t.Key] = t.Value
			}
			rs.script = f.opts.Script(Launch{StartedBy: in.StartedBy, Group: in.Group, Cluster: clusterName(in.Cluster), Tags: tags, Request: in})
		}
	}
	rs.calls++
	out, started, aerr := f.runTaskLocked(in, string(params), rs)
	var ev []byte
	if started != nil {
		ev = started.event(f)
	}
	f.mu.Unlock()
	if aerr != nil {
		return nil, aerr
	}
	if started != nil {
		f.bus.emit(ev)
		f.drive(started)
	}
	return out, nil
}

func (f *ECS) runTaskLocked(in RunTaskRequest, params string, rs *runState) (any, *task, *apiError) {
	switch {
	case in.TaskDefinition == "":
		return nil, nil, clientErr("InvalidParameterException", "taskDefinition can not be blank.")
	case len(in.StartedBy) > 128:
		return nil, nil, clientErr("InvalidParameterException", "startedBy must be at most 128 characters")
	case len(in.ClientToken) > 64:
		return nil, nil, clientErr("InvalidParameterException", "clientToken must be at most 64 characters")
	case in.LaunchType != "" && len(in.CapacityProviderStrategy) > 0:
		return nil, nil, clientErr("InvalidParameterException", "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	case in.Count != nil && (*in.Count < 1 || *in.Count > 10):
		return nil, nil, clientErr("InvalidParameterException", "count must be between 1 and 10")
	case len(in.overridesRaw) > 8192:
		return nil, nil, clientErr("InvalidParameterException", "Container Overrides length must be at most 8192")
	case in.PropagateTags == "SERVICE":
		return nil, nil, clientErr("InvalidParameterException", "propagateTags SERVICE is not supported for RunTask")
	}
	if in.LaunchType == "FARGATE" && (in.NetworkConfiguration == nil || in.NetworkConfiguration.AwsvpcConfiguration == nil ||
		len(in.NetworkConfiguration.AwsvpcConfiguration.Subnets) == 0) {
		return nil, nil, clientErr("InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	}
	td := f.lookupTaskDef(in.TaskDefinition)
	if td == nil {
		return nil, nil, clientErr("InvalidParameterException", "TaskDefinition not found.")
	}
	cluster := clusterName(in.Cluster)
	key := cluster + "/" + in.ClientToken
	if in.ClientToken != "" {
		if prev, ok := f.tokens[key]; ok {
			if prev.params != params {
				arns := make([]string, 0, len(prev.ids))
				for _, id := range prev.ids {
					arns = append(arns, f.arn("task/"+cluster+"/"+id))
				}
				e := clientErr("ConflictException", "The request uses the same client token as a previous, but non-identical request. Do not reuse a client token with different requests, unless the requests are identical.")
				e.extra = map[string]any{"resourceIds": arns}
				return nil, nil, e
			}
			tasks := []any{}
			for _, id := range prev.ids {
				if t := f.tasks[id]; t != nil {
					tasks = append(tasks, t.json(false))
				}
			}
			return map[string]any{"tasks": tasks, "failures": []any{}}, nil, nil
		}
	}
	if rs.replies < len(rs.script.Replies) {
		r := rs.script.Replies[rs.replies]
		rs.replies++
		if r.Body != nil {
			return json.RawMessage(r.Body), nil, nil
		}
		if r.Failure != nil {
			fl := map[string]any{"reason": r.Failure.Reason}
			if r.Failure.Detail != "" {
				fl["detail"] = r.Failure.Detail
			}
			return map[string]any{"tasks": []any{}, "failures": []any{fl}}, nil, nil
		}
		return nil, nil, &apiError{status: r.Status, typ: r.Type, msg: r.Message}
	}
	life := Life{}
	if n := len(rs.script.Lives); n > 0 {
		life = rs.script.Lives[min(len(rs.tasks), n-1)]
	}
	t := f.newTask(in, td, cluster, life)
	f.tasks[t.id] = t
	f.order = append(f.order, t.id)
	rs.tasks = append(rs.tasks, t.id)
	if in.ClientToken != "" {
		f.tokens[key] = idem{params: params, ids: []string{t.id}}
	}
	return map[string]any{"tasks": []any{t.json(false)}, "failures": []any{}}, t, nil
}

func (f *ECS) stopTask(body []byte) (any, *apiError) {
	var in struct {
		Cluster, Task, Reason string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	t := f.tasks[taskID(in.Task)]
	if t == nil || t.cluster != clusterName(in.Cluster) {
		f.mu.Unlock()
		return nil, clientErr("InvalidParameterException", "The referenced task was not found.")
	}
	var ev []byte
	if t.lastStatus != "STOPPED" && t.desiredStatus != "STOPPED" {
		reason := in.Reason
		if reason == "" {
			reason = "Task stopped by user"
		}
		t.stop(f.opts.Now(), reason)
		ev = t.event(f)
	}
	out := map[string]any{"task": t.json(false)}
	f.mu.Unlock()
	f.bus.emit(ev)
	f.drive(t)
	return out, nil
}

func (f *ECS) describeTasks(body []byte) (any, *apiError) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
		Include []string `json:"include"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 || len(in.Tasks) > 100 {
		return nil, clientErr("InvalidParameterException", "Tasks cannot be empty and must hold at most 100 tasks.")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	tasks, failures := []any{}, []any{}
	cluster := clusterName(in.Cluster)
	for _, ref := range in.Tasks {
		t := f.tasks[taskID(ref)]
		if t == nil || t.cluster != cluster {
			arn := ref
			if !strings.HasPrefix(ref, "arn:") {
				arn = f.arn("task/" + cluster + "/" + ref)
			}
			failures = append(failures, map[string]any{"arn": arn, "reason": "MISSING"})
			continue
		}
		j := t.json(false)
		if slices.Contains(in.Include, "TAGS") {
			j["tags"] = t.tags
		}
		tasks = append(tasks, j)
	}
	return map[string]any{"tasks": tasks, "failures": failures}, nil
}

func (f *ECS) listTasks(body []byte) (any, *apiError) {
	var in struct {
		Cluster, StartedBy, Family, DesiredStatus string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	// As AWS documents ListTasks (ECS API Reference): "When you specify
	// startedBy as the filter, it must be the only filter that you use", and
	// the default desired status filter is RUNNING. (What the service answers
	// to both filters together is not documented; this fake refuses it, so
	// the executor's tests catch a request AWS does not promise to serve.)
	if in.StartedBy != "" && (in.Family != "" || in.DesiredStatus != "") {
		return nil, &apiError{status: 400, typ: "InvalidParameterException", msg: "startedBy must be the only filter"}
	}
	desired := in.DesiredStatus
	if desired == "" {
		desired = "RUNNING"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	arns := []string{}
	cluster := clusterName(in.Cluster)
	for _, id := range f.order {
		t := f.tasks[id]
		if t == nil || t.cluster != cluster || (in.StartedBy != "" && t.startedBy != in.StartedBy) ||
			(in.Family != "" && t.family != in.Family) || t.desiredStatus != desired {
			continue
		}
		arns = append(arns, t.arn)
	}
	return map[string]any{"taskArns": arns}, nil
}

func (f *ECS) newTask(in RunTaskRequest, td *taskDef, cluster string, life Life) *task {
	f.seq++
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/%s", cluster, f.seq, in.ClientToken)))
	id := hex.EncodeToString(sum[:16])
	now := f.opts.Now()
	c := td.containers[0]
	for _, cd := range td.containers {
		if cd.Essential == nil || *cd.Essential {
			c = cd
			break
		}
	}
	cmd := strings.Join(c.Command, " ")
	cpu, mem := fmt.Sprint(td.body["cpu"]), fmt.Sprint(td.body["memory"])
	if o := in.Overrides; o != nil {
		for _, co := range o.ContainerOverrides {
			if co.Name == c.Name && len(co.Command) > 0 {
				cmd = co.Command[len(co.Command)-1]
				if len(co.Command) < 3 || co.Command[0] != "sh" {
					cmd = strings.Join(co.Command, " ")
				}
			}
		}
		if o.Cpu != "" {
			cpu = o.Cpu
		}
		if o.Memory != "" {
			mem = o.Memory
		}
	}
	prog := emulate(cmd)
	if life.Logs != nil {
		prog.segments, prog.sleeps = [][]string{life.Logs}, nil
	}
	if life.ExitCode != nil {
		prog.exit = *life.ExitCode
	}
	launchType := in.LaunchType
	if launchType == "" {
		launchType = "FARGATE"
		if len(in.CapacityProviderStrategy) > 0 && !strings.HasPrefix(in.CapacityProviderStrategy[0].CapacityProvider, "FARGATE") {
			launchType = "EC2"
		}
	}
	t := &task{
		id: id, arn: f.arn("task/" + cluster + "/" + id), cluster: cluster, clusterArn: f.arn("cluster/" + cluster),
		tdArn: td.arn, family: td.family, startedBy: in.StartedBy, group: in.Group, launchType: launchType,
		cpu: cpu, memory: mem, overrides: in.overridesRaw, tags: append([]Tag{}, in.Tags...),
		lastStatus: "PROVISIONING", desiredStatus: "RUNNING", version: 1, createdAt: now, updatedAt: now,
		containers: []*container{{name: c.Name, image: c.Image, arn: f.arn("container/" + cluster + "/" + id + "/" + shortID(id+c.Name)), lastStatus: "PENDING"}},
		life:       life, prog: prog, wake: make(chan struct{}),
	}
	if life.Sidecar != "" {
		t.containers = append(t.containers, &container{name: life.Sidecar, image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
			arn: f.arn("container/" + cluster + "/" + id + "/" + shortID(id+life.Sidecar)), lastStatus: "PENDING", sidecar: true})
	}
	if t.group == "" {
		t.group = "family:" + td.family
	}
	if c.LogConfiguration != nil && c.LogConfiguration.LogDriver == "awslogs" {
		t.logGroup = c.LogConfiguration.Options["awslogs-group"]
		if p := c.LogConfiguration.Options["awslogs-stream-prefix"]; p != "" {
			t.logStream = p + "/" + c.Name + "/" + id
		}
	}
	t.steps = t.plan()
	return t
}

func shortID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// drive lets a task live on its own when the fake is in Auto mode: one
// goroutine per task applies its steps, waiting StepDelay (plus a step's
// sleep, scaled) before each; StopTask wakes it to re-plan.
func (f *ECS) drive(t *task) {
	if !f.opts.Auto {
		return
	}
	f.mu.Lock()
	if t.driven {
		f.mu.Unlock()
		return
	}
	t.driven = true
	f.mu.Unlock()
	go func() {
		for {
			f.mu.Lock()
			if len(t.steps) == 0 || t.held {
				t.driven = false
				f.mu.Unlock()
				return
			}
			wait := f.opts.StepDelay + time.Duration(float64(t.steps[0].sleep)*f.sleepScale())
			wake := t.wake
			f.mu.Unlock()
			if wait > 0 {
				timer := time.NewTimer(wait)
				select {
				case <-timer.C:
				case <-wake:
					timer.Stop()
					continue
				}
			}
			f.mu.Lock()
			if t.wake != wake {
				f.mu.Unlock()
				continue
			}
			_, ev := f.stepLocked(t)
			f.mu.Unlock()
			f.bus.emit(ev)
		}
	}()
}

func (f *ECS) sleepScale() float64 {
	if f.opts.SleepScale > 0 {
		return f.opts.SleepScale
	}
	return 1
}

// stepLocked applies a task's next step. It reports whether a step was
// applied and returns the event when the task's state changed.
func (f *ECS) stepLocked(t *task) (bool, []byte) {
	if len(t.steps) == 0 || t.held {
		return false, nil
	}
	st := t.steps[0]
	t.steps = t.steps[1:]
	now := f.opts.Now()
	if !st.apply(f, t, now) {
		return true, nil
	}
	t.version++
	t.updatedAt = now
	return true, t.event(f)
}

// write appends lines to the task's log stream, as the awslogs driver does.
func (f *ECS) write(t *task, now time.Time, lines []string) {
	if f.opts.Logs != nil && t.logGroup != "" && t.logStream != "" && len(lines) > 0 {
		f.opts.Logs.Write(t.logGroup, t.logStream, now, lines...)
	}
}
