package awsdynamodb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// A cluster's queue is one gsi1 partition per owner with QUEUED runs
// (Q#<cluster>#<owner>, in queue order), and the owners are the "w:<owner>"
// counts of the cluster's counter item, kept in the same transactions that
// queue and dequeue runs. So every read below starts with one GetItem and
// then reads only the owners that have runs waiting.

// counters reads the cluster's counter item, strongly consistent; nil when
// the cluster has never had a run.
func (s *Store) counters(ctx context.Context, cluster string) (map[string]types.AttributeValue, error) {
	it, err := s.getItem(ctx, clustersPK, cluster, true)
	if errors.Is(err, flotilla.ErrNotFound) {
		return nil, nil
	}
	return it, err
}

// queuedOwners are the owners with QUEUED runs on the counter item, sorted.
func queuedOwners(it map[string]types.AttributeValue) []string {
	var owners []string
	for name := range it {
		if owner, ok := strings.CutPrefix(name, ownerQueued); ok && num(it, name) > 0 {
			owners = append(owners, owner)
		}
	}
	slices.Sort(owners)
	return owners
}

func (s *Store) queueSource(cluster string, owners []string) source {
	src := source{index: indexGSI1, pkAttr: attrGSI1PK, skAttr: attrSK}
	for _, o := range owners {
		src.pks = append(src.pks, queuePK(cluster, o))
	}
	return src
}

// ListQueued merges the owners' queues of the cluster, oldest first, and
// reads the runs by key (consistently): one GetItem, a Query per owner
// with runs waiting, and about limit entries and runs. Runs no longer
// QUEUED (the index lags the table by about a second) are skipped.
func (s *Store) ListQueued(ctx context.Context, cluster string, limit int) ([]flotilla.Run, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	it, err := s.counters(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("list queued runs of %s: %w", cluster, err)
	}
	owners := queuedOwners(it)
	if len(owners) == 0 {
		return []flotilla.Run{}, nil
	}
	rd := s.newMerge(s.queueSource(cluster, owners), "", "", true, limit, false)
	runs := []flotilla.Run{}
	for exhausted := false; len(runs) < limit && !exhausted; {
		var keys []map[string]types.AttributeValue
		for len(keys) < limit-len(runs) {
			e, ok, err := rd.next(ctx)
			if err != nil {
				return nil, fmt.Errorf("list queued runs of %s: %w", cluster, err)
			}
			if !ok {
				exhausted = true
				break
			}
			keys = append(keys, key(str(e, attrPK), str(e, attrSK)))
		}
		items, err := s.batchGet(ctx, keys, true)
		if err != nil {
			return nil, fmt.Errorf("list queued runs of %s: %w", cluster, err)
		}
		for _, it := range items {
			if r := decodeRun(it); r.Status == flotilla.StatusQueued && len(runs) < limit {
				runs = append(runs, r)
			}
		}
	}
	return runs, nil
}

// OldestQueuedPerOwner reads each waiting owner's oldest entry (a Query
// with Limit 1 per owner named on the counter item, 16 at a time), keeps
// the oldest limit of them and reads those runs by key. Reads grow with
// the owners waiting, not with the queue. The runs are read eventually
// consistent (half the units; dispatch reads this on every message): a
// head admitted a moment ago may still read as QUEUED, and then its
// admission write fails its condition and the dispatcher moves on, as it
// does for a duplicate message. An owner whose head was admitted a moment
// ago but is still in the lagging index is left out of this round.
func (s *Store) OldestQueuedPerOwner(ctx context.Context, cluster string, limit int) ([]flotilla.Run, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	it, err := s.counters(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("queue heads of %s: %w", cluster, err)
	}
	owners := queuedOwners(it)
	heads := make([]map[string]types.AttributeValue, len(owners))
	err = eachOwner(owners, func(i int, o string) error {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 s.table,
			IndexName:                 aws.String(indexGSI1),
			KeyConditionExpression:    aws.String("#p = :p"),
			ExpressionAttributeNames:  map[string]string{"#p": attrGSI1PK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": sv(queuePK(cluster, o))},
			Limit:                     aws.Int32(1),
		})
		if err != nil {
			return translate(err)
		}
		if len(out.Items) > 0 {
			heads[i] = out.Items[0]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue heads of %s: %w", cluster, err)
	}
	heads = slices.DeleteFunc(heads, func(h map[string]types.AttributeValue) bool { return h == nil })
	slices.SortFunc(heads, func(a, b map[string]types.AttributeValue) int {
		return strings.Compare(str(a, attrSK), str(b, attrSK))
	})
	heads = heads[:min(limit, len(heads))]
	items, err := s.batchGet(ctx, tableKeys(heads), false)
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

// QueuedAhead counts the cluster's QUEUED runs queued before r: a Query
// with Select COUNT per waiting owner (16 at a time), bounded by r's id. DynamoDB
// bills a COUNT by the entries it reads, so this grows with the answer
// (index entries are about 150 bytes: some 27 per read unit).
func (s *Store) QueuedAhead(ctx context.Context, r flotilla.Run) (int, error) {
	it, err := s.counters(ctx, r.Cluster)
	if err != nil {
		return 0, fmt.Errorf("count runs queued ahead of %s: %w", r.ID, err)
	}
	owners := queuedOwners(it)
	counts := make([]int, len(owners))
	err = eachOwner(owners, func(i int, o string) error {
		q := &dynamodb.QueryInput{
			TableName:                 s.table,
			IndexName:                 aws.String(indexGSI1),
			Select:                    types.SelectCount,
			KeyConditionExpression:    aws.String("#p = :p AND #s < :s"),
			ExpressionAttributeNames:  map[string]string{"#p": attrGSI1PK, "#s": attrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": sv(queuePK(r.Cluster, o)), ":s": sv(r.ID)},
		}
		for {
			out, err := s.db.Query(ctx, q)
			if err != nil {
				return translate(err)
			}
			counts[i] += int(out.Count)
			if len(out.LastEvaluatedKey) == 0 {
				return nil
			}
			q.ExclusiveStartKey = out.LastEvaluatedKey
		}
	})
	if err != nil {
		return 0, fmt.Errorf("count runs queued ahead of %s: %w", r.ID, err)
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return n, nil
}

// eachOwner calls fn for every owner, 16 at a time: the per-owner reads
// of a queue are independent Queries, and one after another they would
// add a round trip per owner waiting.
func eachOwner(owners []string, fn func(i int, owner string) error) error {
	errs := make([]error, len(owners))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, o := range owners {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = fn(i, o)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ClusterUsage is one GetItem of the cluster's counter item: slots held in
// all and per owner, and runs queued per owner.
func (s *Store) ClusterUsage(ctx context.Context, cluster string) (flotilla.Usage, error) {
	u := flotilla.Usage{RunningOwner: map[string]int{}}
	it, err := s.counters(ctx, cluster)
	if err != nil {
		return flotilla.Usage{}, fmt.Errorf("cluster usage of %s: %w", cluster, err)
	}
	u.Running = int(num(it, usedSlots))
	var idle []string
	idleOwners := map[string]bool{}
	for name := range it {
		owner, held := strings.CutPrefix(name, ownerSlot)
		queuer, waiting := strings.CutPrefix(name, ownerQueued)
		n := int(num(it, name))
		switch {
		case (held || waiting) && n <= 0:
			idle = append(idle, name)
			if held {
				idleOwners[owner] = true
			} else {
				idleOwners[queuer] = true
			}
		case held:
			u.RunningOwner[owner] = n
		case waiting:
			u.Queued += n
		}
	}
	if len(idleOwners) >= pruneIdleOwners {
		s.pruneOwners(ctx, cluster, idle)
	}
	return u, nil
}

// pruneIdleOwners is how many owners' counters at zero the counter item
// keeps before ClusterUsage removes them: each costs ~30 bytes on every
// write of the item, a removal costs a write, so they go in batches.
const pruneIdleOwners = 8

// pruneOwners removes owners' counters while they are all zero. Losing the
// race to a write that uses one again is fine: the next ClusterUsage tries
// again.
func (s *Store) pruneOwners(ctx context.Context, cluster string, attrs []string) {
	slices.Sort(attrs)
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
