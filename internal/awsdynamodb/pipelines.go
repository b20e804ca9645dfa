package awsdynamodb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Arrays, dependencies and WAITING runs (doc.go, "Pipelines"):
//
//   - a WAITING run is in gsi1 under W#<cluster>, so a cluster's waiting
//     runs are one partition; it touches no counter until it is QUEUED;
//   - a run launched from another is in gsi4 under P#<parent>#a while
//     active and P#<parent>#e once ended;
//   - a run that waits for others has a link item AF#<other>/<its id> per
//     run it waits for, written before it;
//   - a parent's children are counted by status in summary items
//     C#<parent>/K<chunk>, one per 256 array indexes (N for children
//     without one), each changed in the same transaction as the child;
//   - an array's elements are items AE#<parent>/<chunk>, 64 elements each.

// parentPK is the gsi4 partition of a parent's children, active or ended.
func parentPK(parent string, ended bool) string {
	if ended {
		return parentPfx + parent + "#e"
	}
	return parentPfx + parent + "#a"
}

// summaryChunk is how many array indexes one summary item covers: the
// failed ones among them are offsets 0-255, at most 3 bytes each in a
// number set, so a chunk stays under 1 KB (one write unit, two in a
// transaction) even when every child in it failed.
const summaryChunk = 256

// summarySK is the summary item of a child: its array index's chunk, or
// N for a child without an index.
func summarySK(index *int) string {
	if index == nil {
		return "N"
	}
	return fmt.Sprintf("K%07d", *index/summaryChunk)
}

// aFailed is the summary item's number set of failed offsets.
const aFailed = "fi"

// summaryDelta is the change a write makes to one summary item.
type summaryDelta struct {
	parent string
	sk     string
	counts map[flotilla.RunStatus]int
	failed []int // offsets within the chunk
}

// addSummary adds to ds, one entry per summary item in order of first
// use, the change of r moving from one status to its own ("" for a run
// being created); nothing when r has no parent or its status is the same.
func addSummary(ds []*summaryDelta, from flotilla.RunStatus, r flotilla.Run) []*summaryDelta {
	if r.Parent == "" || from == r.Status {
		return ds
	}
	sk := summarySK(r.ArrayIndex)
	i := slices.IndexFunc(ds, func(d *summaryDelta) bool { return d.parent == r.Parent && d.sk == sk })
	if i < 0 {
		ds = append(ds, &summaryDelta{parent: r.Parent, sk: sk, counts: map[flotilla.RunStatus]int{}})
		i = len(ds) - 1
	}
	d := ds[i]
	if from != "" {
		d.counts[from]--
	}
	d.counts[r.Status]++
	if (r.Status == flotilla.StatusFailed || r.Status == flotilla.StatusStopped) && r.ArrayIndex != nil {
		d.failed = append(d.failed, *r.ArrayIndex%summaryChunk)
	}
	return ds
}

// summaryAction is the unconditional update of one summary item: ADD to
// each status's count (its one-letter code) and to the failed offsets.
// ADD is commutative, so concurrent children never lose a count; each
// child changes one item, so a read of them all counts every child once.
func (s *Store) summaryAction(d *summaryDelta) types.TransactWriteItem {
	u := newUpdate()
	sts := make([]string, 0, len(d.counts))
	for st := range d.counts {
		sts = append(sts, string(st))
	}
	slices.Sort(sts)
	for _, st := range sts {
		if n := d.counts[flotilla.RunStatus(st)]; n != 0 {
			u.add(codes.encode(st), nv(int64(n)))
		}
	}
	if len(d.failed) > 0 {
		ns := make([]string, len(d.failed))
		for i, o := range d.failed {
			ns[i] = strconv.Itoa(o)
		}
		u.add(aFailed, &types.AttributeValueMemberNS{Value: ns})
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 s.table,
		Key:                       key(summaryPfx+d.parent, d.sk),
		UpdateExpression:          aws.String(u.expression()),
		ExpressionAttributeNames:  u.names,
		ExpressionAttributeValues: u.values,
	}}
}

// ChildSummary implements flotilla.Store: one strongly consistent Query of
// the parent's summary items (C#<parent>): a few dozen bytes per 256
// children plus ~3 bytes per failed one, so 1 read unit for an array of
// 10,000 with few failures, never a read of the children.
func (s *Store) ChildSummary(ctx context.Context, parent string) (flotilla.ChildSummary, error) {
	sum := flotilla.ChildSummary{Counts: map[flotilla.RunStatus]int{}, FailedIndexes: []int{}}
	q := &dynamodb.QueryInput{
		TableName:                 s.table,
		ConsistentRead:            aws.Bool(true),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": sv(summaryPfx + parent)},
	}
	for {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return flotilla.ChildSummary{}, fmt.Errorf("summarise the children of %s: %w", parent, translate(err))
		}
		for _, it := range out.Items {
			for _, st := range flotilla.AllStatuses {
				if n := int(num(it, codes.encode(string(st)))); n != 0 {
					sum.Counts[st] += n
					if st.Terminal() {
						sum.Ended += n
					}
				}
			}
			chunk, err := strconv.Atoi(strings.TrimPrefix(str(it, attrSK), "K"))
			ns, ok := it[aFailed].(*types.AttributeValueMemberNS)
			if err != nil || !ok {
				continue
			}
			for _, v := range ns.Value {
				if o, err := strconv.Atoi(v); err == nil {
					sum.FailedIndexes = append(sum.FailedIndexes, chunk*summaryChunk+o)
				}
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
	for st, n := range sum.Counts {
		if n == 0 {
			delete(sum.Counts, st)
		}
	}
	slices.Sort(sum.FailedIndexes)
	return sum, nil
}

// linkItems are the items that let RunFilter.After find r: one per run it
// waits for, keyed by that run, sorted by r's id, carrying r's attributes
// that never change (as index entries do), so filters apply before r is
// read.
func linkItems(r flotilla.Run) []map[string]types.AttributeValue {
	full := runItem(r)
	var out []map[string]types.AttributeValue
	for _, dep := range r.After {
		it := map[string]types.AttributeValue{attrPK: sv(afterPfx + dep), attrSK: sv(r.ID)}
		for _, a := range indexProjection {
			if v, ok := full[a]; ok {
				it[a] = v
			}
		}
		out = append(out, it)
	}
	return out
}

// putItems writes items with BatchWriteItem, 25 a request, 4 requests at
// a time, retrying unprocessed ones. The items are idempotent (links,
// element chunks): writing one twice changes nothing.
func (s *Store) putItems(ctx context.Context, items []map[string]types.AttributeValue) error {
	var chunks [][]map[string]types.AttributeValue
	for start := 0; start < len(items); start += 25 {
		chunks = append(chunks, items[start:min(start+25, len(items))])
	}
	errs := make([]error, len(chunks))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, chunk := range chunks {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			reqs := make([]types.WriteRequest, len(chunk))
			for j, it := range chunk {
				reqs[j] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
			}
			for try := 0; len(reqs) > 0; try++ {
				if try > 0 {
					if err := sleep(ctx, backoff(try)); err != nil {
						errs[i] = err
						return
					}
				}
				out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{*s.table: reqs}})
				if err != nil {
					errs[i] = translate(err)
					return
				}
				reqs = out.UnprocessedItems[*s.table]
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ensureCluster makes sure the cluster's counter item exists, so that the
// clusters a ListRuns without a cluster reads (clusterNames) include one
// whose only runs are WAITING (a QUEUED run's create writes the item in
// its own transaction). Once per process and cluster: an eventually
// consistent GetItem (half a unit), and an UpdateItem only when the item
// is missing (counter items are never deleted).
func (s *Store) ensureCluster(ctx context.Context, cluster string) error {
	if _, ok := s.clusters.Load(cluster); ok {
		return nil
	}
	_, err := s.getItem(ctx, clustersPK, cluster, false)
	if errors.Is(err, flotilla.ErrNotFound) {
		for try := 0; ; try++ {
			_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 s.table,
				Key:                       clusterKey(cluster),
				UpdateExpression:          aws.String("ADD #u :z"),
				ExpressionAttributeNames:  map[string]string{"#u": usedSlots},
				ExpressionAttributeValues: map[string]types.AttributeValue{":z": nv(0)},
			})
			// A transaction holds the item (ADD 0 changes nothing, so
			// again until it is through: it may be cancelled).
			if err = translate(err); !errors.Is(err, flotilla.ErrConflict) || try >= maxTries {
				break
			}
			if serr := sleep(ctx, backoff(try)); serr != nil {
				return serr
			}
		}
	}
	if err != nil {
		return fmt.Errorf("record cluster %s: %w", cluster, err)
	}
	s.clusters.Store(cluster, true)
	return nil
}

// maxTransact is DynamoDB's limit of actions in one TransactWriteItems
// (API Reference, TransactWriteItems: "up to 100 action requests").
const maxTransact = 100

// maxTransactBytes leaves room under TransactWriteItems' 4 MB of items for
// the counter and summary items.
const maxTransactBytes = 4*1000*1000 - 64*1024

// CreateRuns implements flotilla.Store. The links of runs that wait are
// written first (BatchWriteItem; a link whose run is never made is
// skipped by the readers, which read the run). Then the runs go in
// transactions of up to 100 actions: a conditional Put per run, plus one
// update of each cluster counter whose queue grows and of each summary
// item whose children are added, with the batch's summed counts. So a
// batch of children of one array costs about 2 write units a child (a
// transactional write of a ~1 KB item) and the counter's 2 units once per
// ~98 children. The batches go one after another: they all update the
// cluster's counter item, and DynamoDB cancels a transaction that meets
// another on an item (TransactionConflict), so in parallel they would only
// retry. A batch whose Put fails its condition (a child made before a
// crash, or by a concurrent maker) reads which of its runs exist, drops
// them and tries again without them, so no run is made twice and the
// counts count each once. The SDK gives every TransactWriteItems a
// ClientRequestToken and keeps it on its own retries, so a retry after a
// lost answer is not applied twice (API Reference, TransactWriteItems,
// ClientRequestToken).
func (s *Store) CreateRuns(ctx context.Context, runs []flotilla.Run) (int, error) {
	seen := map[string]bool{}
	var todo []flotilla.Run
	var links []map[string]types.AttributeValue
	waiting := map[string]bool{}
	for _, r := range runs {
		if r.IdempotencyKey != "" {
			return 0, fmt.Errorf("create %d runs: run %s has an idempotency key: %w", len(runs), r.ID, flotilla.ErrInvalid)
		}
		if r.Status != flotilla.StatusQueued && r.Status != flotilla.StatusWaiting {
			return 0, fmt.Errorf("create %d runs: run %s is %s, not QUEUED or WAITING: %w", len(runs), r.ID, r.Status, flotilla.ErrInvalid)
		}
		if seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		todo = append(todo, r)
		links = append(links, linkItems(r)...)
		if r.Status == flotilla.StatusWaiting {
			waiting[r.Cluster] = true
		}
	}
	if err := s.putItems(ctx, links); err != nil {
		return 0, fmt.Errorf("create %d runs: links to the runs they wait for: %w", len(runs), err)
	}
	for _, c := range slices.Sorted(maps.Keys(waiting)) {
		if err := s.ensureCluster(ctx, c); err != nil {
			return 0, fmt.Errorf("create %d runs: %w", len(runs), err)
		}
	}
	created := 0
	for len(todo) > 0 {
		n := batchSize(todo)
		made, err := s.createBatch(ctx, todo[:n])
		created += made
		if err != nil {
			return created, fmt.Errorf("create %d runs: %w", len(runs), err)
		}
		todo = todo[n:]
	}
	return created, nil
}

// batchSize is how many of runs, from the first, fit one transaction with
// the counter and summary updates they need.
func batchSize(runs []flotilla.Run) int {
	aux := map[string]bool{}
	bytes := 0
	for i, r := range runs {
		// TransactWriteItems refuses items totalling more than 4 MB.
		if bytes += itemBytes(newRunItem(r)); i > 0 && bytes > maxTransactBytes {
			return i
		}
		var need []string
		if r.Status == flotilla.StatusQueued && !aux["CL\x00"+r.Cluster] {
			need = append(need, "CL\x00"+r.Cluster)
		}
		if k := "C\x00" + r.Parent + "\x00" + summarySK(r.ArrayIndex); r.Parent != "" && !aux[k] {
			need = append(need, k)
		}
		if i+1+len(aux)+len(need) > maxTransact {
			return i
		}
		for _, k := range need {
			aux[k] = true
		}
	}
	return len(runs)
}

// newRunItem is a run's item as CreateRun writes it: version 1 and its
// first life-story event.
func newRunItem(r flotilla.Run) item {
	it := runItem(r)
	it[aVersion] = nv(1)
	src := flotilla.SourceAPI
	if r.ScheduleID != "" {
		src = flotilla.SourceSchedule
	}
	first := flotilla.RunEvent{RunID: r.ID, Time: r.QueuedAt.UTC(), Source: src, To: r.Status, Reason: r.StatusReason, Attempt: r.Attempt}
	it[aEvents] = &types.AttributeValueMemberL{Value: []types.AttributeValue{encodeEvent(first)}}
	return it
}

// createActions are the transaction that creates runs: their Puts first,
// then the counter and summary updates.
func (s *Store) createActions(runs []flotilla.Run) []types.TransactWriteItem {
	notExists := aws.String("attribute_not_exists(" + attrPK + ")")
	var actions []types.TransactWriteItem
	queued := map[string]map[string]int{} // cluster → owner → runs
	var clusters []string
	var sums []*summaryDelta
	for _, r := range runs {
		actions = append(actions, types.TransactWriteItem{Put: &types.Put{TableName: s.table, Item: newRunItem(r), ConditionExpression: notExists}})
		if r.Status == flotilla.StatusQueued {
			if queued[r.Cluster] == nil {
				queued[r.Cluster] = map[string]int{}
				clusters = append(clusters, r.Cluster)
			}
			queued[r.Cluster][r.Owner]++
		}
		sums = addSummary(sums, "", r)
	}
	for _, c := range clusters {
		u := newUpdate()
		for _, o := range slices.Sorted(maps.Keys(queued[c])) {
			u.add(ownerQueued+o, nv(int64(queued[c][o])))
		}
		actions = append(actions, types.TransactWriteItem{Update: &types.Update{TableName: s.table, Key: clusterKey(c),
			UpdateExpression: aws.String(u.expression()), ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values}})
	}
	for _, d := range sums {
		actions = append(actions, s.summaryAction(d))
	}
	return actions
}

// createBatch creates those of runs that do not exist, in one transaction
// (a PutItem when it is a lone run that touches no other item), and
// returns how many it created.
func (s *Store) createBatch(ctx context.Context, runs []flotilla.Run) (int, error) {
	for try := 0; len(runs) > 0; try++ {
		actions := s.createActions(runs)
		if len(actions) == 1 {
			p := actions[0].Put
			_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression})
			var ccf *types.ConditionalCheckFailedException
			if errors.As(err, &ccf) {
				return 0, nil // made before
			}
			if err != nil {
				return 0, fmt.Errorf("run %s: %w", runs[0].ID, translate(err))
			}
			return 1, nil
		}
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: actions})
		if err == nil {
			return len(runs), nil
		}
		reasons := cancelReasons(err)
		switch {
		case slices.ContainsFunc(reasons[:min(len(runs), len(reasons))], func(r string) bool { return r == "ConditionalCheckFailed" }):
			// Some exist: find them all at once (a repeated batch
			// usually exists whole) and go on with the others.
			keys := make([]map[string]types.AttributeValue, len(runs))
			for i, r := range runs {
				keys[i] = runKey(r.ID)
			}
			items, err := s.batchGet(ctx, keys, true)
			if err != nil {
				return 0, fmt.Errorf("read which of %d runs exist: %w", len(runs), err)
			}
			exists := map[string]bool{}
			for _, it := range items {
				exists[str(it, attrSK)] = true
			}
			for i := range runs {
				if failedAt(reasons, i) {
					exists[runs[i].ID] = true
				}
			}
			runs = slices.DeleteFunc(slices.Clone(runs), func(r flotilla.Run) bool { return exists[r.ID] })
		case contended(reasons) && try < 4*maxTries:
			// A batch holds the cluster's counter item, which every
			// launch, admission and end on the cluster also writes: it
			// waits its turn longer than a single launch does.
			if err := sleep(ctx, backoff(try)); err != nil {
				return 0, err
			}
		case contended(reasons):
			return 0, fmt.Errorf("%d runs: still contended after %d tries: %w", len(runs), try+1, flotilla.ErrThrottled)
		default:
			return 0, fmt.Errorf("%d runs: %w", len(runs), translate(err))
		}
	}
	return 0, nil
}

// elemsPerItem is how many array elements one item holds: an element is
// at most 4 KiB of JSON plus its index, so 64 of them stay under 300 KB,
// within DynamoDB's 400 KB item limit (Developer Guide, "Service, account,
// and table quotas in Amazon DynamoDB": item size), and element k is in
// chunk k / 64, so the chunks a range of elements needs are known keys.
const elemsPerItem = 64

// maxElemsItem is the size above which a chunk is refused rather than
// sent to fail: 390 KB leaves room for the key and attribute names.
const maxElemsItem = 390 * 1024

// elemsKey is the item of an array's chunk of elements. Each chunk is its
// own partition key, so writing 5 MiB of elements spreads over the table's
// partitions instead of meeting one partition's 1,000 write units a second
// (5,000 units would take it 5 seconds).
func elemsKey(parentID string, chunk int) map[string]types.AttributeValue {
	return key(fmt.Sprintf("%s%s#%05d", elemsPfx, parentID, chunk), "E")
}

// PutArrayElements implements flotilla.Store: the elements in items of 64,
// AE#<parent>#<chunk>/E, each one string of JSON, by BatchWriteItem (4
// requests of 25 at a time). Writing them again writes the same items.
func (s *Store) PutArrayElements(ctx context.Context, parentID string, elems []flotilla.ArrayElement) error {
	var items []map[string]types.AttributeValue
	for c := 0; c*elemsPerItem < len(elems); c++ {
		// Without HTML escaping, an item's <, > and & come back as given.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(elems[c*elemsPerItem : min((c+1)*elemsPerItem, len(elems))]); err != nil {
			return fmt.Errorf("store the elements of array %s: %w", parentID, err)
		}
		b := bytes.TrimSpace(buf.Bytes())
		if len(b) > maxElemsItem {
			return fmt.Errorf("store the elements of array %s: elements %d-%d take %d bytes, more than %d: %w",
				parentID, c*elemsPerItem, min((c+1)*elemsPerItem, len(elems))-1, len(b), maxElemsItem, flotilla.ErrInvalid)
		}
		it := elemsKey(parentID, c)
		it[aElems] = sv(string(b))
		items = append(items, it)
	}
	if err := s.putItems(ctx, items); err != nil {
		return fmt.Errorf("store the elements of array %s: %w", parentID, err)
	}
	return nil
}

// aElems is an element chunk's JSON.
const aElems = "e"

// ArrayElements implements flotilla.Store: the chunks that hold [from,
// to) by key, BatchGetItem strongly consistent, 100 keys at a time; the
// chunks are numbered from 0 without gaps, so a missing one is the end.
func (s *Store) ArrayElements(ctx context.Context, parentID string, from, to int) ([]flotilla.ArrayElement, error) {
	from = max(from, 0)
	out := []flotilla.ArrayElement{}
	if to <= from {
		return out, nil
	}
	last := (to - 1) / elemsPerItem
	for first := from / elemsPerItem; first <= last; first += 100 {
		var keys []map[string]types.AttributeValue
		for c := first; c <= min(last, first+99); c++ {
			keys = append(keys, elemsKey(parentID, c))
		}
		items, err := s.batchGet(ctx, keys, true)
		if err != nil {
			return nil, fmt.Errorf("read the elements of array %s: %w", parentID, err)
		}
		for i, it := range items {
			chunk := first + i // batchGet keeps the keys' order; a gap ends the array
			if str(it, attrPK) != str(elemsKey(parentID, chunk), attrPK) {
				return out, nil
			}
			var elems []flotilla.ArrayElement
			if err := json.Unmarshal([]byte(str(it, aElems)), &elems); err != nil {
				return nil, fmt.Errorf("read the elements of array %s: chunk %d: %w", parentID, chunk, err)
			}
			for j, e := range elems {
				if pos := chunk*elemsPerItem + j; pos >= from && pos < to {
					out = append(out, e)
				}
			}
		}
		if len(items) < len(keys) {
			return out, nil
		}
	}
	return out, nil
}
