package awsclient

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// A Recorder writes every AWS call a process makes as the IAM requests it
// causes (see IAMRequests), one JSON object a line, so that a test in infra/
// can evaluate each against the role policy of the function that made it.
// A call is attributed to the process's default function (a Lambda's own
// name) or to the one WithFunction puts in the context (tests that run
// several functions in one process); a call with neither is recorded for
// no function, and the proof fails on it rather than leave it unproven.
type Recorder struct {
	mu       sync.Mutex
	f        *os.File
	function string
	names    Names
	seen     map[string]bool
}

// Names are the deployment's resource names as the process knows them
// (its configuration), so that the recording speaks of the stack's
// resources rather than of one test's emulator names. See Canonical.
type Names struct {
	Table             string
	Queues            map[string]string // queue name (the URL's last segment) → cluster name
	ECSClusters       map[string]string // ECS cluster name → cluster name
	LogGroup          string
	TaskExecutionRole string // ARNs
	TaskRole          string
	SchedulerRole     string
	ScheduleGroup     string
	FamilyPrefix      string // of the task definition families registered
	SecretsPrefix     string // of the parameters and secrets jobs and webhooks read
	JobRolePrefix     string // of the roles definitions may run as
	// TaskDefinitionRoles are the roles (ARNs) of the task definitions this
	// process registered, by family: running one passes them. The
	// Recorder fills it from the RegisterTaskDefinition calls it sees.
	TaskDefinitionRoles map[string][]string
	UserPool            string // the Cognito user pool's id
}

// NewRecorder appends to a new file in dir (made if missing); calls are
// attributed to function unless the context names another.
func NewRecorder(dir, function string, names Names) (*Recorder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("iam recorder: %w", err)
	}
	f, err := os.CreateTemp(dir, "calls-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("iam recorder: %w", err)
	}
	return &Recorder{f: f, function: function, names: names, seen: map[string]bool{}}, nil
}

// Close closes the file.
func (r *Recorder) Close() error { return r.f.Close() }

type functionKey struct{}

// NotAFunction, given to WithFunction, marks the calls a test makes to
// check what the functions did: they are not recorded.
const NotAFunction = "-"

// WithFunction attributes the calls made with ctx to the named function.
func WithFunction(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, functionKey{}, name)
}

// Recorded is one line of a recording: an IAM request and who made it.
type Recorded struct {
	Function  string `json:"function"`
	Operation string `json:"operation"` // service.Operation, as the SDK names it
	IAMRequest
}

type paramsKey struct{}

// middleware notes each call's input when it starts and records it only
// when a request is really sent (Finalize, once per attempt): a call
// stopped before sending (a dry run that only measures its request) asks
// IAM nothing.
func (r *Recorder) middleware(stack *middleware.Stack) error {
	err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("flotillaIAMRecorderInput",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(middleware.WithStackValue(ctx, paramsKey{}, in.Parameters), in)
		}), middleware.After)
	if err != nil {
		return err
	}
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("flotillaIAMRecorder",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			fn := r.function
			if v, ok := ctx.Value(functionKey{}).(string); ok {
				fn = v
			}
			if fn != NotAFunction {
				service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
				r.record(fn, service, op, middleware.GetStackValue(ctx, paramsKey{}))
			}
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

func (r *Recorder) record(function, service, op string, params any) {
	raw, err := json.Marshal(params)
	var input map[string]any
	if err == nil {
		err = json.Unmarshal(raw, &input)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if service == "ECS" && op == "RegisterTaskDefinition" && err == nil {
		family, _ := input["Family"].(string)
		var roles []string
		for _, k := range []string{"ExecutionRoleArn", "TaskRoleArn"} {
			if v, _ := input[k].(string); v != "" {
				roles = append(roles, v)
			}
		}
		if r.names.TaskDefinitionRoles == nil {
			r.names.TaskDefinitionRoles = map[string][]string{}
		}
		r.names.TaskDefinitionRoles[family] = roles
	}
	reqs := IAMRequests(service, op, input, r.names)
	if err != nil {
		reqs = []IAMRequest{{Action: "unknown:" + service + "." + op, Resource: "cannot read input: " + err.Error()}}
	}
	for _, q := range reqs {
		line, _ := json.Marshal(Recorded{Function: function, Operation: service + "." + op, IAMRequest: q})
		// One line per distinct request: a run's life repeats the same few.
		if r.seen[string(line)] {
			continue
		}
		r.seen[string(line)] = true
		r.f.Write(append(line, '\n'))
	}
}
