package awsdynamodb_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	miniserver "github.com/truora/minidyn/server"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

// bundle is one test's store, its client and the request counter.
type bundle struct {
	store   *awsdynamodb.Store
	db      *dynamodb.Client
	table   string
	counter *awsclient.Counter
}

var tables atomic.Int64

// setup starts minidyn in-process, points a real *dynamodb.Client at it
// and creates a fresh table.
func setup(t testing.TB) bundle {
	t.Helper()
	srv := httptest.NewServer(miniserver.NewServer())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	counter := awsclient.NewCounter()
	cfg, err := awsclient.Load(ctx, awsclient.Options{Region: "us-east-1", StaticCredentials: true, Counter: counter})
	if err != nil {
		t.Fatalf("load aws config: %v", err)
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		// minidyn sends no X-Amz-Crc32 header (see reference/emulators.md).
		o.DisableValidateResponseChecksum = true
	})
	name := fmt.Sprintf("flotilla-test-%d", tables.Add(1))
	if err := awsdynamodb.CreateTable(ctx, db, name); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	counter.Reset()
	return bundle{store: awsdynamodb.New(db, name, awsdynamodb.Options{PutOnRemove: true}), db: db, table: name, counter: counter}
}

func TestStore(t *testing.T) {
	flotillatest.TestStore(t, func(t *testing.T) flotilla.Store { return setup(t).store })
}
