package awsdynamodb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// ScheduleClient is the part of *dynamodb.Client the schedule store uses.
type ScheduleClient interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// ScheduleStore is the flotilla.ScheduleStore in the Store's table: one item
// per schedule, all in the partition SCH (see the package doc). It never
// removes an attribute, so it needs no Options.PutOnRemove.
type ScheduleStore struct {
	db    ScheduleClient
	table *string
}

var _ flotilla.ScheduleStore = (*ScheduleStore)(nil)

// NewScheduleStore returns the schedule store on an existing table (see
// CreateTable).
func NewScheduleStore(db ScheduleClient, table string) *ScheduleStore {
	return &ScheduleStore{db: db, table: aws.String(table)}
}

// The schedule item: pk SCH, sk <schedule id>. Names shared with other items
// (cl, env, ow, v, ca, ua) mean the same thing there.
const (
	schedulePK    = "SCH"
	aSchName      = "nm"
	aSchDef       = "dr" // the definition reference: an id or an alias
	aSchExpr      = "ex"
	aSchZone      = "tz"
	aSchEnabled   = "on"
	aSchCatchUp   = "cp"
	aSchLastFired = "lf" // Unix ns; moved only by RecordFire
)

func scheduleKey(id string) map[string]types.AttributeValue { return key(schedulePK, id) }

// scheduleFields are the attributes an update replaces: everything but the
// keys and the last fire time. Each is written even when empty, so an
// update needs no REMOVE.
func scheduleFields(s flotilla.Schedule) map[string]types.AttributeValue {
	env := make(map[string]types.AttributeValue, len(s.Env))
	for k, v := range s.Env {
		env[k] = sv(v)
	}
	return map[string]types.AttributeValue{
		aSchName:    sv(s.Name),
		aSchDef:     sv(s.Definition),
		aCluster:    sv(s.Cluster),
		aSchExpr:    sv(s.Expression),
		aSchZone:    sv(s.Timezone),
		aEnv:        &types.AttributeValueMemberM{Value: env},
		aSchEnabled: &types.AttributeValueMemberBOOL{Value: s.Enabled},
		aSchCatchUp: sv(string(s.CatchUp)),
		aOwner:      sv(s.Owner),
		aVersion:    nv(int64(s.Version)),
		aCreatedAt:  nv(s.CreatedAt.UnixNano()),
		aUpdatedAt:  nv(s.UpdatedAt.UnixNano()),
		aParams:     sv(cmp.Or(paramsJSON(s.Params), "{}")), // written even when empty, like every field
	}
}

func decodeSchedule(it map[string]types.AttributeValue) flotilla.Schedule {
	enabled, _ := it[aSchEnabled].(*types.AttributeValueMemberBOOL)
	return flotilla.Schedule{
		ID:           str(it, attrSK),
		Name:         str(it, aSchName),
		Definition:   str(it, aSchDef),
		Cluster:      str(it, aCluster),
		Expression:   str(it, aSchExpr),
		Timezone:     str(it, aSchZone),
		Env:          strMap(it, aEnv),
		Enabled:      enabled != nil && enabled.Value,
		CatchUp:      flotilla.CatchUp(str(it, aSchCatchUp)),
		Owner:        str(it, aOwner),
		Version:      int(num(it, aVersion)),
		CreatedAt:    timeVal(it, aCreatedAt),
		UpdatedAt:    timeVal(it, aUpdatedAt),
		LastFireTime: timePtr(it, aSchLastFired),
		Params:       decodeParams(str(it, aParams)),
	}
}

// CreateSchedule is one conditional PutItem.
func (s *ScheduleStore) CreateSchedule(ctx context.Context, sch flotilla.Schedule) (flotilla.Schedule, error) {
	sch.Version = 1
	sch.NextFireTimes = nil
	it := item(scheduleFields(sch))
	for n, v := range scheduleKey(sch.ID) {
		it[n] = v
	}
	it.t(aSchLastFired, sch.LastFireTime)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           s.table,
		Item:                it,
		ConditionExpression: aws.String("attribute_not_exists(" + attrPK + ")"),
	})
	if err != nil {
		return flotilla.Schedule{}, fmt.Errorf("create schedule %s: %w", sch.ID, translate(err))
	}
	return sch, nil
}

// GetSchedule is one strongly consistent GetItem.
func (s *ScheduleStore) GetSchedule(ctx context.Context, id string) (flotilla.Schedule, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: s.table, Key: scheduleKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return flotilla.Schedule{}, fmt.Errorf("get schedule %s: %w", id, translate(err))
	}
	// An emulator may answer a missing key with an empty item.
	if len(out.Item) == 0 {
		return flotilla.Schedule{}, fmt.Errorf("get schedule %s: %w", id, flotilla.ErrNotFound)
	}
	return decodeSchedule(out.Item), nil
}

func matchSchedule(s flotilla.Schedule, f flotilla.ScheduleFilter) bool {
	return (f.Definition == "" || s.Definition == f.Definition) &&
		(f.Owner == "" || s.Owner == f.Owner) &&
		(f.Enabled == nil || s.Enabled == *f.Enabled)
}

// ListSchedules pages through the partition SCH in id order, strongly
// consistent; the filters apply after the read, which continues until the
// page is full or the partition ends.
func (s *ScheduleStore) ListSchedules(ctx context.Context, f flotilla.ScheduleFilter) (flotilla.Page[flotilla.Schedule], error) {
	limit := pageLimit(f.Limit)
	after, err := decodeToken("s", f.NextToken)
	if err != nil {
		return flotilla.Page[flotilla.Schedule]{}, err
	}
	q := &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": sv(schedulePK)},
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	if after != "" {
		q.KeyConditionExpression = aws.String("#p = :p AND #s > :s")
		q.ExpressionAttributeNames["#s"] = attrSK
		q.ExpressionAttributeValues[":s"] = sv(after)
	}
	if f.Definition != "" || f.Owner != "" || f.Enabled != nil {
		q.Limit = aws.Int32(int32(min(4*(limit+1), 1000)))
	}
	found := []flotilla.Schedule{}
	for len(found) <= limit {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return flotilla.Page[flotilla.Schedule]{}, fmt.Errorf("list schedules: %w", translate(err))
		}
		for _, it := range out.Items {
			if sch := decodeSchedule(it); matchSchedule(sch, f) && len(found) <= limit {
				found = append(found, sch)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
	page := flotilla.Page[flotilla.Schedule]{Items: found}
	if len(found) > limit {
		page.Items = found[:limit]
		page.NextToken = encodeToken("s", found[limit-1].ID)
	}
	return page, nil
}

// UpdateSchedule is one UpdateItem that SETs every field but the last fire
// time, on the condition that the stored version is the one before; the
// stored item comes back (ALL_NEW) with its last fire time.
func (s *ScheduleStore) UpdateSchedule(ctx context.Context, sch flotilla.Schedule) (flotilla.Schedule, error) {
	u := newUpdate()
	for n, v := range scheduleFields(sch) {
		u.set(n, v)
	}
	u.conds = append(u.conds, u.name(aVersion)+" = "+u.value(nv(int64(sch.Version-1))))
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 s.table,
		Key:                       scheduleKey(sch.ID),
		UpdateExpression:          aws.String(u.expression()),
		ConditionExpression:       u.condition(),
		ExpressionAttributeNames:  u.names,
		ExpressionAttributeValues: u.values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return flotilla.Schedule{}, fmt.Errorf("update schedule %s: %w", sch.ID,
			s.whyNot(ctx, sch.ID, err, fmt.Sprintf("version %d is not the next one", sch.Version)))
	}
	return decodeSchedule(out.Attributes), nil
}

// whyNot explains a conditional write that failed: the schedule does not
// exist (ErrNotFound), or its condition failed (ErrConflict).
func (s *ScheduleStore) whyNot(ctx context.Context, id string, err error, conflict string) error {
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return translate(err)
	}
	if _, err := s.GetSchedule(ctx, id); err != nil {
		if errors.Is(err, flotilla.ErrNotFound) {
			return flotilla.ErrNotFound
		}
		return err
	}
	return fmt.Errorf("%s: %w", conflict, flotilla.ErrConflict)
}

// DeleteSchedule is one DeleteItem on the condition that it exists.
func (s *ScheduleStore) DeleteSchedule(ctx context.Context, id string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           s.table,
		Key:                 scheduleKey(id),
		ConditionExpression: aws.String("attribute_exists(" + attrPK + ")"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("delete schedule %s: %w", id, flotilla.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete schedule %s: %w", id, translate(err))
	}
	return nil
}

// RecordFire is one UpdateItem of the last fire time alone, on the condition
// that the schedule exists and the time moves forward. The version stays,
// so a fire never fails a user's update.
func (s *ScheduleStore) RecordFire(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        s.table,
		Key:              scheduleKey(id),
		UpdateExpression: aws.String("SET #f = :t"),
		// Without attribute_exists, an update of a missing key would
		// create an item.
		ConditionExpression:       aws.String("attribute_exists(#p) AND (attribute_not_exists(#f) OR #f < :t)"),
		ExpressionAttributeNames:  map[string]string{"#p": attrPK, "#f": aSchLastFired},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": nv(at.UnixNano())},
	})
	if err != nil {
		return fmt.Errorf("record fire of schedule %s at %s: %w", id, at.UTC().Format(time.RFC3339), s.whyNot(ctx, id, err,
			"a fire at or after it is already recorded"))
	}
	return nil
}
