package awsecs_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/runs"
)

// An array's children run the command rendered with their item, which can
// be far longer than the template: the launch checks ECS's overrides
// limit on the child with the longest command and item, and refuses it.
// (From an adversarial review: the check probed the template before.)
func TestArrayLaunchChecksTheLongestRenderedChild(t *testing.T) {
	b := setup(t, awsfake.ECSOptions{})
	ctx := context.Background()
	db, err := embedded.OpenDB(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := embedded.NewQueue(db, []string{"default"}, 0)
	svc := &runs.Service{Store: embedded.NewStore(db), Queue: q, Executor: b.exec,
		Clusters: map[string]flotilla.Cluster{"default": {Name: "default"}}, DefaultCluster: "default"}
	def := flotilla.Definition{ID: "def_tpl", Alias: "tpl", Image: "alpine:3", Command: "echo {{ .params.x }}{{ .params.x }}{{ .params.x }}", CPU: 256, Memory: 512, Revision: 1,
		ParametersSchema: json.RawMessage(`{"type":"object","required":["x"],"properties":{"x":{"type":"string"},"pad":{"type":"string"}}}`)}
	def.Normalize()
	if _, err := svc.Store.CreateDefinition(ctx, def); err != nil {
		t.Fatal(err)
	}
	item := `{"x":"` + strings.Repeat("a", 1340) + `","pad":"` + strings.Repeat("b", 2700) + `"}`
	_, _, err = svc.Launch(ctx, "alice", runs.LaunchRequest{Definition: "tpl", Array: &runs.ArrayRequest{Items: []json.RawMessage{json.RawMessage(`{"x":"a"}`), json.RawMessage(item)}}})
	if !errors.Is(err, flotilla.ErrInvalid) {
		t.Fatalf("an array whose second child's overrides are over ECS's limit: %v, want refused at launch", err)
	}
	if page, _ := svc.Store.ListRuns(ctx, flotilla.RunFilter{}); len(page.Items) != 0 {
		t.Fatalf("a refused launch stored %d runs", len(page.Items))
	}
}
