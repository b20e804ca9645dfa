package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"
)

// TestMigrationTableBesideTheEarlierOne: the table has another logical ID
// than the earlier layout's table had (construct "Table"), so a stack of
// that layout upgrading creates this one beside it instead of asking
// CloudFormation to change gsi1 and gsi2 in place, which it refuses (one
// index added or deleted per update). The old table leaves the template and
// is kept by its removal policy (RetainExceptOnCreate by default, as
// TestRemovalPolicies checks for every table). Its name is an output,
// for `flotilla migrate --to`.
func TestMigrationTableBesideTheEarlierOne(t *testing.T) {
	tp := synthesized.template
	ids := tp.ofType("AWS::DynamoDB::Table")
	if len(ids) != 1 {
		t.Fatalf("%d tables, want 1", len(ids))
	}
	// The earlier stack's logical ID, as the CDK derives it from the
	// construct path (the same for every stage).
	app := awscdk.NewApp(nil)
	earlier := awscdk.NewStack(app, jsii.String("Earlier"), nil)
	old := awsdynamodb.NewTable(earlier, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("pk"), Type: awsdynamodb.AttributeType_STRING},
	})
	oldID := *earlier.GetLogicalId(old.Node().DefaultChild().(awscdk.CfnElement))
	if ids[0] == oldID {
		t.Fatalf("the table's logical ID is %s, the earlier layout's: an upgrade would change its indexes in place", oldID)
	}
	out, ok := tp.Outputs["TableName"].(map[string]any)
	if !ok || render(out["Value"]) != render(map[string]any{"Ref": ids[0]}) {
		t.Fatalf("output TableName = %v, want the table's name (Ref %s)", tp.Outputs["TableName"], ids[0])
	}
}

// TestPaused: with flotilla:paused every function is throttled (reserved
// concurrency 0) and every queue's event source mapping is off, so the
// messages wait in their queues; without it (cdk.json) nothing is.
func TestPaused(t *testing.T) {
	clusters := []any{map[string]any{"name": "default", "max_running": 2.0, "launch_type": "FARGATE"}}
	for _, c := range []struct {
		name   string
		tp     tmpl
		paused bool
	}{
		{"default", synthesized.template, false},
		{"paused", stackFor(t, map[string]any{ctxClusters: clusters, ctxPaused: true}), true},
		{"paused as a -c string", stackFor(t, map[string]any{ctxClusters: clusters, ctxPaused: "true"}), true},
		{"false", stackFor(t, map[string]any{ctxClusters: clusters, ctxPaused: "false"}), false},
	} {
		fns := c.tp.ofType("AWS::Lambda::Function")
		if len(fns) < len(functions) {
			t.Fatalf("%s: %d functions, want at least %d", c.name, len(fns), len(functions))
		}
		for _, f := range functions {
			rc, set := c.tp.Resources[c.tp.functionID(f.Name)].Properties["ReservedConcurrentExecutions"]
			if c.paused && (!set || render(rc) != "0") {
				t.Errorf("%s: function %s has reserved concurrency %v, want 0", c.name, f.Name, rc)
			}
			if !c.paused && set {
				t.Errorf("%s: function %s has reserved concurrency %v, want none", c.name, f.Name, rc)
			}
		}
		esms := c.tp.ofType("AWS::Lambda::EventSourceMapping")
		if len(esms) == 0 {
			t.Fatalf("%s: no event source mapping", c.name)
		}
		for _, id := range esms {
			enabled := c.tp.Resources[id].Properties["Enabled"]
			if c.paused != (enabled == false) {
				t.Errorf("%s: event source mapping %s Enabled = %v", c.name, id, enabled)
			}
		}
	}
}
