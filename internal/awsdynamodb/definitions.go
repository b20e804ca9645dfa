package awsdynamodb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
)

// CreateDefinition writes, in one transaction, the alias item (which makes
// the alias unique), the current item by id and revision 1.
func (s *Store) CreateDefinition(ctx context.Context, d flotilla.Definition) (flotilla.Definition, error) {
	d.Revision = 1
	notExists := aws.String("attribute_not_exists(" + attrPK + ")")
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: s.table, Item: definitionItem(defAliasPK, d.Alias, d), ConditionExpression: notExists}},
		{Put: &types.Put{TableName: s.table, Item: definitionItem(defIDPrefix+d.ID, defCurSK, d), ConditionExpression: notExists}},
		{Put: &types.Put{TableName: s.table, Item: withKey(definitionItem("", "", d), defRevKey(d.ID, 1))}},
	}})
	if reasons := cancelReasons(err); failedAt(reasons, 0) {
		return flotilla.Definition{}, fmt.Errorf("create definition: alias %q is taken: %w", d.Alias, flotilla.ErrConflict)
	} else if failedAt(reasons, 1) {
		return flotilla.Definition{}, fmt.Errorf("create definition: id %s exists: %w", d.ID, flotilla.ErrConflict)
	}
	if err != nil {
		return flotilla.Definition{}, fmt.Errorf("create definition %s: %w", d.Alias, translate(err))
	}
	return d, nil
}

func withKey(it item, k map[string]types.AttributeValue) item {
	for n, v := range k {
		it[n] = v
	}
	return it
}

// current reads the current item of a definition by id or alias.
func (s *Store) current(ctx context.Context, ref string) (map[string]types.AttributeValue, error) {
	if strings.HasPrefix(ref, ids.Definition) {
		return s.getItem(ctx, defIDPrefix+ref, defCurSK, true)
	}
	return s.getItem(ctx, defAliasPK, ref, true)
}

// GetDefinition reads the current revision: one GetItem by id or by alias.
func (s *Store) GetDefinition(ctx context.Context, ref string) (flotilla.Definition, error) {
	it, err := s.current(ctx, ref)
	if err != nil {
		return flotilla.Definition{}, fmt.Errorf("get definition %s: %w", ref, err)
	}
	return decodeDefinition(it), nil
}

// GetDefinitionRevision reads one revision of a definition that exists.
func (s *Store) GetDefinitionRevision(ctx context.Context, ref string, revision int) (flotilla.Definition, error) {
	cur, err := s.GetDefinition(ctx, ref)
	if err != nil || cur.Revision == revision {
		return cur, err
	}
	k := defRevKey(cur.ID, revision)
	it, err := s.getItem(ctx, str(k, attrPK), str(k, attrSK), true)
	if err != nil {
		return flotilla.Definition{}, fmt.Errorf("get definition %s revision %d: %w", ref, revision, err)
	}
	return decodeDefinition(it), nil
}

// UpdateDefinition writes revision d.Revision in one transaction: the
// current item by id (on the condition that it holds the revision before),
// the new revision item, and the alias item (moved when the alias changes,
// on the condition that the new alias is free).
func (s *Store) UpdateDefinition(ctx context.Context, d flotilla.Definition) (flotilla.Definition, error) {
	old, err := s.getItem(ctx, defIDPrefix+d.ID, defCurSK, true)
	if err != nil {
		return flotilla.Definition{}, fmt.Errorf("update definition %s: %w", d.ID, err)
	}
	prev := decodeDefinition(old)
	if prev.Revision != d.Revision-1 {
		return flotilla.Definition{}, fmt.Errorf("update definition %s: revision %d is stored, not %d: %w", d.ID, prev.Revision, d.Revision-1, flotilla.ErrConflict)
	}
	notExists := aws.String("attribute_not_exists(" + attrPK + ")")
	ofDef := aws.String("#d = :d")
	ofDefNames := map[string]string{"#d": aDefRefID}
	ofDefValues := map[string]types.AttributeValue{":d": sv(d.ID)}
	actions := []types.TransactWriteItem{
		{Put: &types.Put{TableName: s.table, Item: definitionItem(defIDPrefix+d.ID, defCurSK, d),
			ConditionExpression:       aws.String("#r = :r"),
			ExpressionAttributeNames:  map[string]string{"#r": aRevision},
			ExpressionAttributeValues: map[string]types.AttributeValue{":r": nv(int64(prev.Revision))}}},
		{Put: &types.Put{TableName: s.table, Item: withKey(definitionItem("", "", d), defRevKey(d.ID, d.Revision)), ConditionExpression: notExists}},
	}
	if d.Alias == prev.Alias {
		actions = append(actions, types.TransactWriteItem{Put: &types.Put{TableName: s.table, Item: definitionItem(defAliasPK, d.Alias, d),
			ConditionExpression: ofDef, ExpressionAttributeNames: ofDefNames, ExpressionAttributeValues: ofDefValues}})
	} else {
		actions = append(actions,
			types.TransactWriteItem{Delete: &types.Delete{TableName: s.table, Key: defAliasKey(prev.Alias),
				ConditionExpression: ofDef, ExpressionAttributeNames: ofDefNames, ExpressionAttributeValues: ofDefValues}},
			types.TransactWriteItem{Put: &types.Put{TableName: s.table, Item: definitionItem(defAliasPK, d.Alias, d), ConditionExpression: notExists}})
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: actions})
	if reasons := cancelReasons(err); failedAt(reasons, 3) {
		return flotilla.Definition{}, fmt.Errorf("update definition %s: alias %q is taken: %w", d.ID, d.Alias, flotilla.ErrConflict)
	}
	if err != nil {
		return flotilla.Definition{}, fmt.Errorf("update definition %s to revision %d: %w", d.ID, d.Revision, translate(err))
	}
	return d, nil
}

// DeleteDefinition removes the current and alias items in one transaction,
// then the revisions. Once the first step is done the definition is gone
// for every reader; revisions left by a crash are unreachable.
func (s *Store) DeleteDefinition(ctx context.Context, ref string) error {
	it, err := s.current(ctx, ref)
	if err != nil {
		return fmt.Errorf("delete definition %s: %w", ref, err)
	}
	d := decodeDefinition(it)
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: s.table, Key: defIDKey(d.ID), ConditionExpression: aws.String("attribute_exists(" + attrPK + ")")}},
		{Delete: &types.Delete{TableName: s.table, Key: defAliasKey(d.Alias), ConditionExpression: aws.String("#d = :d"),
			ExpressionAttributeNames: map[string]string{"#d": aDefRefID}, ExpressionAttributeValues: map[string]types.AttributeValue{":d": sv(d.ID)}}},
	}})
	if err != nil {
		if cancelReasons(err) != nil {
			if _, gone := s.current(ctx, ref); errors.Is(gone, flotilla.ErrNotFound) {
				return fmt.Errorf("delete definition %s: %w", ref, flotilla.ErrNotFound)
			}
		}
		return fmt.Errorf("delete definition %s: %w", ref, translate(err))
	}
	return s.deleteRevisions(ctx, d.ID)
}

func (s *Store) deleteRevisions(ctx context.Context, id string) error {
	q := &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String("#p = :p AND begins_with(#s, :v)"),
		ProjectionExpression:      aws.String("#p, #s"),
		ExpressionAttributeNames:  map[string]string{"#p": attrPK, "#s": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": sv(defIDPrefix + id), ":v": sv(defRevSK)},
	}
	for {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return fmt.Errorf("delete revisions of %s: %w", id, translate(err))
		}
		for start := 0; start < len(out.Items); start += 25 {
			var reqs []types.WriteRequest
			for _, it := range out.Items[start:min(start+25, len(out.Items))] {
				reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(str(it, attrPK), str(it, attrSK))}})
			}
			for try := 0; len(reqs) > 0; try++ {
				if try > 0 {
					if err := sleep(ctx, backoff(try)); err != nil {
						return err
					}
				}
				res, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{*s.table: reqs}})
				if err != nil {
					return fmt.Errorf("delete revisions of %s: %w", id, translate(err))
				}
				reqs = res.UnprocessedItems[*s.table]
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func matchDefinition(d flotilla.Definition, f flotilla.DefinitionFilter) bool {
	return (f.Alias == "" || containsFold(d.Alias, f.Alias)) &&
		(f.Group == "" || d.Group == f.Group) &&
		(f.Tag == "" || slices.Contains(d.Tags, f.Tag)) &&
		(f.Image == "" || containsFold(d.Image, f.Image))
}

// ListDefinitions pages through the alias items (pk DEF), in alias order.
// Definitions are few and small, so one partition holds them and the
// filters apply after the read.
func (s *Store) ListDefinitions(ctx context.Context, f flotilla.DefinitionFilter) (flotilla.Page[flotilla.Definition], error) {
	limit := pageLimit(f.Limit)
	after, err := decodeToken("d", f.NextToken)
	if err != nil {
		return flotilla.Page[flotilla.Definition]{}, err
	}
	q := &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": sv(defAliasPK)},
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	if after != "" {
		q.KeyConditionExpression = aws.String("#p = :p AND #s > :s")
		q.ExpressionAttributeNames["#s"] = attrSK
		q.ExpressionAttributeValues[":s"] = sv(after)
	}
	if f.Alias != "" || f.Group != "" || f.Tag != "" || f.Image != "" {
		q.Limit = aws.Int32(int32(min(4*(limit+1), 1000)))
	}
	defs := []flotilla.Definition{}
	for len(defs) <= limit {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return flotilla.Page[flotilla.Definition]{}, fmt.Errorf("list definitions: %w", translate(err))
		}
		for _, it := range out.Items {
			if d := decodeDefinition(it); matchDefinition(d, f) && len(defs) <= limit {
				defs = append(defs, d)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
	page := flotilla.Page[flotilla.Definition]{Items: defs}
	if len(defs) > limit {
		page.Items = defs[:limit]
		page.NextToken = encodeToken("d", defs[limit-1].Alias)
	}
	return page, nil
}
