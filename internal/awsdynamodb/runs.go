package awsdynamodb

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
)

// maxTries bounds the optimistic retries of one write that lost a race to
// another writer of the same item.
const maxTries = 8

// CreateRun stores a new run with its first life-story event: one PutItem,
// or, with an idempotency key, one transaction that also claims the key.
func (s *Store) CreateRun(ctx context.Context, r flotilla.Run) (flotilla.Run, bool, error) {
	it := runItem(r)
	it[aVersion] = nv(1)
	src := flotilla.SourceAPI
	if r.ScheduleID != "" {
		src = flotilla.SourceSchedule
	}
	first := flotilla.RunEvent{RunID: r.ID, Time: r.QueuedAt.UTC(), Source: src, To: r.Status, Reason: r.StatusReason, Attempt: r.Attempt}
	it[aEvents] = &types.AttributeValueMemberL{Value: []types.AttributeValue{encodeEvent(first)}}
	notExists := aws.String("attribute_not_exists(" + attrPK + ")")

	if r.IdempotencyKey == "" {
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: it, ConditionExpression: notExists})
		if err != nil {
			return flotilla.Run{}, false, fmt.Errorf("create run %s: %w", r.ID, translate(err))
		}
		return r, true, nil
	}

	ik := idemKey(r.Owner, r.IdempotencyKey)
	claim := item{aRunID: sv(r.ID)}
	for k, v := range ik {
		claim[k] = v
	}
	for try := 0; ; try++ {
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: s.table, Item: claim, ConditionExpression: notExists}},
			{Put: &types.Put{TableName: s.table, Item: it, ConditionExpression: notExists}},
		}})
		if err == nil {
			return r, true, nil
		}
		reasons := cancelReasons(err)
		switch {
		case failedAt(reasons, 0):
			got, err := s.getItem(ctx, str(ik, attrPK), idemSK, true)
			if err != nil {
				return flotilla.Run{}, false, fmt.Errorf("create run %s: read idempotency key: %w", r.ID, err)
			}
			prev, err := s.GetRun(ctx, str(got, aRunID))
			if err != nil {
				return flotilla.Run{}, false, fmt.Errorf("create run %s: idempotency key %q: %w", r.ID, r.IdempotencyKey, err)
			}
			return prev, false, nil
		case failedAt(reasons, 1):
			return flotilla.Run{}, false, fmt.Errorf("create run %s: the id exists: %w", r.ID, flotilla.ErrConflict)
		case contended(reasons) && try < maxTries:
			if err := sleep(ctx, backoff(try)); err != nil {
				return flotilla.Run{}, false, err
			}
		default:
			return flotilla.Run{}, false, fmt.Errorf("create run %s: %w", r.ID, translate(err))
		}
	}
}

// GetRun reads a run (strongly consistent).
func (s *Store) GetRun(ctx context.Context, id string) (flotilla.Run, error) {
	it, err := s.getItem(ctx, runPK, id, true)
	if err != nil {
		return flotilla.Run{}, fmt.Errorf("get run %s: %w", id, err)
	}
	return decodeRun(it), nil
}

// TransitionRun reads the run, checks and applies t as the domain defines,
// and writes back only the attributes that changed, with the life-story
// event appended to the item's list, on the condition that the item's
// version is the one read. When the slot counters change (SlotDelta ≠ 0) the
// run's update and the cluster's counter update form one transaction, so a
// slot is taken and released exactly once; otherwise it is one UpdateItem.
// A lost race re-reads and re-checks, so t applies whenever the run is in
// t.From when it is written.
func (s *Store) TransitionRun(ctx context.Context, t flotilla.Transition) (flotilla.Run, error) {
	for try := 0; try < maxTries; try++ {
		old, err := s.getItem(ctx, runPK, t.RunID, true)
		if err != nil {
			return flotilla.Run{}, fmt.Errorf("transition run %s: %w", t.RunID, err)
		}
		cur := decodeRun(old)
		if err := t.Check(cur); err != nil {
			return flotilla.Run{}, err
		}
		next, ev := t.Apply(cur)

		w := s.runWrite(old, next, ev)
		delta := flotilla.SlotDelta(cur.Status, next.Status)
		if w.noop {
			// Nothing to record (a repeated annotation): the strongly
			// consistent read already showed the run as t leaves it.
			return next, nil
		}
		if delta == 0 {
			err = w.write(ctx, s.db)
			var ccf *types.ConditionalCheckFailedException
			if errors.As(err, &ccf) {
				continue // another writer got there first: re-read and re-check
			}
			if err != nil {
				return flotilla.Run{}, fmt.Errorf("transition run %s: %w", t.RunID, translate(err))
			}
			return next, nil
		}

		counter := slotUpdate(cur, delta, t)
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			w.action(),
			{Update: &types.Update{
				TableName:                 s.table,
				Key:                       clusterKey(cur.Cluster),
				UpdateExpression:          aws.String(counter.expression()),
				ConditionExpression:       counter.condition(),
				ExpressionAttributeNames:  counter.names,
				ExpressionAttributeValues: counter.values,
			}},
		}})
		if err == nil {
			return next, nil
		}
		reasons := cancelReasons(err)
		switch {
		case failedAt(reasons, 0):
			continue
		case failedAt(reasons, 1):
			return flotilla.Run{}, fmt.Errorf("admit run %s to cluster %s: %w", t.RunID, cur.Cluster, s.noRoom(ctx, cur, t))
		case contended(reasons):
			if err := sleep(ctx, backoff(try)); err != nil {
				return flotilla.Run{}, err
			}
		default:
			return flotilla.Run{}, fmt.Errorf("transition run %s: %w", t.RunID, translate(err))
		}
	}
	return flotilla.Run{}, fmt.Errorf("transition run %s: still contended after %d tries: %w", t.RunID, maxTries, flotilla.ErrConflict)
}

// runWrite is the conditional write of a transition: an UpdateItem of the
// changed attributes, the version and the appended event, on the condition
// that the version is the one read; or the whole item Put on the same
// condition (Options.PutOnRemove).
type runWrite struct {
	table  *string
	key    map[string]types.AttributeValue
	u      *update
	put    item // non-nil: write the whole item
	cond   string
	names  map[string]string
	values map[string]types.AttributeValue
	noop   bool // no attribute changes and no event
}

func (s *Store) runWrite(old map[string]types.AttributeValue, next flotilla.Run, ev *flotilla.RunEvent) runWrite {
	w := runWrite{table: s.table, key: runKey(next.ID), u: newUpdate()}
	u := w.u
	it := runItem(next)
	diff(u, old, it)
	w.noop = len(u.sets) == 0 && len(u.removes) == 0 && ev == nil
	version := num(old, aVersion)
	u.set(aVersion, nv(version+1))
	if ev != nil {
		n := u.name(aEvents)
		u.sets = append(u.sets, fmt.Sprintf("%s = list_append(if_not_exists(%s, %s), %s)", n, n,
			u.value(&types.AttributeValueMemberL{Value: []types.AttributeValue{}}),
			u.value(&types.AttributeValueMemberL{Value: []types.AttributeValue{encodeEvent(*ev)}})))
	}
	if len(u.removes) == 0 || !s.opts.PutOnRemove {
		// The condition names the version with the same placeholder as
		// its SET.
		ver := u.name(aVersion)
		if version == 0 {
			w.cond = "attribute_not_exists(" + ver + ")"
		} else {
			w.cond = ver + " = " + u.value(nv(version))
		}
		w.names, w.values = u.names, u.values
		return w
	}
	it[aVersion] = nv(version + 1)
	evs := []types.AttributeValue{}
	if l, ok := old[aEvents].(*types.AttributeValueMemberL); ok {
		evs = append(evs, l.Value...)
	}
	if ev != nil {
		evs = append(evs, encodeEvent(*ev))
	}
	it[aEvents] = &types.AttributeValueMemberL{Value: evs}
	w.put = it
	w.names = map[string]string{"#ver": aVersion}
	w.cond = "attribute_not_exists(#ver)"
	if version != 0 {
		w.cond = "#ver = :ver"
		w.values = map[string]types.AttributeValue{":ver": nv(version)}
	}
	return w
}

func (w runWrite) action() types.TransactWriteItem {
	if w.put != nil {
		return types.TransactWriteItem{Put: &types.Put{TableName: w.table, Item: w.put,
			ConditionExpression: aws.String(w.cond), ExpressionAttributeNames: w.names, ExpressionAttributeValues: w.values}}
	}
	return types.TransactWriteItem{Update: &types.Update{TableName: w.table, Key: w.key,
		UpdateExpression: aws.String(w.u.expression()), ConditionExpression: aws.String(w.cond),
		ExpressionAttributeNames: w.names, ExpressionAttributeValues: w.values}}
}

func (w runWrite) write(ctx context.Context, db Client) error {
	if w.put != nil {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: w.table, Item: w.put,
			ConditionExpression: aws.String(w.cond), ExpressionAttributeNames: w.names, ExpressionAttributeValues: w.values})
		return err
	}
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: w.table, Key: w.key,
		UpdateExpression: aws.String(w.u.expression()), ConditionExpression: aws.String(w.cond),
		ExpressionAttributeNames: w.names, ExpressionAttributeValues: w.values})
	return err
}

// slotUpdate changes the cluster's counter item: "used" and the owner's
// "o:<owner>" move by delta; taking a slot is conditional on the limits.
func slotUpdate(r flotilla.Run, delta int, t flotilla.Transition) *update {
	u := newUpdate()
	d := nv(int64(delta))
	u.add(usedSlots, d)
	u.add(ownerSlot+r.Owner, d)
	if delta > 0 {
		below := func(attr string, max int) {
			n := u.name(attr)
			u.conds = append(u.conds, fmt.Sprintf("(attribute_not_exists(%s) OR %s < %s)", n, n, u.value(nv(int64(max)))))
		}
		if t.MaxRunning > 0 {
			below(usedSlots, t.MaxRunning)
		}
		if t.MaxRunningPerOwner > 0 {
			below(ownerSlot+r.Owner, t.MaxRunningPerOwner)
		}
	}
	return u
}

// noRoom says which limit refused an admission, from a fresh read of the
// counters, so the dispatcher can record the right wait reason.
func (s *Store) noRoom(ctx context.Context, r flotilla.Run, t flotilla.Transition) error {
	it, err := s.getItem(ctx, clusterPK+r.Cluster, clusterSK, true)
	if err == nil && t.MaxRunning > 0 && num(it, usedSlots) >= int64(t.MaxRunning) {
		return &flotilla.CapacityError{Wait: flotilla.WaitNoFreeSlot, Detail: fmt.Sprintf("all %d slots of cluster %s are taken", t.MaxRunning, r.Cluster)}
	}
	if err == nil && t.MaxRunningPerOwner > 0 && num(it, ownerSlot+r.Owner) >= int64(t.MaxRunningPerOwner) {
		return &flotilla.CapacityError{Wait: flotilla.WaitOwnerTurn, Detail: fmt.Sprintf("%s holds %d slots of cluster %s, the most one owner may", r.Owner, t.MaxRunningPerOwner, r.Cluster)}
	}
	return &flotilla.CapacityError{Wait: flotilla.WaitNoFreeSlot, Detail: fmt.Sprintf("cluster %s has no free slot", r.Cluster)}
}

// ListRunEvents returns the life story kept in the run item.
func (s *Store) ListRunEvents(ctx context.Context, runID string) ([]flotilla.RunEvent, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                s.table,
		Key:                      runKey(runID),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#k, #e"),
		ExpressionAttributeNames: map[string]string{"#k": attrSK, "#e": aEvents},
	})
	if err != nil {
		return nil, fmt.Errorf("list events of run %s: %w", runID, translate(err))
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("list events of run %s: %w", runID, flotilla.ErrNotFound)
	}
	evs := []flotilla.RunEvent{}
	for _, s := range strList(out.Item, aEvents) {
		e, err := decodeEvent(runID, s)
		if err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// Page sizes of the list methods.
const (
	defaultLimit = 50
	maxLimit     = 500
)

func pageLimit(n int) int {
	switch {
	case n <= 0:
		return defaultLimit
	case n > maxLimit:
		return maxLimit
	}
	return n
}

// A next_token is the sort key of the last item returned, so a page
// continues exactly after it however the filters thinned the reads.
func encodeToken(kind, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + last))
}

func decodeToken(kind, tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	last, ok := strings.CutPrefix(string(b), kind+":")
	if err != nil || !ok || last == "" {
		return "", flotilla.Invalid("next_token", "is not a token this list returned")
	}
	return last, nil
}

// idSlack widens the run-id range derived from since/until: ids are made at
// queue time, and the exact bound is checked on queued_at after the read.
const idSlack = time.Hour

// idBound is the smallest (or largest) run id made at t.
func idBound(t time.Time, upper bool) string {
	var u ulid.ULID
	if t.UnixMilli() > 0 {
		_ = u.SetTime(uint64(t.UnixMilli()))
	}
	if upper {
		for i := 6; i < len(u); i++ {
			u[i] = 0xff
		}
	}
	return ids.Run + u.String()
}

func matchRun(r flotilla.Run, f flotilla.RunFilter) bool {
	return (len(f.Statuses) == 0 || slices.Contains(f.Statuses, r.Status)) &&
		(f.Cluster == "" || r.Cluster == f.Cluster) &&
		(f.DefinitionID == "" || r.DefinitionID == f.DefinitionID) &&
		(f.Owner == "" || r.Owner == f.Owner) &&
		(f.Tag == "" || slices.Contains(r.Tags, f.Tag)) &&
		(f.ScheduleID == "" || r.ScheduleID == f.ScheduleID) &&
		(f.Since.IsZero() || !r.QueuedAt.Before(f.Since)) &&
		(f.Until.IsZero() || r.QueuedAt.Before(f.Until))
}

// ListRuns pages through runs newest first. With a definition it queries
// that definition's runs on gsi2; otherwise the run partition of the table.
// Both read in run-id order (ids sort by queue time), bounded by
// since/until and the token; the other filters apply after the read, and
// reading goes on until the page is full or the range ends.
func (s *Store) ListRuns(ctx context.Context, f flotilla.RunFilter) (flotilla.Page[flotilla.Run], error) {
	limit := pageLimit(f.Limit)
	after, err := decodeToken("r", f.NextToken)
	if err != nil {
		return flotilla.Page[flotilla.Run]{}, err
	}
	u := newUpdate()
	q := &dynamodb.QueryInput{TableName: s.table, ScanIndexForward: aws.Bool(false)}
	pkName, skName, pkValue := attrPK, attrSK, runPK
	if f.DefinitionID != "" {
		q.IndexName = aws.String(indexGSI2)
		pkName, skName, pkValue = attrGSI2PK, attrGSI2SK, defRunsPfx+f.DefinitionID
	}
	var lo, hi string
	if !f.Since.IsZero() {
		lo = idBound(f.Since.Add(-idSlack), false)
	}
	if !f.Until.IsZero() {
		hi = idBound(f.Until.Add(idSlack), true)
	}
	if after != "" && (hi == "" || after < hi) {
		hi = after
	}
	kc := u.name(pkName) + " = " + u.value(sv(pkValue))
	sk := func() string { return u.name(skName) }
	switch {
	case lo != "" && hi != "":
		if lo > hi {
			return flotilla.Page[flotilla.Run]{Items: []flotilla.Run{}}, nil
		}
		kc += fmt.Sprintf(" AND %s BETWEEN %s AND %s", sk(), u.value(sv(lo)), u.value(sv(hi)))
	case lo != "":
		kc += fmt.Sprintf(" AND %s >= %s", sk(), u.value(sv(lo)))
	case hi != "":
		kc += fmt.Sprintf(" AND %s <= %s", sk(), u.value(sv(hi)))
	}
	q.KeyConditionExpression = aws.String(kc)
	q.ExpressionAttributeNames = u.names
	q.ExpressionAttributeValues = u.values
	q.Limit = aws.Int32(int32(limit + 1))
	if len(f.Statuses) > 0 || f.Cluster != "" || f.Owner != "" || f.Tag != "" || f.ScheduleID != "" {
		q.Limit = aws.Int32(int32(min(4*(limit+1), 1000)))
	}

	runs := []flotilla.Run{}
	for len(runs) <= limit {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return flotilla.Page[flotilla.Run]{}, fmt.Errorf("list runs: %w", translate(err))
		}
		items := out.Items
		if q.IndexName != nil {
			if items, err = s.batchGet(ctx, tableKeys(items), false); err != nil {
				return flotilla.Page[flotilla.Run]{}, fmt.Errorf("list runs: %w", err)
			}
		}
		for _, it := range items {
			r := decodeRun(it)
			if r.ID != after && matchRun(r, f) && len(runs) <= limit {
				runs = append(runs, r)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
	page := flotilla.Page[flotilla.Run]{Items: runs}
	if len(runs) > limit {
		page.Items = runs[:limit]
		page.NextToken = encodeToken("r", runs[limit-1].ID)
	}
	return page, nil
}

func tableKeys(items []map[string]types.AttributeValue) []map[string]types.AttributeValue {
	keys := make([]map[string]types.AttributeValue, len(items))
	for i, it := range items {
		keys[i] = key(str(it, attrPK), str(it, attrSK))
	}
	return keys
}

// ListQueued reads the cluster's queue on gsi1 (sparse: only QUEUED runs
// have its keys), oldest first, and the runs themselves by key.
func (s *Store) ListQueued(ctx context.Context, cluster string, limit int) ([]flotilla.Run, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	q := &dynamodb.QueryInput{
		TableName:                 s.table,
		IndexName:                 aws.String(indexGSI1),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": attrGSI1PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": sv(queuePrefix + cluster)},
		Limit:                     aws.Int32(int32(limit)),
	}
	runs := []flotilla.Run{}
	for len(runs) < limit {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("list queued runs of %s: %w", cluster, translate(err))
		}
		items, err := s.batchGet(ctx, tableKeys(out.Items), true)
		if err != nil {
			return nil, fmt.Errorf("list queued runs of %s: %w", cluster, err)
		}
		for _, it := range items {
			// The index is eventually consistent: a run admitted a moment
			// ago may still be listed there.
			if r := decodeRun(it); r.Status == flotilla.StatusQueued && len(runs) < limit {
				runs = append(runs, r)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return runs, nil
}

// OldestQueuedPerOwner walks the cluster's queue on gsi1, oldest first,
// taking each owner's first run until it has limit owners or the queue
// ends; gsi1 projects the owner, so only the chosen runs are read (by key,
// consistently). An owner whose head was admitted a moment ago but is still
// in the lagging index is left out of this round rather than answered with
// a run that is no longer QUEUED.
func (s *Store) OldestQueuedPerOwner(ctx context.Context, cluster string, limit int) ([]flotilla.Run, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	q := &dynamodb.QueryInput{
		TableName:                 s.table,
		IndexName:                 aws.String(indexGSI1),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": attrGSI1PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": sv(queuePrefix + cluster)},
	}
	seen := map[string]bool{}
	var heads []map[string]types.AttributeValue
	for len(heads) < limit {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("queue heads of %s: %w", cluster, translate(err))
		}
		entries := out.Items
		if len(entries) > 0 {
			if _, projected := entries[0][aOwner]; !projected {
				// An index projecting keys only: read the owners from the
				// runs (correct, but it reads the whole queue walked).
				if entries, err = s.batchGet(ctx, tableKeys(entries), false); err != nil {
					return nil, fmt.Errorf("queue heads of %s: %w", cluster, err)
				}
			}
		}
		for _, it := range entries {
			if owner := str(it, aOwner); !seen[owner] && len(heads) < limit {
				seen[owner] = true
				heads = append(heads, key(str(it, attrPK), str(it, attrSK)))
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
	items, err := s.batchGet(ctx, heads, true)
	if err != nil {
		return nil, fmt.Errorf("queue heads of %s: %w", cluster, err)
	}
	runs := []flotilla.Run{}
	for _, it := range items {
		if r := decodeRun(it); r.Status == flotilla.StatusQueued {
			runs = append(runs, r)
		}
	}
	return runs, nil
}

// QueuedAhead counts, on gsi1, the cluster's QUEUED runs before r.
func (s *Store) QueuedAhead(ctx context.Context, r flotilla.Run) (int, error) {
	return s.countQueued(ctx, r.Cluster, queueKey(r))
}

// countQueued counts the cluster's queue before the given queue key, or
// all of it when before is empty (Select COUNT: no items are returned).
func (s *Store) countQueued(ctx context.Context, cluster, before string) (int, error) {
	q := &dynamodb.QueryInput{
		TableName:                 s.table,
		IndexName:                 aws.String(indexGSI1),
		Select:                    types.SelectCount,
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": attrGSI1PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": sv(queuePrefix + cluster)},
	}
	if before != "" {
		q.KeyConditionExpression = aws.String("#p = :p AND #s < :s")
		q.ExpressionAttributeNames["#s"] = attrGSI1SK
		q.ExpressionAttributeValues[":s"] = sv(before)
	}
	n := 0
	for {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return 0, fmt.Errorf("count queued runs of %s: %w", cluster, translate(err))
		}
		n += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return n, nil
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ClusterUsage reads the cluster's counter item and counts its queue.
func (s *Store) ClusterUsage(ctx context.Context, cluster string) (flotilla.Usage, error) {
	queued, err := s.countQueued(ctx, cluster, "")
	if err != nil {
		return flotilla.Usage{}, err
	}
	u := flotilla.Usage{Queued: queued, RunningOwner: map[string]int{}}
	it, err := s.getItem(ctx, clusterPK+cluster, clusterSK, true)
	if errors.Is(err, flotilla.ErrNotFound) {
		return u, nil
	}
	if err != nil {
		return flotilla.Usage{}, fmt.Errorf("cluster usage of %s: %w", cluster, err)
	}
	u.Running = int(num(it, usedSlots))
	var idle []string
	for name := range it {
		owner, ok := strings.CutPrefix(name, ownerSlot)
		if !ok {
			continue
		}
		if n := int(num(it, name)); n > 0 {
			u.RunningOwner[owner] = n
		} else {
			idle = append(idle, name)
		}
	}
	if len(idle) >= pruneIdleOwners {
		s.pruneOwners(ctx, cluster, idle)
	}
	return u, nil
}

// pruneIdleOwners is how many owners' counters at zero the counter item
// keeps before ClusterUsage removes them: each costs ~30 bytes on every
// admission and release, a removal costs a write, so they go in batches.
const pruneIdleOwners = 8

// pruneOwners removes owners' counters while they are all zero. Losing the
// race to an admission is fine: a counter is in use again, and the next
// ClusterUsage tries again.
func (s *Store) pruneOwners(ctx context.Context, cluster string, attrs []string) {
	u := newUpdate()
	zero := u.value(nv(0))
	for _, a := range attrs {
		u.remove(a)
		u.conds = append(u.conds, u.name(a)+" = "+zero)
	}
	_, _ = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 s.table,
		Key:                       clusterKey(cluster),
		UpdateExpression:          aws.String(u.expression()),
		ConditionExpression:       u.condition(),
		ExpressionAttributeNames:  u.names,
		ExpressionAttributeValues: u.values,
	})
}

// AppendRunEvent implements flotilla.Store: one UpdateItem appending to the
// run item's events, on the condition that the run exists.
func (s *Store) AppendRunEvent(ctx context.Context, ev flotilla.RunEvent) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                s.table,
		Key:                      runKey(ev.RunID),
		UpdateExpression:         aws.String("SET #e = list_append(if_not_exists(#e, :empty), :ev)"),
		ConditionExpression:      aws.String("attribute_exists(#k)"),
		ExpressionAttributeNames: map[string]string{"#e": aEvents, "#k": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":empty": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
			":ev":    &types.AttributeValueMemberL{Value: []types.AttributeValue{encodeEvent(ev)}},
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("append to run %s: %w", ev.RunID, flotilla.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("append to run %s: %w", ev.RunID, translate(err))
	}
	return nil
}
