package awsdynamodb

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// maxTries bounds the optimistic retries of one write that lost a race to
// another writer of the same item.
const maxTries = 8

// CreateRun stores a new run with its first life-story event, and counts
// it in its owner's queue on the cluster's counter item, in one
// transaction: {Put run, Update counter}, or, with an idempotency key,
// {Put key, Put run, Update counter}.
func (s *Store) CreateRun(ctx context.Context, r flotilla.Run) (flotilla.Run, bool, error) {
	it := newRunItem(r)
	notExists := aws.String("attribute_not_exists(" + attrPK + ")")
	// A run that waits is found by what it waits for through its links,
	// written first: a link whose run never comes (a lost launch, a
	// repeated idempotency key) only points at nothing, and readers read
	// the run. It touches no counter, so its cluster is recorded apart.
	if err := s.putItems(ctx, linkItems(r)); err != nil {
		return flotilla.Run{}, false, fmt.Errorf("create run %s: links to the runs it waits for: %w", r.ID, err)
	}
	if r.Status == flotilla.StatusWaiting {
		if err := s.ensureCluster(ctx, r.Cluster); err != nil {
			return flotilla.Run{}, false, fmt.Errorf("create run %s: %w", r.ID, err)
		}
	}

	var actions []types.TransactWriteItem
	var ik map[string]types.AttributeValue
	if r.IdempotencyKey != "" {
		ik = idemKey(r.Owner, r.IdempotencyKey)
		claim := item{aRunID: sv(r.ID)}
		for k, v := range ik {
			claim[k] = v
		}
		actions = append(actions, types.TransactWriteItem{Put: &types.Put{TableName: s.table, Item: claim, ConditionExpression: notExists}})
	}
	runAt := len(actions)
	actions = append(actions, types.TransactWriteItem{Put: &types.Put{TableName: s.table, Item: it, ConditionExpression: notExists}})
	if r.Status == flotilla.StatusQueued {
		actions = append(actions, s.counterAction(r, 0, 1, flotilla.Transition{}))
	}
	for _, d := range addSummary(nil, "", r) {
		// A child counts in its parent's summary from its first write.
		actions = append(actions, s.summaryAction(d))
	}
	for try := 0; ; try++ {
		var err error
		if len(actions) == 1 {
			_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: it, ConditionExpression: notExists})
			var ccf *types.ConditionalCheckFailedException
			if errors.As(err, &ccf) {
				// A retry of a put whose answer was lost finds its own item.
				if got, gerr := s.getItem(ctx, str(it, attrPK), r.ID, true); gerr == nil && reflect.DeepEqual(item(got), it) {
					return r, true, nil
				}
			}
			if err != nil {
				return flotilla.Run{}, false, fmt.Errorf("create run %s: %w", r.ID, translate(err))
			}
			return r, true, nil
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: actions})
		if err == nil {
			return r, true, nil
		}
		reasons := cancelReasons(err)
		switch {
		case ik != nil && failedAt(reasons, 0):
			got, err := s.getItem(ctx, str(ik, attrPK), idemSK, true)
			if errors.Is(err, flotilla.ErrNotFound) && try < maxTries {
				continue // the key was released in between: claim it again
			}
			if err != nil {
				return flotilla.Run{}, false, fmt.Errorf("create run %s: read idempotency key: %w", r.ID, err)
			}
			prev, err := s.GetRun(ctx, str(got, aRunID))
			if errors.Is(err, flotilla.ErrNotFound) && try < maxTries {
				// The run the key named has expired (Options.Retention)
				// and its key outlived it: release the key and claim it.
				if err := s.releaseKey(ctx, ik, str(got, aRunID)); err != nil {
					return flotilla.Run{}, false, fmt.Errorf("create run %s: %w", r.ID, err)
				}
				continue
			}
			if err != nil {
				return flotilla.Run{}, false, fmt.Errorf("create run %s: idempotency key %q: %w", r.ID, r.IdempotencyKey, err)
			}
			return prev, false, nil
		case failedAt(reasons, runAt):
			return flotilla.Run{}, false, fmt.Errorf("create run %s: the id exists: %w", r.ID, flotilla.ErrConflict)
		case contended(reasons) && try < maxTries:
			if err := sleep(ctx, backoff(try)); err != nil {
				return flotilla.Run{}, false, err
			}
		case contended(reasons):
			// Other launches and admissions on the cluster kept its
			// counter item busy: nothing was written, the caller may
			// try again (429), which is not a conflict with a run.
			return flotilla.Run{}, false, fmt.Errorf("create run %s: cluster %s's counter still contended after %d tries: %w", r.ID, r.Cluster, maxTries, flotilla.ErrThrottled)
		default:
			return flotilla.Run{}, false, fmt.Errorf("create run %s: %w", r.ID, translate(err))
		}
	}
}

// releaseKey deletes an idempotency key item whose run no longer exists,
// on the condition that it still names that run.
func (s *Store) releaseKey(ctx context.Context, ik map[string]types.AttributeValue, runID string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 s.table,
		Key:                       ik,
		ConditionExpression:       aws.String("#r = :r"),
		ExpressionAttributeNames:  map[string]string{"#r": aRunID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": sv(runID)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("release idempotency key of expired run %s: %w", runID, translate(err))
	}
	return nil
}

// GetRun reads a run (strongly consistent).
func (s *Store) GetRun(ctx context.Context, id string) (flotilla.Run, error) {
	it, err := s.getItem(ctx, str(runKey(id), attrPK), id, true)
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
	lastContended := false
	for try := 0; try < maxTries; try++ {
		lastContended = false
		old, err := s.getItem(ctx, str(runKey(t.RunID), attrPK), t.RunID, true)
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
		queued := queueDelta(cur.Status, next.Status)
		if w.noop {
			// Nothing to record (a repeated annotation): the strongly
			// consistent read already showed the run as t leaves it.
			return next, nil
		}
		// A child's status change moves its parent's summary counts in
		// the same transaction (ChildSummary is exact).
		var sums []types.TransactWriteItem
		for _, d := range addSummary(nil, cur.Status, next) {
			sums = append(sums, s.summaryAction(d))
		}
		if delta == 0 && queued == 0 && len(sums) == 0 {
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

		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems: slices.Concat([]types.TransactWriteItem{w.action()}, s.counterActions(cur, next, delta, queued, t), sums),
		})
		if err == nil {
			return next, nil
		}
		reasons := cancelReasons(err)
		switch {
		case failedAt(reasons, 0):
			continue
		case slices.ContainsFunc(reasons[min(1, len(reasons)):], func(r string) bool { return r == "ConditionalCheckFailed" }):
			// Only taking a slot is conditional.
			return flotilla.Run{}, fmt.Errorf("admit run %s to cluster %s: %w", t.RunID, cur.Cluster, s.noRoom(ctx, cur, t))
		case contended(reasons):
			lastContended = true
			if err := sleep(ctx, backoff(try)); err != nil {
				return flotilla.Run{}, err
			}
		default:
			return flotilla.Run{}, fmt.Errorf("transition run %s: %w", t.RunID, translate(err))
		}
	}
	if lastContended {
		return flotilla.Run{}, fmt.Errorf("transition run %s: still contended after %d tries: %w", t.RunID, maxTries, flotilla.ErrThrottled)
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
	if s.opts.Retention > 0 && next.Status.Terminal() && next.FinishedAt != nil {
		// Expire the run Retention after it ended (DynamoDB TTL; Unix seconds).
		it[attrTTL] = nv(next.FinishedAt.Add(s.opts.Retention).Unix())
	}
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

// queueDelta is the change to an owner's queue count when a run moves
// from one status to another: +1 on entering QUEUED (a new attempt), -1 on
// leaving it (admission, a stop or a queue timeout), else 0.
func queueDelta(from, to flotilla.RunStatus) int {
	switch {
	case from != flotilla.StatusQueued && to == flotilla.StatusQueued:
		return 1
	case from == flotilla.StatusQueued && to != flotilla.StatusQueued:
		return -1
	}
	return 0
}

// counterActions are the counter updates of a transition: a slot is
// released on the cluster the run leaves and taken on the one it is
// admitted to, and the queue count moves on the cluster whose queue the
// run leaves or enters. A new attempt may move the run to another cluster
// (Transition.Cluster): then the old cluster gets its slot back and the
// new one counts the run in its queue, in the same transaction.
func (s *Store) counterActions(cur, next flotilla.Run, slots, queued int, t flotilla.Transition) []types.TransactWriteItem {
	type change struct{ slots, queued int }
	changes := map[string]*change{cur.Cluster: {}, next.Cluster: {}}
	if slots < 0 {
		changes[cur.Cluster].slots += slots
	} else {
		changes[next.Cluster].slots += slots
	}
	if queued < 0 {
		changes[cur.Cluster].queued += queued
	} else {
		changes[next.Cluster].queued += queued
	}
	var out []types.TransactWriteItem
	for _, c := range []string{cur.Cluster, next.Cluster} {
		ch := changes[c]
		if ch == nil || (ch.slots == 0 && ch.queued == 0) {
			continue
		}
		r := next
		r.Cluster = c
		out = append(out, s.counterAction(r, ch.slots, ch.queued, t))
		delete(changes, c)
	}
	return out
}

// counterAction changes the cluster's counter item: "used" and the owner's
// "o:<owner>" move by slots, the owner's queue count "w:<owner>" by queued;
// taking a slot is conditional on the limits.
func (s *Store) counterAction(r flotilla.Run, slots, queued int, t flotilla.Transition) types.TransactWriteItem {
	u := newUpdate()
	if slots != 0 {
		d := nv(int64(slots))
		u.add(usedSlots, d)
		u.add(ownerSlot+r.Owner, d)
	}
	if queued != 0 {
		u.add(ownerQueued+r.Owner, nv(int64(queued)))
	}
	if slots > 0 {
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
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 s.table,
		Key:                       clusterKey(r.Cluster),
		UpdateExpression:          aws.String(u.expression()),
		ConditionExpression:       u.condition(),
		ExpressionAttributeNames:  u.names,
		ExpressionAttributeValues: u.values,
	}}
}

// noRoom says which limit refused an admission, from a fresh read of the
// counters, so the dispatcher can record the right wait reason.
func (s *Store) noRoom(ctx context.Context, r flotilla.Run, t flotilla.Transition) error {
	it, err := s.getItem(ctx, clustersPK, r.Cluster, true)
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
