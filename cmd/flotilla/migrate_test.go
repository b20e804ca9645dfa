package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb/ddbtest"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestMigrateCommand runs `flotilla migrate` as an operator would, against
// minidyn: a table of the earlier layout (a QUEUED and a RUNNING run, a
// counter item, written as the earlier store wrote them; the full format is
// covered by internal/awsdynamodb's migration tests) is copied into a
// new-layout table; --dry-run writes nothing, a second run is refused, and
// swapped tables are refused with the field named.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ddbtest.New())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	cfg, err := awsclient.Load(ctx, awsclient.Options{Region: "us-east-1", StaticCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.DisableValidateResponseChecksum = true
	})
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	key := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash}, {AttributeName: aws.String(sk), KeyType: types.KeyTypeRange}}
	}
	var defs []types.AttributeDefinition
	for _, a := range []string{"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"} {
		defs = append(defs, types.AttributeDefinition{AttributeName: aws.String(a), AttributeType: types.ScalarAttributeTypeS})
	}
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("old"), BillingMode: types.BillingModePayPerRequest, AttributeDefinitions: defs, KeySchema: key("pk", "sk"),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{IndexName: aws.String("gsi1"), KeySchema: key("gsi1pk", "gsi1sk"), Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"ow"}}},
			{IndexName: aws.String("gsi2"), KeySchema: key("gsi2pk", "gsi2sk"), Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}},
		},
	}); err != nil {
		t.Fatal(err)
	}
	if err := awsdynamodb.CreateTable(ctx, db, "new"); err != nil {
		t.Fatal(err)
	}
	// The earlier store's items (items.go runItem at 829fb0b^): a QUEUED run
	// in the queue index Q#<cluster>, a RUNNING one holding a slot.
	for _, it := range []map[string]types.AttributeValue{
		{"pk": s("RUN"), "sk": s("run_01KQUEUED0000000000000000"), "cl": s("default"), "st": s("QUEUED"), "ow": s("ada"),
			"df": s("def_1"), "im": s("alpine:3"), "ar": s("x86_64"), "at": n("1"), "qa": n("1764000000000000000"), "v": n("1"),
			"ev":     &types.AttributeValueMemberL{Value: []types.AttributeValue{s("ktkr3b6oe9s0|a||Q|1|")}},
			"gsi1pk": s("Q#default"), "gsi1sk": s("1764000000000000000#run_01KQUEUED0000000000000000"),
			"gsi2pk": s("D#def_1"), "gsi2sk": s("run_01KQUEUED0000000000000000")},
		{"pk": s("RUN"), "sk": s("run_01KRUNNING000000000000000"), "cl": s("default"), "st": s("RUNNING"), "ow": s("bob"),
			"df": s("def_1"), "im": s("alpine:3"), "ar": s("x86_64"), "at": n("1"), "qa": n("1763999000000000000"), "v": n("3"),
			"ev":     &types.AttributeValueMemberL{Value: []types.AttributeValue{s("ktkqll1g2ww0|a||Q|1|"), s("ktkqll1g2ww1|d|Q|P|1|"), s("ktkqll1g2ww2|e|P|R|1|")}},
			"gsi2pk": s("D#def_1"), "gsi2sk": s("run_01KRUNNING000000000000000")},
		{"pk": s("CL#default"), "sk": s("C"), "used": n("1"), "o:bob": n("1"), "o:cy": n("0")},
	} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("old"), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	getenv := func(k string) string {
		return map[string]string{
			"FLOTILLA_DYNAMODB_ENDPOINT": srv.URL, "FLOTILLA_AWS_STATIC_CREDENTIALS": "1", "AWS_REGION": "us-east-1",
		}[k]
	}
	flotillaCLI := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, args, getenv, strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	count := func() int {
		out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("new")})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Items)
	}

	code, out, errs := flotillaCLI("migrate", "--from", "old", "--to", "new", "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run, nothing written") || !strings.Contains(out, "2 (QUEUED 1, RUNNING 1)") ||
		!strings.Contains(out, "ada=1") || count() != 0 {
		t.Fatalf("dry run: exit %d, %d items written\n%s%s", code, count(), out, errs)
	}

	code, out, errs = flotillaCLI("--json", "migrate", "--from", "old", "--to", "new")
	var rep awsdynamodb.MigrateReport
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Runs != 2 || rep.Written != 2 {
		t.Fatalf("migrate: exit %d, report %+v\n%s%s", code, rep, out, errs)
	}
	store := awsdynamodb.New(db, "new", awsdynamodb.Options{PutOnRemove: true})
	r, err := store.GetRun(ctx, "run_01KRUNNING000000000000000")
	if err != nil || r.Status != flotilla.StatusRunning || r.Owner != "bob" {
		t.Fatalf("the migrated running run: %+v, %v", r, err)
	}
	u, err := store.ClusterUsage(ctx, "default")
	if err != nil || u.Queued != 1 || u.Running != 1 || u.RunningOwner["bob"] != 1 {
		t.Fatalf("usage after migrate: %+v, %v", u, err)
	}

	if code, _, errs = flotillaCLI("migrate", "--from", "old", "--to", "new"); code == 0 || !strings.Contains(errs, "finished before") {
		t.Fatalf("a second migrate: exit %d, %s", code, errs)
	}
	if code, out, errs = flotillaCLI("migrate", "--from", "old", "--to", "new", "--dry-run"); code != 0 || !strings.Contains(out, "dry run") {
		t.Fatalf("a dry run after the copy (it only reads): exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs = flotillaCLI("migrate", "--from", "new", "--to", "old", "--again"); code == 0 || !strings.Contains(errs, "from: table new is not of the earlier layout") {
		t.Fatalf("swapped tables: exit %d, %s", code, errs)
	}
}
