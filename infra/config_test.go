package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

func TestParseClusters(t *testing.T) {
	ok := []struct {
		name string
		in   any
	}{
		{"from cdk.json", []any{map[string]any{"name": "default", "max_running": 10.0, "launch_type": "FARGATE"}}},
		{"from -c", `[{"name":"default","max_running":1}]`},
		{"spot with an on-demand twin", `[{"name":"spot","max_running":5,"launch_type":"FARGATE_SPOT","spot_fallback":"default"},{"name":"default","max_running":1}]`},
		{"existing", `[{"name":"gpu","max_running":2,"launch_type":"EC2","cluster_arn":"arn:aws:ecs:us-east-1:123456789012:cluster/gpu","subnets":["subnet-1"],"security_groups":["sg-1"]}]`},
	}
	for _, tc := range ok {
		cs, err := ParseClusters(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if cs[0].LaunchType == "" {
			t.Errorf("%s: launch type not defaulted", tc.name)
		}
	}

	bad := []struct{ in, want string }{
		{`[]`, "at least one"},
		{`[{"name":"Default","max_running":1}]`, "name"},
		{`[{"name":"jobs-dlq","max_running":1}]`, "-dlq"},
		{`[{"name":"a","max_running":1,"spot_fallback":"b"},{"name":"b","max_running":1}]`, "applies to a FARGATE_SPOT cluster"},
		{`[{"name":"a","max_running":1,"launch_type":"FARGATE_SPOT","spot_fallback":"z"}]`, `"z" is not a cluster`},
		{`[{"name":"a","max_running":0}]`, "max_running"},
		{`[{"name":"a","max_running":1},{"name":"a","max_running":1}]`, "twice"},
		{`[{"name":"a","max_running":1,"launch_type":"LAMBDA"}]`, "launch_type"},
		{`[{"name":"a","max_running":1,"launch_type":"EC2"}]`, "existing cluster"},
		{`[{"name":"a","max_running":1,"subnets":["subnet-1"]}]`, "only with cluster_arn"},
		{`[{"name":"a","max_running":1,"cluster_arn":"gpu"}]`, "not an ECS cluster ARN"},
		{`[{"name":"a","max_running":1,"cluster_arn":"arn:aws:ecs:us-east-1:123456789012:cluster/x"}]`, "subnets"},
		{`[{"name":"a","max_running":1,"cluster_arn":"arn:aws:ecs:us-east-1:123456789012:cluster/x","subnets":["s"]}]`, "security_groups"},
		{`[{"name":"a","max_running":1,"maxRunning":3}]`, "unknown field"},
	}
	for _, tc := range bad {
		_, err := ParseClusters(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseClusters(%s) = %v, want an error about %q", tc.in, err, tc.want)
		}
	}
	if _, err := ParseClusters(nil); err == nil {
		t.Error("missing context accepted")
	}
}

// What cannot deploy is refused at synth with the reason: existing clusters
// whose FLOTILLA_CLUSTERS would pass Lambda's 4 KB environment, and a
// hosted UI prefix Cognito would refuse.
func TestContextRefusedAtSynth(t *testing.T) {
	existing := func(n, subnets int) []any {
		var cs []any
		for i := range n {
			var sn []any
			for j := range subnets {
				sn = append(sn, fmt.Sprintf("subnet-%017d", i*100+j))
			}
			cs = append(cs, map[string]any{"name": fmt.Sprintf("team-%02d", i), "max_running": 10, "launch_type": "EC2",
				"cluster_arn": fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:cluster/team-%02d-gpu-cluster", i),
				"subnets":     sn, "security_groups": []any{"sg-0123456789abcdef0"}})
		}
		return cs
	}
	props := func(ctx map[string]any) error {
		app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
		_, err := PropsFromContext(app)
		return err
	}
	if err := props(map[string]any{ctxClusters: existing(3, 3)}); err != nil {
		t.Errorf("3 existing clusters: %v", err)
	}
	if err := props(map[string]any{ctxClusters: existing(12, 3)}); err == nil || !strings.Contains(err.Error(), "FLOTILLA_CLUSTERS") {
		t.Errorf("12 existing clusters with 3 subnets each: %v, want a refusal naming FLOTILLA_CLUSTERS", err)
	}
	one := existing(1, 1)
	for _, bad := range []string{"my-aws-jobs", "-jobs", strings.Repeat("a", 60)} {
		if err := props(map[string]any{ctxClusters: one, ctxAuthDomainPrefix: bad}); err == nil || !strings.Contains(err.Error(), ctxAuthDomainPrefix) {
			t.Errorf("auth domain prefix %q: %v, want a refusal", bad, err)
		}
	}
}
