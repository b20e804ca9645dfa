package main

import (
	"strings"
	"testing"
)

func TestParseClusters(t *testing.T) {
	ok := []struct {
		name string
		in   any
	}{
		{"from cdk.json", []any{map[string]any{"name": "default", "max_running": 10.0, "launch_type": "FARGATE"}}},
		{"from -c", `[{"name":"default","max_running":1}]`},
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
