package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// What reviews of the first deploy found, asserted on the template.

// No authorized route may be ANY: ANY matches the browser's OPTIONS
// preflight, which would need a JWT and fail, so no call from the UI would
// get through.
func TestAuthorizedRoutesNameTheirMethods(t *testing.T) {
	tp := synthesized.template
	methods := map[string]bool{}
	for _, id := range tp.ofType("AWS::ApiGatewayV2::Route") {
		key, _ := tp.Resources[id].Properties["RouteKey"].(string)
		method, path, _ := strings.Cut(key, " ")
		if method == "ANY" || method == "OPTIONS" {
			t.Errorf("route %q: %s would take the CORS preflight", key, method)
		}
		if path == "/v1/{proxy+}" {
			methods[method] = true
		}
	}
	for _, m := range []string{"GET", "POST", "PATCH", "DELETE"} {
		if !methods[m] {
			t.Errorf("no %s /v1/{proxy+} route: the API uses it", m)
		}
	}
}

// The table, the user pool and the job logs are kept when the stack goes
// (retain_data), but not when a first create rolls back.
func TestRemovalPolicies(t *testing.T) {
	tp := synthesized.template
	want := map[string]string{
		"AWS::DynamoDB::Table":          "RetainExceptOnCreate",
		"AWS::Cognito::UserPool":        "RetainExceptOnCreate",
		"AWS::Scheduler::ScheduleGroup": "Delete",
		"AWS::S3::Bucket":               "Delete",
	}
	for typ, policy := range want {
		ids := tp.ofType(typ)
		if len(ids) == 0 {
			t.Errorf("no %s", typ)
		}
		for _, id := range ids {
			if got := tp.Resources[id].DeletionPolicy; got != policy {
				t.Errorf("%s %s: DeletionPolicy %q, want %q", typ, id, got, policy)
			}
		}
	}
	for _, id := range tp.ofType("AWS::Logs::LogGroup") {
		if strings.HasPrefix(id, "CustomCDKBucketDeployment") {
			continue // aws-cdk-lib's own handler, its policy
		}
		want := "Delete" // the functions' and the API's own logs
		if strings.HasPrefix(id, "JobLogs") {
			want = "RetainExceptOnCreate"
		}
		if got := tp.Resources[id].DeletionPolicy; got != want {
			t.Errorf("log group %s: DeletionPolicy %q, want %q", id, got, want)
		}
	}
}

// Nothing EventBridge hands to a function is dropped: failed deliveries
// are retried and then kept (rule targets' and schedules' dead-letter
// queue), failures inside an asynchronously invoked function go to the same
// queue after Lambda's retries (on-failure destination), and every
// dead-letter queue and function has an alarm.
func TestEventTargetsRetryIntoADeadLetterQueue(t *testing.T) {
	tp := synthesized.template
	var dlq string
	for _, id := range tp.ofType("AWS::SQS::Queue") {
		if strings.HasSuffix(render(tp.Resources[id].Properties["QueueName"]), "-events-dlq") {
			dlq = "${" + id + ".Arn}"
		}
	}
	if dlq == "" {
		t.Fatal("no events dead-letter queue")
	}
	for _, id := range tp.ofType("AWS::Events::Rule") {
		for _, target := range list(tp.Resources[id].Properties["Targets"]) {
			tg := target.(map[string]any)
			if tg["DeadLetterConfig"] == nil || tg["RetryPolicy"] == nil {
				t.Errorf("rule %s: target without a retry policy and a dead-letter queue: %v", id, tg)
			}
		}
	}
	onFailure := map[string]string{} // function logical id -> destination
	for _, id := range tp.ofType("AWS::Lambda::EventInvokeConfig") {
		p := tp.Resources[id].Properties
		dc, _ := p["DestinationConfig"].(map[string]any)
		of, _ := dc["OnFailure"].(map[string]any)
		onFailure[strings.Trim(render(p["FunctionName"]), "${}")] = render(of["Destination"])
	}
	for _, f := range functions {
		fid := tp.functionID(f.Name)
		got, ok := onFailure[fid]
		switch {
		case f.InvokedAsync && got != dlq:
			t.Errorf("%s is invoked asynchronously but its failures go to %q, not the dead-letter queue %s", f.Name, got, dlq)
		case !f.InvokedAsync && ok:
			t.Errorf("%s is invoked synchronously yet has an asynchronous invoke config", f.Name)
		}
		vars, _ := tp.Resources[fid].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		if got := render(vars[envScheduleDLQARN]); f.Access.ManageSchedules && got != dlq {
			t.Errorf("%s: %s = %s, want the dead-letter queue %s", f.Name, envScheduleDLQARN, got, dlq)
		}
	}
	// EventBridge Scheduler's role may put undeliverable firings there.
	var schedRole string
	for _, id := range tp.ofType("AWS::IAM::Role") {
		if strings.HasPrefix(render(tp.Resources[id].Properties["Description"]), "Assumed by EventBridge Scheduler") {
			schedRole = id
		}
	}
	may := false
	for _, st := range tp.statements(schedRole) {
		if slices.Contains(renderAll(st["Action"]), "sqs:SendMessage") && slices.Contains(renderAll(st["Resource"]), dlq) {
			may = true
		}
	}
	if !may {
		t.Errorf("the scheduler role %q may not send to the dead-letter queue", schedRole)
	}
	alarms := tp.ofType("AWS::CloudWatch::Alarm")
	// One per function, per cluster dead-letter queue and the events one;
	// and for each way into a dead-letter queue failing: per asynchronously
	// invoked function, per rule, and the schedules.
	async := 0
	for _, f := range functions {
		if f.InvokedAsync {
			async++
		}
	}
	if want := len(functions) + len(synthesized.clusters) + 1 + async + len(tp.ofType("AWS::Events::Rule")) + 1; len(alarms) != want {
		t.Errorf("%d alarms, want %d", len(alarms), want)
	}
	metrics := map[string]int{}
	for _, id := range alarms {
		metrics[render(tp.Resources[id].Properties["MetricName"])]++
	}
	if metrics["DestinationDeliveryFailures"] != async || metrics["InvocationsFailedToBeSentToDlq"] != len(tp.ofType("AWS::Events::Rule")) ||
		metrics["InvocationsFailedToBeSentToDeadLetterCount"] != 1 {
		t.Errorf("alarms by metric %v", metrics)
	}
}

// stackFor synthesizes a stack from context, for the tests that need
// another configuration than the shared one.
func stackFor(t *testing.T, ctx map[string]any) tmpl {
	t.Helper()
	dir := t.TempDir()
	lambdas := filepath.Join(dir, "lambdas")
	for _, f := range functions {
		os.MkdirAll(filepath.Join(lambdas, f.Name), 0o755)
		os.WriteFile(filepath.Join(lambdas, f.Name, "bootstrap"), []byte("placeholder"), 0o755)
	}
	ctx[ctxLambdasDir] = lambdas
	ctx[ctxWebDist] = filepath.Join(dir, "no-ui")
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(dir, "out")), Context: &ctx,
		BuiltinCloudFormationValidation: jsii.Bool(false)})
	props, err := PropsFromContext(app)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStack(app, StackName(props.Stage), props)
	raw, _ := json.Marshal(assertions.Template_FromStack(s.Stack, nil).ToJSON())
	var tp tmpl
	if err := json.Unmarshal(raw, &tp); err != nil {
		t.Fatal(err)
	}
	return tp
}

// With 20 clusters of 32-character names and the longest stage, every
// function's environment stays under Lambda's 4 KB, and every queue name
// under SQS's 80 characters.
func TestTwentyClustersFitLambdaAndSQSLimits(t *testing.T) {
	var clusters []map[string]any
	for i := range 20 {
		clusters = append(clusters, map[string]any{
			"name": fmt.Sprintf("c%02d-%s", i, strings.Repeat("x", 28)), "max_running": 1000, "launch_type": "FARGATE_SPOT",
		})
	}
	tp := stackFor(t, map[string]any{ctxClusters: clusters, ctxStage: "abcdefghijkl"})
	for _, f := range functions {
		env, _ := tp.Resources[tp.functionID(f.Name)].Properties["Environment"].(map[string]any)
		// What Lambda counts: the variables' keys and values as deployed.
		// Tokens are rendered as ${Ref}; a deployed ARN, URL or name is
		// longer, so count each at its longest plausible length.
		size, others := 0, 0
		for k, v := range env["Variables"].(map[string]any) {
			size += len(k) + deployedLen(v)
			if k != envClusters {
				others += len(k) + deployedLen(v)
			}
		}
		t.Logf("%s: environment of ~%d bytes, %d of them outside %s", f.Name, size, others, envClusters)
		// The synth-time check of existing clusters leaves the rest of the
		// 4 KB to FLOTILLA_CLUSTERS (maxClustersEnvBytes).
		if others > 4096-maxClustersEnvBytes {
			t.Errorf("%s: the variables other than %s take ~%d bytes, over the %d the synth-time check leaves them", f.Name, envClusters, others, 4096-maxClustersEnvBytes)
		}
		if size > 4096 {
			t.Errorf("%s: environment of ~%d bytes, over Lambda's 4 KB", f.Name, size)
		}
	}
	for _, id := range tp.ofType("AWS::SQS::Queue") {
		name, _ := tp.Resources[id].Properties["QueueName"].(string)
		if name == "" {
			t.Errorf("queue %s is not named", id)
		}
		if len(name) > 80 {
			t.Errorf("queue %s: %q is %d characters, over SQS's 80", id, name, len(name))
		}
	}
}

// deployedLen is an upper bound of a template value's deployed length.
func deployedLen(v any) int {
	switch x := v.(type) {
	case string:
		return len(x)
	case map[string]any:
		if r, ok := x["Ref"].(string); ok {
			if n, ok := map[string]int{"AWS::Region": 14, "AWS::AccountId": 12, "AWS::URLSuffix": 16, "AWS::Partition": 10}[r]; ok {
				return n
			}
			return 128 // a name or an id
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) == 2 && g[1] == "DomainName" {
			return 64 // a CloudFront domain, d<14 characters>.cloudfront.net
		}
		if _, ok := x["Fn::GetAtt"]; ok {
			return 160 // an ARN
		}
		if j, ok := x["Fn::Join"].([]any); ok {
			n := 0
			for _, p := range j[1].([]any) {
				n += deployedLen(p) + len(j[0].(string))
			}
			return n
		}
	}
	b, _ := json.Marshal(v)
	return len(b)
}

// Two stages deploy side by side: no physical name, IAM scope or output
// export of one is another's.
func TestStagesShareNothing(t *testing.T) {
	// cdk.json is shared by the stages, so a hosted UI prefix set there
	// must still give each stage its own domain.
	dev := stackFor(t, map[string]any{ctxClusters: []any{map[string]any{"name": "default", "max_running": 2}}, ctxStage: "dev", ctxAuthDomainPrefix: "acme-jobs"})
	prod := stackFor(t, map[string]any{ctxClusters: []any{map[string]any{"name": "default", "max_running": 2}}, ctxStage: "prod", ctxAuthDomainPrefix: "acme-jobs"})
	names := func(tp tmpl) map[string]string {
		out := map[string]string{}
		for id, r := range tp.Resources {
			// The names that are unique in an account and Region.
			for _, k := range []string{"QueueName", "ClusterName", "Domain", "FunctionName", "RoleName", "TableName", "LogGroupName"} {
				if v, ok := r.Properties[k].(string); ok {
					out[v] = id
				}
			}
		}
		return out
	}
	devNames := names(dev)
	for n, id := range names(prod) {
		if other, ok := devNames[n]; ok {
			t.Errorf("prod %s and dev %s share the name %q", id, other, n)
		}
	}
	scopes := func(tp tmpl) []string {
		var out []string
		for _, pid := range tp.ofType("AWS::IAM::Policy") {
			doc, _ := tp.Resources[pid].Properties["PolicyDocument"].(map[string]any)
			for _, st := range list(doc["Statement"]) {
				for _, r := range renderAll(st.(map[string]any)["Resource"]) {
					for _, kind := range []string{"task-definition/", "parameter/", "secret:", ":role/"} {
						if strings.Contains(r, kind) {
							out = append(out, r[strings.Index(r, kind):])
						}
					}
				}
			}
		}
		return out
	}
	for _, d := range scopes(dev) {
		for _, p := range scopes(prod) {
			if strings.HasPrefix(strings.TrimSuffix(p, "*"), strings.TrimSuffix(d, "*")) || strings.HasPrefix(strings.TrimSuffix(d, "*"), strings.TrimSuffix(p, "*")) {
				t.Errorf("task definition scopes overlap: dev %s, prod %s", d, p)
			}
		}
	}
	if s := strings.Join(scopes(dev), " "); !strings.Contains(s, "task-definition/flotilla-dev-") || !strings.Contains(s, "parameter/flotilla/dev/") || !strings.Contains(s, "secret:flotilla/dev/") || !strings.Contains(s, ":role/flotilla-job-dev-") {
		t.Errorf("dev's scopes %s lack its task definitions or secrets", s)
	}
	domain := func(tp tmpl) string {
		for _, id := range tp.ofType("AWS::Cognito::UserPoolDomain") {
			return render(tp.Resources[id].Properties["Domain"])
		}
		return ""
	}
	if domain(dev) != "acme-jobs-dev" || domain(prod) != "acme-jobs-prod" {
		t.Errorf("hosted UI domains %q and %q, want acme-jobs-dev and acme-jobs-prod", domain(dev), domain(prod))
	}
}

// The admin group exists in the user pool, the api function knows its
// name, and users cannot change their own attributes (the e-mail shown as
// who made a thing) through the app client.
func TestAdminGroupAndIdentity(t *testing.T) {
	tp := synthesized.template
	groups := tp.ofType("AWS::Cognito::UserPoolGroup")
	if len(groups) != 1 || tp.Resources[groups[0]].Properties["GroupName"] != "flotilla-admins" {
		t.Fatalf("user pool groups %v, want flotilla-admins", groups)
	}
	env, _ := tp.Resources[tp.functionID("api")].Properties["Environment"].(map[string]any)
	if vars, _ := env["Variables"].(map[string]any); vars[envAdminGroup] != "flotilla-admins" {
		t.Errorf("api: %s = %v", envAdminGroup, vars[envAdminGroup])
	}
	for _, id := range tp.ofType("AWS::Cognito::UserPoolClient") {
		if w, ok := tp.Resources[id].Properties["WriteAttributes"]; !ok || len(list(w)) != 0 {
			t.Errorf("client %s: WriteAttributes %v, want none", id, w)
		}
	}
}
