package awsdynamodb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

var _ flotilla.Store = (*Store)(nil)

// Client is the part of *dynamodb.Client the store uses.
type Client interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store is the flotilla.Store on one DynamoDB table. See the package doc for
// the key design.
type Store struct {
	db    Client
	table *string
	opts  Options
	// clusters are the clusters whose counter item this process has seen
	// exist (ensureCluster), so a WAITING run's create reads it once.
	clusters sync.Map
}

// Options tune a Store. The zero value is right for DynamoDB.
type Options struct {
	// PutOnRemove makes a transition that must remove attributes (the
	// queue-index keys when a run leaves QUEUED, a cleared reason) write
	// the whole item with a conditional Put instead of an UpdateItem with
	// REMOVE. Set it for minidyn v0.8.2, whose UpdateItem ignores REMOVE of
	// top-level attributes. Both writes cost the same units in DynamoDB (a
	// write is billed on the size of the whole item), but the Put carries
	// the whole item over the wire.
	PutOnRemove bool
	// Retention, when positive, gives every run that ends an expiry time
	// (attribute ttl, Unix seconds) Retention after it ended, in the same
	// write that ends it, so DynamoDB's TTL deletes ended runs once the
	// table's TTL setting names that attribute (infra: cdk.json
	// flotilla:run_retention_days). Zero keeps runs for ever.
	Retention time.Duration
}

// New returns a Store on an existing table (see CreateTable for its schema).
func New(db Client, table string, o Options) *Store {
	return &Store{db: db, table: aws.String(table), opts: o}
}

// The table's key attributes and indexes. The CDK stack declares the same.
const (
	attrPK = "pk"
	attrSK = "sk"
	// Every index sorts by the table's sort key, the run id: a second
	// copy of the id in each run item would cost its bytes on every
	// write of the run.
	attrGSI1PK = "gsi1pk"
	attrGSI2PK = "gsi2pk"
	attrGSI3PK = "gsi3pk"
	attrGSI4PK = "gsi4pk"
	indexGSI1  = "gsi1"
	indexGSI2  = "gsi2"
	indexGSI3  = "gsi3"
	// gsi4 holds the runs launched from another run (an array's children
	// among them) by parent, active apart from ended: see doc.go.
	indexGSI4 = "gsi4"
)

// indexProjection are the run attributes every index projects besides its
// keys: the ones that never change after create, so an index entry is
// written only when it enters, moves or leaves its index, never on a status
// change, and the history filters (cluster, owner, definition, schedule,
// tag, since/until) can be applied to index entries before any run item is
// read. The CDK stack declares the same list.
var indexProjection = []string{aOwner, aCluster, aDefID, aSchedule, aTags, aQueuedAt}

// CreateTable creates the store's table, on demand, with its four indexes
// (each projecting the keys and indexProjection), and waits until it can be
// used. It is for tests and local use; in AWS the CDK stack owns the table.
func CreateTable(ctx context.Context, db *dynamodb.Client, name string) error {
	str := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	key := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange},
		}
	}
	gsi := func(name, pk, sk string, include ...string) types.GlobalSecondaryIndex {
		p := &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}
		if len(include) > 0 {
			p = &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: include}
		}
		return types.GlobalSecondaryIndex{IndexName: aws.String(name), KeySchema: key(pk, sk), Projection: p}
	}
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			str(attrPK), str(attrSK), str(attrGSI1PK), str(attrGSI2PK), str(attrGSI3PK), str(attrGSI4PK),
		},
		KeySchema: key(attrPK, attrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			gsi(indexGSI1, attrGSI1PK, attrSK, indexProjection...),
			gsi(indexGSI2, attrGSI2PK, attrSK, indexProjection...),
			gsi(indexGSI3, attrGSI3PK, attrSK, indexProjection...),
			gsi(indexGSI4, attrGSI4PK, attrSK, indexProjection...),
		},
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	// DynamoDB reports CREATING, then ACTIVE. Emulators that create tables
	// at once may leave the status empty (minidyn does), which is ready too.
	for {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("describe table %s: %w", name, err)
		}
		if st := out.Table.TableStatus; st == types.TableStatusActive || st == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// translate maps DynamoDB errors to the domain's portable errors. It is the
// one place the store interprets SDK errors; callers that need to know which
// action of a transaction failed use cancelReasons first.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	var tce *types.TransactionCanceledException
	var api smithy.APIError
	switch {
	case errors.As(err, &ccf):
		return fmt.Errorf("%w: %s", flotilla.ErrConflict, aws.ToString(ccf.Message))
	case errors.As(err, &tce):
		return fmt.Errorf("%w: %s", flotilla.ErrConflict, aws.ToString(tce.Message))
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "ProvisionedThroughputExceededException", "RequestLimitExceeded", "ThrottlingException":
			return fmt.Errorf("%w: %v", flotilla.ErrThrottled, err)
		case "TransactionConflictException":
			return fmt.Errorf("%w: %v", flotilla.ErrConflict, err)
		}
	}
	return err
}

// cancelReasons returns the per-action codes of a cancelled transaction
// ("None", "ConditionalCheckFailed", "TransactionConflict", …), or nil when
// err is not a cancellation.
func cancelReasons(err error) []string {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		codes[i] = aws.ToString(r.Code)
		if codes[i] == "" {
			codes[i] = "None"
		}
	}
	return codes
}

// failedAt reports whether action i of a cancelled transaction failed its
// condition.
func failedAt(reasons []string, i int) bool {
	return i < len(reasons) && reasons[i] == "ConditionalCheckFailed"
}

// contended reports whether a cancelled transaction lost to another one in
// flight on the same items, which is worth retrying.
func contended(reasons []string) bool {
	for _, r := range reasons {
		if r == "TransactionConflict" {
			return true
		}
	}
	return false
}

func (s *Store) getItem(ctx context.Context, pk, sk string, consistent bool) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      s.table,
		Key:            key(pk, sk),
		ConsistentRead: aws.Bool(consistent),
	})
	if err != nil {
		return nil, translate(err)
	}
	// An emulator may answer a missing key with an empty item.
	if len(out.Item) == 0 {
		return nil, flotilla.ErrNotFound
	}
	return out.Item, nil
}

// batchGet reads items by key, in the order of keys, skipping missing ones.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, consistent bool) ([]map[string]types.AttributeValue, error) {
	found := make(map[[2]string]map[string]types.AttributeValue, len(keys))
	for start := 0; start < len(keys); start += 100 {
		pending := keys[start:min(start+100, len(keys))]
		for try := 0; len(pending) > 0; try++ {
			if try > 0 {
				if err := sleep(ctx, backoff(try)); err != nil {
					return nil, err
				}
			}
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{
					*s.table: {Keys: pending, ConsistentRead: aws.Bool(consistent)},
				},
			})
			if err != nil {
				return nil, translate(err)
			}
			for _, it := range out.Responses[*s.table] {
				found[[2]string{str(it, attrPK), str(it, attrSK)}] = it
			}
			pending = out.UnprocessedKeys[*s.table].Keys
		}
	}
	items := make([]map[string]types.AttributeValue, 0, len(keys))
	for _, k := range keys {
		if it, ok := found[[2]string{str(k, attrPK), str(k, attrSK)}]; ok {
			items = append(items, it)
		}
	}
	return items, nil
}

// backoff is the pause before retry try of a contended write or of
// unprocessed keys: 10 ms doubling up to 320 ms, each drawn at random
// between half and all of it, so writers that lost the same race (every
// launch on a cluster updates its counter item) do not meet again in step.
func backoff(try int) time.Duration {
	d := time.Duration(1<<min(try, 6)) * 5 * time.Millisecond
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
