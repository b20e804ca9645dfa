package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The canonical deployment the IAM recordings speak of (see
// internal/awsclient/iam.go): resources are named by their construct ids.
const (
	canonAccount = "123456789012"
	canonRegion  = "us-east-1"
)

// proofDir holds the pinned npm packages of the offline proofs
// (`make proof-deps` installs them with npm ci).
const proofDir = "proof"

// constructID is the id a resource's construct has at the stack's top level
// ("Flotilla/Cluster-default/Resource" → "Cluster-default").
func (t tmpl) constructID(logicalID string) string {
	p, _ := t.Resources[logicalID].Metadata["aws:cdk:path"].(string)
	parts := strings.Split(p, "/")
	if len(parts) < 2 {
		return logicalID
	}
	return parts[1]
}

func canonARN(service, resource string) string {
	return "arn:aws:" + service + ":" + canonRegion + ":" + canonAccount + ":" + resource
}

// physical is what Ref and Fn::GetAtt give for a resource once deployed,
// in the canonical deployment.
func (t tmpl) physical(logicalID, attr string) (string, error) {
	r, ok := t.Resources[logicalID]
	if !ok {
		return "", fmt.Errorf("no resource %s", logicalID)
	}
	id := t.constructID(logicalID)
	switch r.Type + "." + attr {
	case "AWS::DynamoDB::Table.Ref":
		return id, nil
	case "AWS::DynamoDB::Table.Arn":
		return canonARN("dynamodb", "table/"+id), nil
	case "AWS::SQS::Queue.Ref":
		return "https://sqs." + canonRegion + ".amazonaws.com/" + canonAccount + "/" + id + ".fifo", nil
	case "AWS::SQS::Queue.Arn":
		return canonARN("sqs", id+".fifo"), nil
	case "AWS::SQS::Queue.QueueName":
		return id + ".fifo", nil
	case "AWS::ECS::Cluster.Ref":
		return id, nil
	case "AWS::ECS::Cluster.Arn":
		return canonARN("ecs", "cluster/"+id), nil
	case "AWS::Logs::LogGroup.Ref":
		return id, nil
	case "AWS::Logs::LogGroup.Arn":
		return canonARN("logs", "log-group:"+id+":*"), nil
	case "AWS::IAM::Role.Ref":
		return id, nil
	case "AWS::IAM::Role.Arn":
		return "arn:aws:iam::" + canonAccount + ":role/" + id, nil
	case "AWS::Scheduler::ScheduleGroup.Ref":
		return id, nil
	case "AWS::Scheduler::ScheduleGroup.Arn":
		return canonARN("scheduler", "schedule-group/"+id), nil
	case "AWS::Cognito::UserPool.Ref":
		return id, nil
	case "AWS::Cognito::UserPool.Arn":
		return canonARN("cognito-idp", "userpool/"+id), nil
	case "AWS::Lambda::Function.Ref":
		return id, nil
	case "AWS::Lambda::Function.Arn":
		return canonARN("lambda", "function:"+id), nil
	}
	return "", fmt.Errorf("no canonical %s of %s (%s)", attr, logicalID, r.Type)
}

var pseudo = map[string]string{
	"AWS::Partition": "aws", "AWS::Region": canonRegion, "AWS::AccountId": canonAccount,
	"AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "Flotilla",
}

// resolve evaluates the intrinsic functions of a template value as
// CloudFormation would in the canonical deployment.
func (t tmpl) resolve(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := t.resolve(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				switch k {
				case "Ref":
					name := arg.(string)
					if p, ok := pseudo[name]; ok {
						return p, nil
					}
					return t.physical(name, "Ref")
				case "Fn::GetAtt":
					a := arg.([]any)
					return t.physical(a[0].(string), a[1].(string))
				case "Fn::Join":
					a := arg.([]any)
					parts, err := t.resolve(a[1])
					if err != nil {
						return nil, err
					}
					var ss []string
					for _, p := range parts.([]any) {
						ss = append(ss, fmt.Sprint(p))
					}
					return strings.Join(ss, a[0].(string)), nil
				case "Fn::Select":
					a := arg.([]any)
					l, err := t.resolve(a[1])
					if err != nil {
						return nil, err
					}
					return l.([]any)[int(a[0].(float64))], nil
				case "Fn::Split":
					a := arg.([]any)
					s, err := t.resolve(a[1])
					if err != nil {
						return nil, err
					}
					var out []any
					for _, p := range strings.Split(s.(string), a[0].(string)) {
						out = append(out, p)
					}
					return out, nil
				case "Fn::Sub":
					s, ok := arg.(string)
					if !ok {
						return nil, errors.New("Fn::Sub with variables is not supported")
					}
					var err error
					out := regexp.MustCompile(`\$\{([^}]+)\}`).ReplaceAllStringFunc(s, func(m string) string {
						name := m[2 : len(m)-1]
						if p, ok := pseudo[name]; ok {
							return p
						}
						ref, attr, found := strings.Cut(name, ".")
						if !found {
							attr = "Ref"
						}
						var r string
						r, err = t.physical(ref, attr)
						return r
					})
					return out, err
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			r, err := t.resolve(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

// recorded is one line of an IAM recording (awsclient.Recorded).
type recorded struct {
	Function  string            `json:"function"`
	Operation string            `json:"operation"`
	Action    string            `json:"action"`
	Resource  string            `json:"resource"`
	Context   map[string]string `json:"context"`
}

// ids are the parts of a resource that differ from run to run.
var ids = regexp.MustCompile(`[0-9a-f]{32}|(run|def|sch)_[0-9A-Z]{26}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func (r recorded) shape() string {
	ctx, _ := json.Marshal(r.Context)
	return r.Function + " " + r.Action + " " + ids.ReplaceAllString(r.Resource, "{id}") + " " + string(ctx)
}

// recordings reads every recorded call: FLOTILLA_IAM_RECORDINGS, or the
// build/iam folder `make go-test` and `make iam-record` fill.
func recordings(t *testing.T) []recorded {
	dir := os.Getenv("FLOTILLA_IAM_RECORDINGS")
	if dir == "" {
		dir = filepath.Join("..", "build", "iam")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if len(files) == 0 {
		t.Fatalf("no IAM recordings in %s: run `make iam-record` (`make test` records them while the Go tests run)", dir)
	}
	var out []recorded
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var r recorded
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, r)
		}
	}
	return out
}

// simCase is one request for proof/iamsim.mjs.
type simCase struct {
	ID        string            `json:"id"`
	Principal string            `json:"principal"`
	Account   string            `json:"account"`
	Action    string            `json:"action"`
	Resource  string            `json:"resource"`
	Context   map[string]string `json:"context,omitempty"`
	Policies  []any             `json:"policies"`
}

// runProof runs one of proof/'s scripts on input (written to a file as
// JSON) and decodes what it prints into out. pkg is the npm package it
// needs (installed by `make proof-deps`).
func runProof(t *testing.T, script, pkg string, input, out any) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(proofDir, "node_modules", pkg)); err != nil {
		t.Fatalf("%s is not installed: run `make proof-deps` (%v)", pkg, err)
	}
	in := filepath.Join(t.TempDir(), "input.json")
	b, _ := json.Marshal(input)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script, in)
	cmd.Dir = proofDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	printed, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, stderr.String())
	}
	if err := json.Unmarshal(printed, out); err != nil {
		t.Fatalf("%s output: %v", script, err)
	}
}

// simulate evaluates the cases with the real IAM policy simulator.
func simulate(t *testing.T, cases []simCase) map[string]string {
	t.Helper()
	var results []struct {
		ID     string `json:"id"`
		Result string `json:"result"`
		Errors any    `json:"errors"`
	}
	runProof(t, "iamsim.mjs", "@cloud-copilot/iam-simulate", map[string]any{"cases": cases}, &results)
	got := map[string]string{}
	for _, r := range results {
		got[r.ID] = r.Result
		if r.Errors != nil {
			e, _ := json.Marshal(r.Errors)
			got[r.ID] += " " + string(e)
		}
	}
	return got
}

// rolePolicy is a function's role, resolved: its ARN and policy documents.
type rolePolicy struct {
	principal string
	docs      []any
	actions   map[string]bool
}

func (t tmpl) rolePolicies(tt *testing.T) map[string]rolePolicy {
	out := map[string]rolePolicy{}
	for _, f := range functions {
		fid := t.functionID(f.Name)
		if fid == "" {
			tt.Fatalf("no function %s in the template", f.Name)
		}
		roleID := t.roleOf(fid)
		principal, err := t.physical(roleID, "Arn")
		if err != nil {
			tt.Fatal(err)
		}
		rp := rolePolicy{principal: principal, actions: map[string]bool{}}
		for _, pid := range t.ofType("AWS::IAM::Policy") {
			p := t.Resources[pid].Properties
			attached := false
			for _, r := range renderAll(p["Roles"]) {
				attached = attached || r == "${"+roleID+"}"
			}
			if !attached {
				continue
			}
			doc, err := t.resolve(p["PolicyDocument"])
			if err != nil {
				tt.Fatalf("%s: %v", pid, err)
			}
			rp.docs = append(rp.docs, doc)
			for _, s := range list(doc.(map[string]any)["Statement"]) {
				for _, a := range renderAll(s.(map[string]any)["Action"]) {
					rp.actions[a] = true
				}
			}
		}
		out[f.Name] = rp
	}
	return out
}

// unusedAllowed are granted actions no recorded call needs, and why they stay.
var unusedAllowed = map[string]string{
	"logs:CreateLogStream": "the Lambda runtime writes the function's own logs with it, not the function's code",
	"logs:PutLogEvents":    "the Lambda runtime writes the function's own logs with it, not the function's code",
}

// TestIAMEveryRecordedCallIsAllowed evaluates every AWS call the functions
// made in the tests (the Lambda runtime-emulator end to end, the fault
// tests and the sweep's recovery paths) against the function's role in the
// synthesized template, with a real IAM policy simulator.
func TestIAMEveryRecordedCallIsAllowed(t *testing.T) {
	tp := synthesized.template
	roles := tp.rolePolicies(t)
	shapes := map[string]recorded{}
	for _, r := range recordings(t) {
		if _, ok := shapes[r.shape()]; !ok {
			shapes[r.shape()] = r
		}
	}
	keys := make([]string, 0, len(shapes))
	for k := range shapes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var cases []simCase
	used := map[string]map[string]bool{}
	for i, k := range keys {
		r := shapes[k]
		if strings.HasPrefix(r.Action, "unknown:") {
			t.Errorf("%s: %s has no IAM mapping in internal/awsclient/iam.go", r.Function, r.Operation)
			continue
		}
		if r.Function == "" {
			t.Errorf("an AWS call made for no function (name it with awsclient.WithFunction): %s", k)
			continue
		}
		role, ok := roles[r.Function]
		if !ok {
			t.Errorf("a call recorded for %q, which is not a function of the stack: %s", r.Function, k)
			continue
		}
		if used[r.Function] == nil {
			used[r.Function] = map[string]bool{}
		}
		used[r.Function][r.Action] = true
		cases = append(cases, simCase{ID: fmt.Sprint(i), Principal: role.principal, Account: canonAccount,
			Action: r.Action, Resource: r.Resource, Context: r.Context, Policies: role.docs})
	}
	results := simulate(t, cases)
	denied := 0
	perFunction := map[string][]string{}
	for _, c := range cases {
		k := keys[mustAtoi(c.ID)]
		fn := shapes[k].Function
		perFunction[fn] = append(perFunction[fn], strings.TrimPrefix(k, fn+" "))
		if results[c.ID] != "Allowed" {
			denied++
			t.Errorf("DENIED %s: %s on %s with %v → %s", fn, c.Action, c.Resource, c.Context, results[c.ID])
		}
	}
	if len(cases) < 20 {
		t.Errorf("only %d call shapes recorded: the recordings miss whole paths", len(cases))
	}
	for _, f := range functions {
		if len(perFunction[f.Name]) == 0 {
			t.Errorf("no call recorded for the %s function", f.Name)
		}
		t.Logf("%s: %d call shapes", f.Name, len(perFunction[f.Name]))
		for _, s := range perFunction[f.Name] {
			t.Logf("    %s", s)
		}
	}
	unused := 0
	for _, f := range functions {
		var names []string
		for a := range roles[f.Name].actions {
			if !used[f.Name][a] && unusedAllowed[a] == "" {
				names = append(names, a)
			}
		}
		sort.Strings(names)
		unused += len(names)
		if len(names) > 0 {
			t.Logf("%s may also (no recorded call uses it): %s", f.Name, strings.Join(names, ", "))
		}
	}
	writeBench(t, map[string]benchFigure{
		"iam_call_shapes":    {Value: float64(len(cases)), Unit: "function × action × resource shapes", Note: "recorded in the Lambda RIE end-to-end, fault and recovery tests"},
		"iam_calls_denied":   {Value: float64(denied), Unit: "shapes", Goal: "<= 0"},
		"iam_actions_unused": {Value: float64(unused), Unit: "granted actions no recorded call used"},
	})
}

// TestIAMSimulatorDeniesWhatIsOutOfScope keeps the proof from passing
// vacuously: calls just outside each grant must be denied.
func TestIAMSimulatorDeniesWhatIsOutOfScope(t *testing.T) {
	roles := synthesized.template.rolePolicies(t)
	d := roles["dispatcher"]
	foreign := map[string]string{"ecs:cluster": canonARN("ecs", "cluster/someone-elses")}
	prodJobRoles := jobRolePrefixOf(defaultJobRolePrefix, defaultStage)
	cases := []simCase{
		{ID: "runtask-foreign-cluster", Action: "ecs:RunTask", Resource: canonARN("ecs", "task-definition/flotilla-x:1"), Context: foreign},
		{ID: "runtask-foreign-family", Action: "ecs:RunTask", Resource: canonARN("ecs", "task-definition/payroll:1"),
			Context: map[string]string{"ecs:cluster": canonARN("ecs", "cluster/Cluster-default")}},
		{ID: "passrole-foreign", Action: "iam:PassRole", Resource: "arn:aws:iam::" + canonAccount + ":role/Admin",
			Context: map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
		{ID: "passrole-wrong-service", Action: "iam:PassRole", Resource: "arn:aws:iam::" + canonAccount + ":role/TaskRole",
			Context: map[string]string{"iam:PassedToService": "lambda.amazonaws.com"}},
		{ID: "other-table", Action: "dynamodb:GetItem", Resource: canonARN("dynamodb", "table/other")},
		{ID: "listtasks-foreign", Action: "ecs:ListTasks", Resource: "*", Context: foreign},
		{ID: "listtasks-no-cluster", Action: "ecs:ListTasks", Resource: "*"},
		{ID: "putevents-other-source", Action: "events:PutEvents", Resource: canonARN("events", "event-bus/default"),
			Context: map[string]string{"events:source": "aws.ecs", "events:detail-type": "Flotilla Run State Change"}},
		{ID: "putevents-no-source", Action: "events:PutEvents", Resource: canonARN("events", "event-bus/default")},
		{ID: "putevents-other-bus", Action: "events:PutEvents", Resource: canonARN("events", "event-bus/payments"),
			Context: map[string]string{"events:source": "flotilla", "events:detail-type": "Flotilla Run State Change"}},
		{ID: "in-scope-putevents", Action: "events:PutEvents", Resource: canonARN("events", "event-bus/default"),
			Context: map[string]string{"events:source": "flotilla", "events:detail-type": "Flotilla Run State Change"}},
		{ID: "passrole-contains-prefix", Action: "iam:PassRole", Resource: "arn:aws:iam::" + canonAccount + ":role/evil" + prodJobRoles + "x",
			Context: map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
		{ID: "passrole-prefix-in-path", Action: "iam:PassRole", Resource: "arn:aws:iam::" + canonAccount + ":role/teams/" + prodJobRoles + "x",
			Context: map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
		{ID: "passrole-job-role-to-lambda", Action: "iam:PassRole", Resource: "arn:aws:iam::" + canonAccount + ":role/" + prodJobRoles + "x",
			Context: map[string]string{"iam:PassedToService": "lambda.amazonaws.com"}},
		{ID: "passrole-other-stages-job-role", Action: "iam:PassRole", Resource: "arn:aws:iam::" + canonAccount + ":role/" + jobRolePrefixOf(defaultJobRolePrefix, "dev") + "reader",
			Context: map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
		{ID: "in-scope-job-role", Action: "iam:PassRole", Resource: "arn:aws:iam::" + canonAccount + ":role/" + prodJobRoles + "reader",
			Context: map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
		{ID: "in-scope", Action: "ecs:RunTask", Resource: canonARN("ecs", "task-definition/flotilla-prod-x:1"),
			Context: map[string]string{"ecs:cluster": canonARN("ecs", "cluster/Cluster-default")}},
	}
	for i := range cases {
		cases[i].Principal, cases[i].Account, cases[i].Policies = d.principal, canonAccount, d.docs
	}
	got := simulate(t, cases)
	for _, c := range cases {
		want := "ImplicitlyDenied"
		if strings.HasPrefix(c.ID, "in-scope") {
			want = "Allowed"
		}
		if got[c.ID] != want {
			t.Errorf("%s: %s on %s: got %s, want %s", c.ID, c.Action, c.Resource, got[c.ID], want)
		}
	}
}

func mustAtoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// benchFigure is one entry of bench/results.json.
type benchFigure struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Goal  string  `json:"goal,omitempty"`
	Note  string  `json:"note,omitempty"`
}

// writeBench merges figures into FLOTILLA_BENCH_OUT, when set.
func writeBench(t *testing.T, figures map[string]benchFigure) {
	path := os.Getenv("FLOTILLA_BENCH_OUT")
	if path == "" {
		return
	}
	all := map[string]any{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &all); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	for k, v := range figures {
		all[k] = v
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(all); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// declaredCall is one line of proof/calls.txt.
type declaredCall struct {
	function, operation string
	unproven            string // why no test records it, if none does
}

func declaredCalls(t *testing.T) []declaredCall {
	b, err := os.ReadFile(filepath.Join("proof", "calls.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []declaredCall
	for i, line := range strings.Split(string(b), "\n") {
		line, comment, _ := strings.Cut(line, "#")
		fn, op, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			if strings.TrimSpace(line) != "" {
				t.Fatalf("proof/calls.txt:%d: want <function> <service.Operation>", i+1)
			}
			continue
		}
		d := declaredCall{function: fn, operation: strings.TrimSpace(op)}
		if _, why, found := strings.Cut(comment, "unproven:"); found {
			d.unproven = strings.TrimSpace(why)
		}
		out = append(out, d)
	}
	return out
}

// TestIAMCallsDeclared keeps the proof honest about what it did not see:
// every call the tests record must be declared in proof/calls.txt (the list
// of what the code can call), and every declared call must have been
// recorded, or say why not.
func TestIAMCallsDeclared(t *testing.T) {
	recordedOps := map[string]bool{}
	for _, r := range recordings(t) {
		recordedOps[r.Function+" "+r.Operation] = true
	}
	declared := map[string]declaredCall{}
	unproven := 0
	for _, d := range declaredCalls(t) {
		k := d.function + " " + d.operation
		declared[k] = d
		switch {
		case recordedOps[k] && d.unproven != "":
			t.Errorf("%s is recorded now: drop its \"unproven\" note in proof/calls.txt", k)
		case !recordedOps[k] && d.unproven == "":
			t.Errorf("%s is declared in proof/calls.txt but no test made that call: the proof does not cover it", k)
		case !recordedOps[k]:
			unproven++
			t.Logf("unproven: %s (%s)", k, d.unproven)
		}
	}
	for k := range recordedOps {
		if _, ok := declared[k]; !ok {
			t.Errorf("%s was recorded but is not declared in proof/calls.txt: add it with the path that makes it", k)
		}
	}
	writeBench(t, map[string]benchFigure{
		"iam_calls_unproven": {Value: float64(unproven), Unit: "declared function × operation pairs no test records", Goal: "<= 0",
			Note: "infra/proof/calls.txt says why for each"},
	})
}

// TestTaskStateRuleMatchedByAnEventBridgeMatcher evaluates the synthesized
// rule's pattern, with a third-party implementation of EventBridge's
// matching (proof/eventmatch.mjs), against the task-state events the events
// function is tested with: Flotilla's RUNNING and STOPPED tasks of its
// clusters match; other tasks, other clusters and other states do not.
func TestTaskStateRuleMatchedByAnEventBridgeMatcher(t *testing.T) {
	tp := synthesized.template
	var pattern map[string]any
	for _, id := range tp.ofType("AWS::Events::Rule") {
		if p, ok := tp.Resources[id].Properties["EventPattern"].(map[string]any); ok && slices.Contains(renderAll(p["source"]), "aws.ecs") {
			resolved, err := tp.resolve(p)
			if err != nil {
				t.Fatalf("rule %s: %v", id, err)
			}
			pattern = resolved.(map[string]any)
		}
	}
	if pattern == nil {
		t.Fatal("no ECS task state rule")
	}
	clusters := list(pattern["detail"].(map[string]any)["clusterArn"])
	if len(clusters) == 0 {
		t.Fatal("the rule names no cluster")
	}
	ours, _ := clusters[0].(string)
	foreign := canonARN("ecs", "cluster/someone-elses")

	type input struct {
		ID    string         `json:"id"`
		Event map[string]any `json:"event"`
	}
	var events []input
	want := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join("..", "internal", "awsevents", "testdata", "*.json"))
	if len(files) < 10 {
		t.Fatalf("only %d test events found", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, cluster := range []string{ours, foreign} {
			var ev map[string]any
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			detail, _ := ev["detail"].(map[string]any)
			if detail == nil {
				t.Fatalf("%s: no detail", f)
			}
			detail["clusterArn"] = cluster
			id := filepath.Base(f) + " on " + cluster
			by, _ := detail["startedBy"].(string)
			status, _ := detail["lastStatus"].(string)
			want[id] = cluster == ours && strings.HasPrefix(by, runIDPrefix) && (status == "RUNNING" || status == "STOPPED") &&
				ev["source"] == "aws.ecs" && ev["detail-type"] == "ECS Task State Change"
			events = append(events, input{ID: id, Event: ev})
		}
	}
	var got map[string]bool
	runProof(t, "eventmatch.mjs", "serverless-offline-aws-eventbridge", map[string]any{"pattern": pattern, "events": events}, &got)
	matched := 0
	for _, e := range events {
		if got[e.ID] != want[e.ID] {
			t.Errorf("%s: the matcher says %v, want %v", e.ID, got[e.ID], want[e.ID])
		}
		if got[e.ID] {
			matched++
		}
	}
	// Both answers occur, so the test cannot pass on a matcher that always
	// says the same thing.
	if matched == 0 || matched == len(events) {
		t.Errorf("%d of %d events matched", matched, len(events))
	}
	t.Logf("%d of %d events matched the rule", matched, len(events))
}

// TestRunEndRuleMatchedByAnEventBridgeMatcher: the rule that wakes the
// notifier, evaluated by the same third-party matcher, takes the end of a
// run that names targets and nothing else.
func TestRunEndRuleMatchedByAnEventBridgeMatcher(t *testing.T) {
	tp := synthesized.template
	var pattern map[string]any
	for _, id := range tp.ofType("AWS::Events::Rule") {
		if p, ok := tp.Resources[id].Properties["EventPattern"].(map[string]any); ok && slices.Contains(renderAll(p["source"]), runChangeSource) {
			pattern = p
		}
	}
	if pattern == nil {
		t.Fatal("no rule on the run changes")
	}
	type input struct {
		ID    string         `json:"id"`
		Event map[string]any `json:"event"`
	}
	ev := func(source, detailType, status string, terminal bool, notify int) map[string]any {
		d := map[string]any{"run_id": "run_1", "status": status, "terminal": terminal}
		if notify > 0 {
			d["notify"] = notify
		}
		return map[string]any{"source": source, "detail-type": detailType, "detail": d}
	}
	cases := map[string]struct {
		event map[string]any
		want  bool
	}{
		"failed, 2 targets":   {ev("flotilla", runChangeDetailType, "FAILED", true, 2), true},
		"succeeded, 1 target": {ev("flotilla", runChangeDetailType, "SUCCEEDED", true, 1), true},
		"running, 1 target":   {ev("flotilla", runChangeDetailType, "RUNNING", false, 1), false},
		"failed, no targets":  {ev("flotilla", runChangeDetailType, "FAILED", true, 0), false},
		"another source":      {ev("acme.jobs", runChangeDetailType, "FAILED", true, 2), false},
		"another detail-type": {ev("flotilla", "Flotilla Something Else", "FAILED", true, 2), false},
	}
	var events []input
	for id, c := range cases {
		events = append(events, input{ID: id, Event: c.event})
	}
	var got map[string]bool
	runProof(t, "eventmatch.mjs", "serverless-offline-aws-eventbridge", map[string]any{"pattern": pattern, "events": events}, &got)
	for id, c := range cases {
		if got[id] != c.want {
			t.Errorf("%s: the matcher says %v, want %v", id, got[id], c.want)
		}
	}
}
