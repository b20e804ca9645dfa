package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// The test stack has clusters the stack creates (one on Fargate Spot, with
// an on-demand twin) and one that exists, so every per-cluster rule is
// checked for each kind.
const (
	existingClusterARN = "arn:aws:ecs:eu-west-1:123456789012:cluster/gpu-pool"
	testClusters       = `[
		{"name":"default","max_running":3,"launch_type":"FARGATE"},
		{"name":"spot","max_running":5,"launch_type":"FARGATE_SPOT","spot_fallback":"default"},
		{"name":"gpu","max_running":2,"launch_type":"EC2","cluster_arn":"` + existingClusterARN + `",
		 "vpc_id":"vpc-0123456789abcdef0","subnets":["subnet-0aaa","subnet-0bbb"],"assign_public_ip":false}
	]`
)

// synthesized is the one synthesis every test of this package reads:
// each synth costs seconds (DESIGN §9, cdk-feasibility §8.7).
var synthesized struct {
	template tmpl            // the CloudFormation template as JSON
	nagErrs  []string        // unsuppressed cdk-nag AwsSolutions errors
	uiConfig map[string]any  // the config.json deployed with the UI (values are markers)
	clusters []ClusterConfig // as parsed from the test context
}

func TestMain(m *testing.M) {
	code := func() int {
		defer jsii.Close()
		dir, err := os.MkdirTemp("", "flotilla-infra-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if err := synth(dir); err != nil {
			fmt.Fprintln(os.Stderr, "synth:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// synth builds the stack the way `cdk synth` does (cdk.json context, the
// cdk-nag aspect) with placeholder bootstrap files instead of build outputs.
func synth(dir string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	lambdas := filepath.Join(dir, "lambdas")
	for _, f := range functions {
		if err := os.MkdirAll(filepath.Join(lambdas, f.Name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(lambdas, f.Name, "bootstrap"), []byte("placeholder"), 0o755); err != nil {
			return err
		}
	}
	// The real built UI: it holds web/public's local config.json, which
	// must not reach the bucket (`make infra-test` builds it first).
	web, err := filepath.Abs(filepath.Join("..", "web", "dist"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(web, "config.json")); err != nil {
		return fmt.Errorf("the web UI is not built (%v): run `make web-build`", err)
	}

	var cdkJSON struct {
		Context map[string]any `json:"context"`
	}
	b, err := os.ReadFile("../cdk.json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &cdkJSON); err != nil {
		return err
	}
	ctx := cdkJSON.Context
	var clusters any
	if err := json.Unmarshal([]byte(testClusters), &clusters); err != nil {
		return err
	}
	ctx[ctxClusters] = clusters
	ctx[ctxLambdasDir] = lambdas
	ctx[ctxWebDist] = web
	// The sender the Lambda end-to-end test sends notification e-mail from.
	ctx[ctxNotifyFrom] = "jobs@flotilla.example"
	// Report cdk-nag errors as annotations instead of failing the synth.
	ctx["@aws-cdk/core:failSynthOnValidationErrors"] = false
	// Construct paths name the resources for the IAM proof (proof_test.go).
	ctx["aws:cdk:enable-path-metadata"] = true

	app := awscdk.NewApp(&awscdk.AppProps{
		Outdir:  jsii.String(filepath.Join(dir, "cdk.out")),
		Context: &ctx,
		// The built-in CloudFormation schema validation costs several
		// seconds per synth; `make synth` runs it.
		BuiltinCloudFormationValidation: jsii.Bool(false),
	})
	props, err := PropsFromContext(app)
	if err != nil {
		return err
	}
	synthesized.clusters = props.Clusters
	s := NewStack(app, "Flotilla", props)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)

	t := assertions.Template_FromStack(s.Stack, nil)
	raw, err := json.Marshal(t.ToJSON())
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &synthesized.template); err != nil {
		return err
	}
	// Of the staged assets (what `cdk deploy` zips and uploads), exactly one
	// holds a config.json: the generated one, not web/dist's.
	matches, err := filepath.Glob(filepath.Join(dir, "cdk.out", "asset.*", "config.json"))
	if err != nil || len(matches) != 1 {
		return fmt.Errorf("want one config.json among the assets, found %v (%v)", matches, err)
	}
	if uis, _ := filepath.Glob(filepath.Join(dir, "cdk.out", "asset.*", "index.html")); len(uis) != 1 {
		return fmt.Errorf("want the built UI among the assets, found %v", uis)
	}
	if b, err = os.ReadFile(matches[0]); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &synthesized.uiConfig); err != nil {
		return fmt.Errorf("config.json: %w", err)
	}
	for _, msg := range *assertions.Annotations_FromStack(s.Stack).FindError(jsii.String("*"),
		assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
		synthesized.nagErrs = append(synthesized.nagErrs, fmt.Sprintf("%s: %v", *msg.Id, msg.Entry.Data))
	}
	return nil
}

// tmpl is a synthesized template, decoded.
type tmpl struct {
	Resources map[string]resource `json:"Resources"`
	Outputs   map[string]any      `json:"Outputs"`
}

type resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
	Metadata   map[string]any `json:"Metadata,omitempty"`

	DeletionPolicy      string `json:"DeletionPolicy,omitempty"`
	UpdateReplacePolicy string `json:"UpdateReplacePolicy,omitempty"`
}

// clone returns a deep copy that a test may break on purpose.
func (t tmpl) clone() tmpl {
	b, _ := json.Marshal(t)
	var c tmpl
	_ = json.Unmarshal(b, &c)
	return c
}

// ofType returns the logical ids of the resources of one type, sorted.
func (t tmpl) ofType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// render turns intrinsic functions into readable strings: Ref X -> ${X},
// GetAtt X.Arn -> ${X.Arn}, Join -> the joined string.
func render(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"].(string); ok {
			return "${" + r + "}"
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			return fmt.Sprintf("${%v.%v}", g[0], g[1])
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, render(p))
			}
			return strings.Join(parts, j[0].(string))
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// list turns a one-or-many template value into a slice.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func renderAll(v any) []string {
	var out []string
	for _, x := range list(v) {
		out = append(out, render(x))
	}
	return out
}

// functionID returns the logical id of a Flotilla function by name.
func (t tmpl) functionID(name string) string {
	want := "Flotilla " + name + " function"
	for _, id := range t.ofType("AWS::IAM::Role") {
		if t.Resources[id].Properties["Description"] == want {
			for _, fid := range t.ofType("AWS::Lambda::Function") {
				if render(t.Resources[fid].Properties["Role"]) == "${"+id+".Arn}" {
					return fid
				}
			}
		}
	}
	return ""
}

// statements returns the policy statements attached to the role of a
// function (by logical id of the role).
func (t tmpl) statements(roleID string) []map[string]any {
	var out []map[string]any
	for _, pid := range t.ofType("AWS::IAM::Policy") {
		p := t.Resources[pid].Properties
		if !slices.Contains(renderAll(p["Roles"]), "${"+roleID+"}") {
			continue
		}
		doc, _ := p["PolicyDocument"].(map[string]any)
		for _, s := range list(doc["Statement"]) {
			out = append(out, s.(map[string]any))
		}
	}
	return out
}

func (t tmpl) roleOf(functionID string) string {
	r := render(t.Resources[functionID].Properties["Role"])
	return strings.TrimSuffix(strings.TrimPrefix(r, "${"), ".Arn}")
}

func check(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

// --- queues -------------------------------------------------------------------

// queueProblems: per cluster one FIFO queue with a FIFO DLQ, consumed by the
// dispatcher with ReportBatchItemFailures.
func queueProblems(tp tmpl, clusters int) []string {
	var probs []string
	dispatcher := tp.functionID("dispatcher")
	var mains []string
	for _, id := range tp.ofType("AWS::SQS::Queue") {
		if strings.HasPrefix(id, "EventsDeadLetterQueue") {
			continue // EventBridge's dead-letter queue (standard, as EventBridge requires)
		}
		q := tp.Resources[id].Properties
		if q["FifoQueue"] != true {
			probs = append(probs, id+": not FIFO")
		}
		rp, ok := q["RedrivePolicy"].(map[string]any)
		if !ok {
			continue
		}
		mains = append(mains, id)
		dlq := strings.TrimSuffix(strings.TrimPrefix(render(rp["deadLetterTargetArn"]), "${"), ".Arn}")
		if d, ok := tp.Resources[dlq]; !ok || d.Type != "AWS::SQS::Queue" || d.Properties["FifoQueue"] != true {
			probs = append(probs, id+": dead-letter queue "+dlq+" is not a FIFO queue of this stack")
		}
	}
	if len(mains) != clusters {
		probs = append(probs, fmt.Sprintf("%d queues with a dead-letter queue, want one per cluster (%d)", len(mains), clusters))
	}
	if n := len(tp.ofType("AWS::SQS::Queue")); n != 2*clusters+1 {
		probs = append(probs, fmt.Sprintf("%d queues, want a queue and a DLQ per cluster, and EventBridge's DLQ (%d)", n, 2*clusters+1))
	}
	for _, q := range mains {
		found := false
		for _, id := range tp.ofType("AWS::Lambda::EventSourceMapping") {
			m := tp.Resources[id].Properties
			if render(m["EventSourceArn"]) != "${"+q+".Arn}" {
				continue
			}
			found = true
			if render(m["FunctionName"]) != "${"+dispatcher+"}" {
				probs = append(probs, q+": mapped to "+render(m["FunctionName"])+", want the dispatcher")
			}
			if !slices.Contains(renderAll(m["FunctionResponseTypes"]), "ReportBatchItemFailures") {
				probs = append(probs, q+": mapping without ReportBatchItemFailures")
			}
		}
		if !found {
			probs = append(probs, q+": no event source mapping")
		}
	}
	return probs
}

func TestQueuePerCluster(t *testing.T) {
	tp := synthesized.template
	check(t, queueProblems(tp, len(synthesized.clusters)))

	broken := tp.clone()
	for _, id := range broken.ofType("AWS::Lambda::EventSourceMapping") {
		delete(broken.Resources[id].Properties, "FunctionResponseTypes")
	}
	if len(queueProblems(broken, len(synthesized.clusters))) == 0 {
		t.Error("the queue check accepts a mapping without ReportBatchItemFailures")
	}
}

// --- API routes -------------------------------------------------------------------

// routeProblems: every route but GET /v1/health has the JWT authorizer of
// the user pool; health has none.
func routeProblems(tp tmpl) []string {
	var probs []string
	health := 0
	routes := tp.ofType("AWS::ApiGatewayV2::Route")
	if len(routes) < 2 {
		probs = append(probs, fmt.Sprintf("%d routes, want health and the authenticated /v1 routes", len(routes)))
	}
	for _, id := range routes {
		r := tp.Resources[id].Properties
		key, _ := r["RouteKey"].(string)
		authType, _ := r["AuthorizationType"].(string)
		if key == "GET "+healthPath {
			health++
			if (authType != "" && authType != "NONE") || r["AuthorizerId"] != nil {
				probs = append(probs, key+": has an authorizer, want none")
			}
			continue
		}
		if authType != "JWT" {
			probs = append(probs, fmt.Sprintf("%s: AuthorizationType %q, want JWT (only %s may be unauthenticated)", key, authType, "GET "+healthPath))
			continue
		}
		aid := strings.TrimPrefix(strings.TrimSuffix(render(r["AuthorizerId"]), "}"), "${")
		a, ok := tp.Resources[aid]
		if !ok || a.Type != "AWS::ApiGatewayV2::Authorizer" || a.Properties["AuthorizerType"] != "JWT" {
			probs = append(probs, key+": authorizer "+aid+" is not a JWT authorizer of this stack")
			continue
		}
		jwt, _ := a.Properties["JwtConfiguration"].(map[string]any)
		issuer := render(jwt["Issuer"])
		if !strings.Contains(issuer, "cognito-idp.") || !regexp.MustCompile(`\$\{UserPool[0-9A-F]+\}`).MatchString(issuer) {
			probs = append(probs, key+": JWT issuer "+issuer+" is not the user pool")
		}
		if len(list(jwt["Audience"])) == 0 {
			probs = append(probs, key+": JWT authorizer without audience")
		}
	}
	if health != 1 {
		probs = append(probs, fmt.Sprintf("%d GET %s routes, want 1", health, healthPath))
	}
	return probs
}

func TestRoutesNeedJWTExceptHealth(t *testing.T) {
	tp := synthesized.template
	check(t, routeProblems(tp))

	broken := tp.clone()
	for _, id := range broken.ofType("AWS::ApiGatewayV2::Route") {
		if broken.Resources[id].Properties["RouteKey"] != "GET "+healthPath {
			broken.Resources[id].Properties["AuthorizationType"] = "NONE"
			delete(broken.Resources[id].Properties, "AuthorizerId")
		}
	}
	if len(routeProblems(broken)) == 0 {
		t.Error("the route check accepts an unauthenticated route")
	}
}

func TestCORSAllowsOnlyTheUIOrigin(t *testing.T) {
	tp := synthesized.template
	apis := tp.ofType("AWS::ApiGatewayV2::Api")
	if len(apis) != 1 {
		t.Fatalf("%d HTTP APIs, want 1", len(apis))
	}
	cors, _ := tp.Resources[apis[0]].Properties["CorsConfiguration"].(map[string]any)
	origins := renderAll(cors["AllowOrigins"])
	if len(origins) != 1 || !regexp.MustCompile(`^https://\$\{UiDistribution[0-9A-F]+\.DomainName\}$`).MatchString(origins[0]) {
		t.Errorf("CORS origins %v, want only the CloudFront UI origin", origins)
	}
}

// --- functions -------------------------------------------------------------------

func TestFunctionsAreArm64AL2023(t *testing.T) {
	tp := synthesized.template
	for _, f := range functions {
		id := tp.functionID(f.Name)
		if id == "" {
			t.Errorf("%s: no function", f.Name)
			continue
		}
		p := tp.Resources[id].Properties
		if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" || !slices.Equal(renderAll(p["Architectures"]), []string{"arm64"}) {
			t.Errorf("%s: runtime %v handler %v architectures %v, want provided.al2023, bootstrap, [arm64]", f.Name, p["Runtime"], p["Handler"], p["Architectures"])
		}
	}
}

func TestFunctionEnvironment(t *testing.T) {
	tp := synthesized.template
	all := []string{envTableName, envClusters, envLogGroup, envTaskExecRoleARN, envTaskRoleARN, envScheduleGroup, envSchedulerRoleARN,
		envSchedulerTargetARN, envScheduleDLQARN, envEventBus, envUIURL, envAccountID, envSecretsPrefix, envJobRolePrefix}
	for _, f := range functions {
		id := tp.functionID(f.Name)
		env, _ := tp.Resources[id].Properties["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		for _, k := range all {
			_, ok := vars[k]
			// Schedule settings for the functions that manage schedules, task
			// roles for those that register task definitions, the rest for all.
			want := envFor(f, k)
			if ok != want {
				t.Errorf("%s: %s set=%v, want %v", f.Name, k, ok, want)
			}
		}
		if f.Name == "api" && render(vars[envSchedulerTargetARN]) != "${"+tp.functionID("scheduler")+".Arn}" {
			t.Errorf("api: %s = %s, want the scheduler function's ARN", envSchedulerTargetARN, render(vars[envSchedulerTargetARN]))
		}
		if f.Access.ManageSchedules && !strings.HasPrefix(render(vars[envScheduleGroup]), "${ScheduleGroup") {
			t.Errorf("%s: %s = %s", f.Name, envScheduleGroup, render(vars[envScheduleGroup]))
		}
		if f.Access.TaskDefinitions == (vars[envTaskRoleARN] == nil) {
			t.Errorf("%s: task role ARN %v with TaskDefinitions %v", f.Name, vars[envTaskRoleARN], f.Access.TaskDefinitions)
		}

		var clusters []ClusterEnv
		if err := json.Unmarshal([]byte(render(vars[envClusters])), &clusters); err != nil {
			t.Fatalf("%s: %s is not JSON: %v (%s)", f.Name, envClusters, err, render(vars[envClusters]))
		}
		if len(clusters) != len(synthesized.clusters) {
			t.Fatalf("%s: %d clusters in %s, want %d", f.Name, len(clusters), envClusters, len(synthesized.clusters))
		}
		for i, c := range clusters {
			cfg := synthesized.clusters[i]
			launchType := cfg.LaunchType
			if launchType == "FARGATE" {
				launchType = "" // the default, left out
			}
			if c.Name != cfg.Name || c.MaxRunning != cfg.MaxRunning || c.LaunchType != launchType {
				t.Errorf("%s: cluster %d = %+v, want it to match %+v", f.Name, i, c, cfg)
			}
			if cfg.Existing() && (c.ECSCluster != cfg.ClusterARN || c.Queue != "flotilla-prod-"+cfg.Name+".fifo" || c.AssignPublicIP ||
				!slices.Equal(c.Subnets, cfg.Subnets) || len(c.SecurityGroups) == 0) {
				t.Errorf("%s: existing cluster %+v, want its queue, its ARN, its subnets, security groups and no public IP", f.Name, c)
			}
			// A created cluster is named by convention (FLOTILLA_NAME_PREFIX)
			// on the shared network with a public IP (no NAT).
			if !cfg.Existing() && (c.ECSCluster != "" || c.Queue != "" || len(c.Subnets) != 0 ||
				render(vars[envNamePrefix]) != "flotilla-prod" || render(vars[envAssignPublicIP]) != "1" || vars[envSubnets] == nil) {
				t.Errorf("%s: new cluster %+v, want only its name, the prefix flotilla-prod and the shared network", f.Name, c)
			}
		}
	}
}

// --- engine events -----------------------------------------------------------------

// ruleProblems: the ECS task state rule matches only Flotilla's tasks on
// Flotilla's clusters and targets the events function.
func ruleProblems(tp tmpl, clusters []ClusterConfig) []string {
	var probs []string
	events := tp.functionID("events")
	n := 0
	for _, id := range tp.ofType("AWS::Events::Rule") {
		r := tp.Resources[id].Properties
		pat, ok := r["EventPattern"].(map[string]any)
		if !ok || !slices.Contains(renderAll(pat["source"]), "aws.ecs") {
			continue
		}
		n++
		if !slices.Equal(renderAll(pat["source"]), []string{"aws.ecs"}) || !slices.Equal(renderAll(pat["detail-type"]), []string{"ECS Task State Change"}) {
			probs = append(probs, fmt.Sprintf("%s: source %v detail-type %v", id, pat["source"], pat["detail-type"]))
		}
		detail, _ := pat["detail"].(map[string]any)
		if got := renderAll(detail["startedBy"]); !slices.Equal(got, []string{`{"prefix":"` + runIDPrefix + `"}`}) {
			probs = append(probs, fmt.Sprintf("%s: detail.startedBy %v, want only the prefix %q", id, got, runIDPrefix))
		}
		if got := renderAll(detail["lastStatus"]); !slices.Equal(got, []string{"RUNNING", "STOPPED"}) {
			probs = append(probs, fmt.Sprintf("%s: detail.lastStatus %v, want only RUNNING and STOPPED", id, got))
		}
		arns := renderAll(detail["clusterArn"])
		if len(arns) != len(clusters) {
			probs = append(probs, fmt.Sprintf("%s: detail.clusterArn %v, want the %d Flotilla clusters", id, arns, len(clusters)))
		}
		for _, c := range clusters {
			if c.Existing() && !slices.Contains(arns, c.ClusterARN) {
				probs = append(probs, id+": detail.clusterArn misses "+c.ClusterARN)
			}
		}
		for _, a := range arns {
			if !strings.HasPrefix(a, "arn:aws:ecs:") && !regexp.MustCompile(`^\$\{Cluster[-\w]*\.Arn\}$`).MatchString(a) {
				probs = append(probs, id+": detail.clusterArn has "+a+", not a Flotilla cluster")
			}
		}
		targets := list(r["Targets"])
		if len(targets) != 1 || render(targets[0].(map[string]any)["Arn"]) != "${"+events+".Arn}" {
			probs = append(probs, id+": targets are not just the events function")
		}
	}
	if n != 1 {
		probs = append(probs, fmt.Sprintf("%d ECS rules, want 1", n))
	}
	return probs
}

func TestTaskStateRuleMatchesOnlyFlotillaTasks(t *testing.T) {
	tp := synthesized.template
	check(t, ruleProblems(tp, synthesized.clusters))

	broken := tp.clone()
	for _, id := range broken.ofType("AWS::Events::Rule") {
		if pat, ok := broken.Resources[id].Properties["EventPattern"].(map[string]any); ok {
			delete(pat["detail"].(map[string]any), "startedBy")
		}
	}
	if len(ruleProblems(broken, synthesized.clusters)) == 0 {
		t.Error("the rule check accepts a rule for every task")
	}
}

func TestSweepRunsEveryMinute(t *testing.T) {
	tp := synthesized.template
	sweep := tp.functionID("sweep")
	for _, id := range tp.ofType("AWS::Events::Rule") {
		r := tp.Resources[id].Properties
		if r["ScheduleExpression"] == "rate(1 minute)" && render(list(r["Targets"])[0].(map[string]any)["Arn"]) == "${"+sweep+".Arn}" {
			return
		}
	}
	t.Error("no rate(1 minute) rule targets the sweep function")
}

// --- storage -------------------------------------------------------------------------

func bucketProblems(tp tmpl) []string {
	var probs []string
	buckets := tp.ofType("AWS::S3::Bucket")
	if len(buckets) == 0 {
		probs = append(probs, "no bucket")
	}
	for _, id := range buckets {
		pab, _ := tp.Resources[id].Properties["PublicAccessBlockConfiguration"].(map[string]any)
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if pab[k] != true {
				probs = append(probs, id+": "+k+" is not true")
			}
		}
	}
	return probs
}

func TestBucketBlocksPublicAccess(t *testing.T) {
	tp := synthesized.template
	check(t, bucketProblems(tp))

	broken := tp.clone()
	for _, id := range broken.ofType("AWS::S3::Bucket") {
		delete(broken.Resources[id].Properties, "PublicAccessBlockConfiguration")
	}
	if len(bucketProblems(broken)) == 0 {
		t.Error("the bucket check accepts a public bucket")
	}
	if len(tp.ofType("AWS::CloudFront::OriginAccessControl")) != 1 {
		t.Error("want one CloudFront origin access control")
	}
}

// TestUISecurityHeaders: every behaviour of the UI distribution sends the
// security headers `flotilla serve` sends: a CSP without inline scripts
// and without framing, nosniff, DENY, no referrer.
func TestUISecurityHeaders(t *testing.T) {
	tp := synthesized.template
	policies := tp.ofType("AWS::CloudFront::ResponseHeadersPolicy")
	if len(policies) != 1 {
		t.Fatalf("response headers policies: %v", policies)
	}
	cfg, _ := tp.Resources[policies[0]].Properties["ResponseHeadersPolicyConfig"].(map[string]any)
	sec, _ := cfg["SecurityHeadersConfig"].(map[string]any)
	csp := render(sec["ContentSecurityPolicy"].(map[string]any)["ContentSecurityPolicy"])
	for _, want := range []string{"script-src 'self';", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q allows inline code", csp)
	}
	if render(sec["FrameOptions"].(map[string]any)["FrameOption"]) != "DENY" ||
		render(sec["ReferrerPolicy"].(map[string]any)["ReferrerPolicy"]) != "no-referrer" || sec["ContentTypeOptions"] == nil {
		t.Errorf("security headers %v", sec)
	}
	for _, id := range tp.ofType("AWS::CloudFront::Distribution") {
		dc := tp.Resources[id].Properties["DistributionConfig"].(map[string]any)
		behaviours := append([]any{dc["DefaultCacheBehavior"]}, list(dc["CacheBehaviors"])...)
		for _, b := range behaviours {
			if got := render(b.(map[string]any)["ResponseHeadersPolicyId"]); got != "${"+policies[0]+"}" {
				t.Errorf("a UI behaviour has response headers policy %q, want %s", got, policies[0])
			}
		}
	}
}

func TestTable(t *testing.T) {
	tp := synthesized.template
	ids := tp.ofType("AWS::DynamoDB::Table")
	if len(ids) != 1 {
		t.Fatalf("%d tables, want 1", len(ids))
	}
	p := tp.Resources[ids[0]].Properties
	if p["BillingMode"] != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode %v, want on-demand", p["BillingMode"])
	}
	if pitr, _ := p["PointInTimeRecoverySpecification"].(map[string]any); pitr["PointInTimeRecoveryEnabled"] != true {
		t.Error("point-in-time recovery is off")
	}
	// The projections and keys the DynamoDB adapter relies on (its
	// CreateTable in tests makes the same): every index sorts by the run
	// id and carries the run's fixed attributes, for the history filters.
	projections := map[string]string{}
	for _, g := range list(p["GlobalSecondaryIndexes"]) {
		g := g.(map[string]any)
		proj, _ := g["Projection"].(map[string]any)
		var keys []string
		for _, k := range list(g["KeySchema"]) {
			keys = append(keys, fmt.Sprint(k.(map[string]any)["AttributeName"]))
		}
		projections[g["IndexName"].(string)] = fmt.Sprint(keys, " ", proj["ProjectionType"], " ", renderAll(proj["NonKeyAttributes"]))
	}
	fixed := "INCLUDE [ow cl df sc tg qa]"
	want := map[string]string{"gsi1": "[gsi1pk sk] " + fixed, "gsi2": "[gsi2pk sk] " + fixed, "gsi3": "[gsi3pk sk] " + fixed,
		"gsi4": "[gsi4pk sk] " + fixed}
	if len(projections) != len(want) {
		t.Errorf("indexes %v, want %v", projections, want)
	}
	for name, w := range want {
		if got, ok := projections[name]; !ok {
			t.Errorf("index %s missing (have %v)", name, projections)
		} else if got != w {
			t.Errorf("index %s is %s, want %s", name, got, w)
		}
	}
	for _, ix := range tableIndexes {
		if _, ok := projections[ix.Name]; !ok {
			t.Errorf("index %s missing (have %v)", ix.Name, projections)
		}
	}
	// Retention of ended runs is off by default (cdk.json): no TTL, and
	// no function is told to set one.
	if p["TimeToLiveSpecification"] != nil {
		t.Errorf("TTL is on by default: %v", p["TimeToLiveSpecification"])
	}
	for _, f := range functions {
		env, _ := tp.Resources[tp.functionID(f.Name)].Properties["Environment"].(map[string]any)
		if vars, _ := env["Variables"].(map[string]any); vars[envRunRetentionDays] != nil {
			t.Errorf("%s: %s set by default", f.Name, envRunRetentionDays)
		}
	}
}

// With flotilla:run_retention_days, the table's TTL names the attribute
// the store writes on ended runs, and every function that writes runs is
// told the retention; a bad value is refused before anything is made.
func TestRunRetention(t *testing.T) {
	clusters := []any{map[string]any{"name": "default", "max_running": 2.0, "launch_type": "FARGATE"}}
	tp := stackFor(t, map[string]any{ctxClusters: clusters, ctxRunRetention: 90.0})
	ids := tp.ofType("AWS::DynamoDB::Table")
	spec, _ := tp.Resources[ids[0]].Properties["TimeToLiveSpecification"].(map[string]any)
	if spec["AttributeName"] != tableTTLAttribute || spec["Enabled"] != true {
		t.Errorf("TimeToLiveSpecification = %v, want %s enabled", spec, tableTTLAttribute)
	}
	for _, f := range functions {
		if !f.Access.TableReadWrite {
			continue
		}
		env, _ := tp.Resources[tp.functionID(f.Name)].Properties["Environment"].(map[string]any)
		if vars, _ := env["Variables"].(map[string]any); vars[envRunRetentionDays] != "90" {
			t.Errorf("%s: %s = %v, want 90", f.Name, envRunRetentionDays, vars[envRunRetentionDays])
		}
	}
	for _, bad := range []any{-1.0, 1.5, "thirty", true} {
		ctx := map[string]any{ctxClusters: clusters, ctxRunRetention: bad}
		app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, BuiltinCloudFormationValidation: jsii.Bool(false)})
		if _, err := PropsFromContext(app); err == nil || !strings.Contains(err.Error(), ctxRunRetention) {
			t.Errorf("%s = %v: %v, want an error naming the setting", ctxRunRetention, bad, err)
		}
	}
}

// --- IAM -------------------------------------------------------------------------------

func actionsOf(s map[string]any) []string { return renderAll(s["Action"]) }

// dispatcherProblems: RunTask/StopTask only on Flotilla's task definitions
// and clusters, PassRole only the two task roles, no other wildcard.
func dispatcherProblems(tp tmpl, clusters int) []string {
	var probs []string
	role := tp.roleOf(tp.functionID("dispatcher"))
	// The stack's two roles and, by name prefix at the root path, the roles
	// definitions run as (task_role_arn).
	taskRoles := []string{"${" + firstID(tp, "TaskExecutionRole") + ".Arn}", "${" + firstID(tp, "TaskRole") + ".Arn}",
		"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/" + jobRolePrefixOf(defaultJobRolePrefix, defaultStage) + "*"}
	sawRun, sawStop, sawPass := false, false, false
	for _, s := range tp.statements(role) {
		acts := actionsOf(s)
		res := renderAll(s["Resource"])
		for _, a := range acts {
			if strings.HasSuffix(a, "*") {
				probs = append(probs, "wildcard action "+a)
			}
		}
		ecsClusterCond := func() bool {
			c, _ := s["Condition"].(map[string]any)
			ae, _ := c["ArnEquals"].(map[string]any)
			return len(list(ae["ecs:cluster"])) == clusters
		}
		switch {
		case slices.Contains(acts, "ecs:RunTask"):
			sawRun = true
			if len(acts) != 1 || len(res) != 1 || !regexp.MustCompile(`:task-definition/flotilla-prod-\*$`).MatchString(res[0]) {
				probs = append(probs, fmt.Sprintf("RunTask on %v (with %v), want only task-definition/flotilla-prod-*", res, acts))
			}
			if !ecsClusterCond() {
				probs = append(probs, "RunTask without the ecs:cluster condition on Flotilla's clusters")
			}
		case slices.Contains(acts, "ecs:StopTask") || slices.Contains(acts, "ecs:DescribeTasks"):
			sawStop = true
			if len(res) != clusters {
				probs = append(probs, fmt.Sprintf("StopTask/DescribeTasks on %v, want one task/<cluster>/* per cluster", res))
			}
			for _, r := range res {
				if !regexp.MustCompile(`^arn:\$\{AWS::Partition\}:ecs:\$\{AWS::Region\}:\$\{AWS::AccountId\}:task/[^*/]+/\*$`).MatchString(r) {
					probs = append(probs, "StopTask/DescribeTasks on "+r+", want task/<cluster>/*")
				}
			}
			if !ecsClusterCond() {
				probs = append(probs, "StopTask/DescribeTasks without the ecs:cluster condition")
			}
		case slices.Equal(acts, []string{"ecs:ListTasks"}):
			// Names no task: "*", held to Flotilla's clusters by the condition.
			if !slices.Equal(res, []string{"*"}) || !ecsClusterCond() {
				probs = append(probs, fmt.Sprintf("ListTasks on %v without the ecs:cluster condition", res))
			}
		case slices.Contains(acts, "iam:PassRole"):
			sawPass = true
			got := slices.Clone(res)
			sort.Strings(got)
			want := slices.Clone(taskRoles)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				probs = append(probs, fmt.Sprintf("PassRole on %v, want only %v", got, want))
			}
		default:
			if slices.Contains(res, "*") {
				for _, a := range acts {
					if a != "ecs:RegisterTaskDefinition" && a != "ecs:DescribeTaskDefinition" {
						probs = append(probs, a+" on *")
					}
				}
			}
		}
	}
	if !sawRun || !sawStop || !sawPass {
		probs = append(probs, fmt.Sprintf("dispatcher grants: RunTask %v, StopTask %v, PassRole %v; want all", sawRun, sawStop, sawPass))
	}
	if mp := tp.Resources[role].Properties["ManagedPolicyArns"]; mp != nil {
		probs = append(probs, fmt.Sprintf("dispatcher role has managed policies %v", mp))
	}
	return probs
}

func firstID(tp tmpl, prefix string) string {
	for _, id := range tp.ofType("AWS::IAM::Role") {
		if regexp.MustCompile(`^` + prefix + `[0-9A-F]{8}$`).MatchString(id) {
			return id
		}
	}
	return prefix + "?"
}

func TestDispatcherIAM(t *testing.T) {
	tp := synthesized.template
	check(t, dispatcherProblems(tp, len(synthesized.clusters)))

	broken := tp.clone()
	for _, s := range broken.statements(broken.roleOf(broken.functionID("dispatcher"))) {
		if slices.Contains(actionsOf(s), "ecs:RunTask") || slices.Contains(actionsOf(s), "iam:PassRole") {
			s["Resource"] = "*"
		}
	}
	if n := len(dispatcherProblems(broken, len(synthesized.clusters))); n < 2 {
		t.Errorf("the dispatcher check found %d problems with RunTask and PassRole on *, want at least 2", n)
	}
}

// Only the dispatcher starts tasks or passes task roles; only the api manages
// schedules; the scheduler role may only invoke the scheduler function.
func TestLeastPrivilegeAcrossFunctions(t *testing.T) {
	tp := synthesized.template
	for _, f := range functions {
		for _, s := range tp.statements(tp.roleOf(tp.functionID(f.Name))) {
			acts := actionsOf(s)
			res := renderAll(s["Resource"])
			// The sweep restarts interrupted starts through the executor.
			startsTasks := f.Name == "dispatcher" || f.Name == "sweep"
			if slices.Contains(acts, "ecs:RunTask") && !startsTasks {
				t.Errorf("%s may RunTask", f.Name)
			}
			if slices.ContainsFunc(acts, func(a string) bool { return strings.HasPrefix(a, "scheduler:") }) {
				if !f.Access.ManageSchedules {
					t.Errorf("%s may manage schedules", f.Name)
				}
				if !slices.Equal(res, []string{"arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${" + tp.ofType("AWS::Scheduler::ScheduleGroup")[0] + "}/*"}) {
					t.Errorf("%s: scheduler actions on %v, want the stack's group only", f.Name, res)
				}
			}
			if slices.Contains(acts, "iam:PassRole") && f.Name == "api" &&
				!slices.Equal(res, []string{"${" + firstID(tp, "SchedulerRole") + ".Arn}"}) {
				t.Errorf("api: PassRole on %v, want only the scheduler role", res)
			}
			if slices.Contains(acts, "iam:PassRole") && f.Name != "api" && !startsTasks {
				t.Errorf("%s may PassRole", f.Name)
			}
		}
	}
	schedRole := firstID(tp, "SchedulerRole")
	sts := map[string][]string{}
	for _, st := range tp.statements(schedRole) {
		for _, a := range actionsOf(st) {
			sts[a] = append(sts[a], renderAll(st["Resource"])...)
		}
	}
	var dlq string
	for _, id := range tp.ofType("AWS::SQS::Queue") {
		if strings.HasSuffix(render(tp.Resources[id].Properties["QueueName"]), "-events-dlq") {
			dlq = "${" + id + ".Arn}"
		}
	}
	if len(sts) != 2 || !slices.Equal(sts["lambda:InvokeFunction"], []string{"${" + tp.functionID("scheduler") + ".Arn}"}) ||
		!slices.Equal(sts["sqs:SendMessage"], []string{dlq}) {
		t.Errorf("scheduler role may %v, want only lambda:InvokeFunction on the scheduler function and sqs:SendMessage on the dead-letter queue", sts)
	}
	groups := tp.ofType("AWS::Scheduler::ScheduleGroup")
	// Named by CloudFormation (one per stack, so stages never collide) and
	// deleted with the stack: its schedules go with it.
	if len(groups) != 1 || tp.Resources[groups[0]].Properties["Name"] != nil || tp.Resources[groups[0]].DeletionPolicy != "Delete" {
		t.Errorf("schedule groups %v, want one, unnamed, deleted with the stack", groups)
	}
}

// --- UI ------------------------------------------------------------------------------

// The UI reads /config.json; its values are deploy-time markers that the
// BucketDeployment replaces with the API URL and the sign-in settings.
func TestUIConfigJSON(t *testing.T) {
	tp := synthesized.template
	deps := tp.ofType("Custom::CDKBucketDeployment")
	if len(deps) != 1 {
		t.Fatalf("%d bucket deployments, want 1", len(deps))
	}
	markers := map[string]string{}
	for _, m := range list(tp.Resources[deps[0]].Properties["SourceMarkers"]) {
		for k, v := range m.(map[string]any) {
			markers[k] = render(v)
		}
	}
	// value with its markers replaced by what they stand for
	resolve := func(v any) string {
		s := fmt.Sprint(v)
		for k, r := range markers {
			s = strings.ReplaceAll(s, k, r)
		}
		return s
	}
	// The shape of the web app's RuntimeConfig (web/src/config.ts).
	want := map[string]*regexp.Regexp{
		"api_base_url":      regexp.MustCompile(`^\$\{HttpApi[0-9A-F]+\.ApiEndpoint\}$`),
		"auth.region":       regexp.MustCompile(`^\$\{AWS::Region\}$`),
		"auth.user_pool_id": regexp.MustCompile(`^\$\{UserPool[0-9A-F]+\}$`),
		"auth.client_id":    regexp.MustCompile(`^\$\{UserPoolClient[0-9A-F]+\}$`),
		"auth.domain":       regexp.MustCompile(`^https://\$\{UserPoolDomain[0-9A-F]+\}\.auth\.\$\{AWS::Region\}\.amazoncognito\.com$`),
		"auth.redirect_uri": regexp.MustCompile(`^https://\$\{UiDistribution[0-9A-F]+\.DomainName\}/$`),
	}
	got := map[string]any{}
	for k, v := range synthesized.uiConfig {
		if sub, ok := v.(map[string]any); ok {
			for sk, sv := range sub {
				got[k+"."+sk] = sv
			}
			continue
		}
		got[k] = v
	}
	for k, re := range want {
		v, ok := got[k]
		if !ok {
			t.Errorf("config.json: %s missing", k)
			continue
		}
		if s := resolve(v); !re.MatchString(s) {
			t.Errorf("config.json: %s = %s, want %s", k, s, re)
		}
	}
	if len(got) != len(want) {
		t.Errorf("config.json has %d keys, want %d: %v", len(got), len(want), synthesized.uiConfig)
	}
}

// --- cdk-nag and outputs ----------------------------------------------------------------

func TestNagAwsSolutionsHasNoUnsuppressedErrors(t *testing.T) {
	for _, e := range synthesized.nagErrs {
		t.Error(e)
	}
}

func TestOutputs(t *testing.T) {
	for _, k := range []string{"ApiUrl", "UiUrl"} {
		if _, ok := synthesized.template.Outputs[k]; !ok {
			t.Errorf("output %s missing", k)
		}
	}
}
