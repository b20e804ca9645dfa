package awswire_test

import (
	"context"
	"strings"
	"testing"

	"github.com/flotilla-run/flotilla/internal/awslogs"
	"github.com/flotilla-run/flotilla/internal/awsscheduler"
	"github.com/flotilla-run/flotilla/internal/awswire"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

const twoClusters = `[
 {"name":"default","max_running":10,"queue_url":"https://sqs.us-east-1.amazonaws.com/1/default.fifo",
  "ecs_cluster":"arn:aws:ecs:us-east-1:1:cluster/flotilla-default","launch_type":"FARGATE",
  "subnets":["subnet-1"],"security_groups":["sg-1"],"assign_public_ip":true},
 {"name":"spot","max_running":3,"queue_url":"https://sqs.us-east-1.amazonaws.com/1/spot.fifo",
  "ecs_cluster":"flotilla-spot","launch_type":"FARGATE_SPOT","subnets":["subnet-2"]}]`

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	c, err := awswire.FromEnv(env(map[string]string{
		"FLOTILLA_TABLE_NAME": "flotilla", "FLOTILLA_CLUSTERS": twoClusters,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if awswire.DefaultLogGroup != awslogs.DefaultLogGroup || awswire.DefaultScheduleGroup != awsscheduler.DefaultGroup {
		t.Errorf("awswire's defaults drifted from the adapters'")
	}
	if c.LogGroup != "/flotilla/runs" || c.ScheduleGroup != "flotilla" || c.PutOnRemove || c.StaticCredentials || c.RunRetentionDays != 0 {
		t.Errorf("defaults: %+v", c)
	}
	if len(c.Clusters) != 2 || c.Clusters[0].Name != "default" || !c.Clusters[0].AssignPublicIP || c.Clusters[1].LaunchType != "FARGATE_SPOT" {
		t.Errorf("clusters: %+v", c.Clusters)
	}

	c, err = awswire.FromEnv(env(map[string]string{
		"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": twoClusters,
		"FLOTILLA_DYNAMODB_ENDPOINT": "http://127.0.0.1:1", "FLOTILLA_AWS_STATIC_CREDENTIALS": "1",
		"FLOTILLA_RUN_RETENTION_DAYS": "90",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.PutOnRemove || !c.StaticCredentials || c.DynamoDBEndpoint != "http://127.0.0.1:1" || c.RunRetentionDays != 90 {
		t.Errorf("emulator config: %+v", c)
	}
}

func TestFromEnvErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	ok := `{"name":"a","max_running":1,"queue_url":"https://q/a.fifo","ecs_cluster":"c"}`
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no table", map[string]string{"FLOTILLA_CLUSTERS": "[" + ok + "]"}, "FLOTILLA_TABLE_NAME"},
		{"no clusters", map[string]string{"FLOTILLA_TABLE_NAME": "t"}, "FLOTILLA_CLUSTERS is not set"},
		{"not json", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": "{"}, "FLOTILLA_CLUSTERS is not a JSON array"},
		{"empty", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": "[]"}, "lists no cluster"},
		{"unknown field", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": `[{"nme":"a"}]`}, "unknown field"},
		{"twice", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": "[" + ok + "," + ok + "]"}, "FLOTILLA_CLUSTERS[1] (a): name is used twice"},
		{"max running", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": `[{"name":"a","queue_url":"https://q/a.fifo","ecs_cluster":"c"}]`}, "max_running must be at least 1"},
		{"standard queue", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": `[{"name":"a","max_running":1,"queue_url":"https://q/a","ecs_cluster":"c"}]`}, "queue_url"},
		{"no ecs cluster", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": `[{"name":"a","max_running":1,"queue_url":"https://q/a.fifo"}]`}, "ecs_cluster is required"},
		{"launch type", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": `[{"name":"a","max_running":1,"queue_url":"https://q/a.fifo","ecs_cluster":"c","launch_type":"K8S"}]`}, "launch_type"},
		{"fallback not spot", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": `[{"name":"a","max_running":1,"queue_url":"https://q/a.fifo","ecs_cluster":"c","spot_fallback":"b"},{"name":"b","max_running":1,"queue_url":"https://q/b.fifo","ecs_cluster":"c"}]`}, "spot_fallback applies to a FARGATE_SPOT cluster"},
		{"fallback unknown", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": `[{"name":"a","max_running":1,"queue_url":"https://q/a.fifo","ecs_cluster":"c","launch_type":"FARGATE_SPOT","spot_fallback":"z"}]`}, `spot_fallback "z" is not a cluster`},
		{"fallback spot too", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": `[{"name":"a","max_running":1,"queue_url":"https://q/a.fifo","ecs_cluster":"c","launch_type":"FARGATE_SPOT","spot_fallback":"b"},{"name":"b","max_running":1,"queue_url":"https://q/b.fifo","ecs_cluster":"c","launch_type":"FARGATE_SPOT"}]`}, "FARGATE_SPOT cluster too"},
		{"bad bool", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": "[" + ok + "]", "FLOTILLA_AWS_STATIC_CREDENTIALS": "yes"}, "FLOTILLA_AWS_STATIC_CREDENTIALS"},
		{"bad retention", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": "[" + ok + "]", "FLOTILLA_RUN_RETENTION_DAYS": "30d"}, "FLOTILLA_RUN_RETENTION_DAYS"},
		{"negative retention", map[string]string{"FLOTILLA_TABLE_NAME": "t", "FLOTILLA_CLUSTERS": "[" + ok + "]", "FLOTILLA_RUN_RETENTION_DAYS": "-1"}, "FLOTILLA_RUN_RETENTION_DAYS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := awswire.FromEnv(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	c, err := awswire.FromEnv(env(map[string]string{
		"FLOTILLA_TABLE_NAME": "flotilla", "FLOTILLA_CLUSTERS": twoClusters,
		"FLOTILLA_AWS_STATIC_CREDENTIALS": "1",
		"FLOTILLA_SCHEDULER_TARGET_ARN":   "arn:aws:lambda:us-east-1:1:function:sched",
		"FLOTILLA_SCHEDULER_ROLE_ARN":     "arn:aws:iam::1:role/sched",
	}))
	if err != nil {
		t.Fatal(err)
	}
	w, err := awswire.Build(context.Background(), c, awswire.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := w.Service
	if svc.DefaultCluster != "default" || svc.Store == nil || svc.Queue == nil || svc.Executor == nil {
		t.Fatalf("service: %+v", svc)
	}
	want := map[string]flotilla.Cluster{
		"default": {Name: "default", MaxRunning: 10, LaunchType: flotilla.EngineFargate},
		"spot":    {Name: "spot", MaxRunning: 3, LaunchType: flotilla.EngineFargate},
	}
	for name, cl := range want {
		if got := svc.Clusters[name]; got != cl {
			t.Errorf("cluster %s = %+v, want %+v", name, got, cl)
		}
	}
	if w.Decoder.Clusters["flotilla-default"] != "default" || w.Decoder.Clusters["flotilla-spot"] != "spot" {
		t.Errorf("decoder clusters: %v", w.Decoder.Clusters)
	}
	if w.Config.SchedulerTargetARN == "" || w.Config.SchedulerRoleARN == "" {
		t.Errorf("scheduler settings: %+v", w.Config)
	}
	if got := w.ClusterNames(); len(got) != 2 || got[0] != "default" {
		t.Errorf("ClusterNames = %v", got)
	}
}
