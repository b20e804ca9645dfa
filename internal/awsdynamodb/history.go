package awsdynamodb

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
)

// pageBudget is how many read units (eventually consistent, as DynamoDB
// bills them: see readUnits) one page of 50 runs may spend. A page that
// spends it before it is full returns what it found with a next_token
// that continues where the reading stopped, so a rare filter costs the
// caller more pages, never a timeout, and never a short last page that
// claims to be the end. Larger pages get a proportionally larger budget.
const pageBudget = 30

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
	return (len(f.Statuses) == 0 || slices.Contains(f.Statuses, r.Status)) && matchFixed(r, f) &&
		(f.Parent == "" || r.Parent == f.Parent) && (f.After == "" || slices.Contains(r.After, f.After))
}

// matchFixed checks the filters on what never changes after create: the
// attributes every index projects (indexProjection), so it can be applied
// to index entries before their runs are read.
func matchFixed(r flotilla.Run, f flotilla.RunFilter) bool {
	return (f.Cluster == "" || r.Cluster == f.Cluster) &&
		(f.DefinitionID == "" || r.DefinitionID == f.DefinitionID) &&
		(f.Owner == "" || r.Owner == f.Owner) &&
		(f.Tag == "" || slices.Contains(r.Tags, f.Tag)) &&
		(f.ScheduleID == "" || r.ScheduleID == f.ScheduleID) &&
		(f.Since.IsZero() || !r.QueuedAt.Before(f.Since)) &&
		(f.Until.IsZero() || r.QueuedAt.Before(f.Until))
}

// source is where a history read goes: the table's run partitions, or the
// partitions of one index whose entries are then read by key.
type source struct {
	index          string // "" for the table
	pkAttr, skAttr string
	pks            []string
	// links: the table items read are links (AF#<run>/<waiting run id>),
	// read consistently, whose runs are then read by id, consistently:
	// a run that waits must not be missed because it was just made.
	links bool
}

func (src source) String() string {
	switch {
	case src.links:
		return "links"
	case src.index == "":
		return "table"
	}
	return src.index
}

// runKeys are the keys of the runs a source's entries stand for.
func (src source) runKeys(entries []map[string]types.AttributeValue) []map[string]types.AttributeValue {
	if !src.links {
		return tableKeys(entries)
	}
	keys := make([]map[string]types.AttributeValue, len(entries))
	for i, e := range entries {
		keys[i] = runKey(str(e, attrSK))
	}
	return keys
}

// runSource picks the partitions that hold every run f can match, and the
// fewest others: the state index when every status asked for is indexed
// (all but SUCCEEDED: FAILED and STOPPED by status, PENDING and RUNNING by
// cluster, QUEUED by cluster and owner, the clusters and their waiting
// owners read from the counter items), then the definition's runs, then
// the owner's, then every run. Whatever the source does not select by key
// is filtered on the index entries (the fixed attributes) and on the runs
// (the status). It returns the read units its own reads cost.
func (s *Store) runSource(ctx context.Context, f flotilla.RunFilter) (source, float64, error) {
	units := 0.0
	// What a run waits for and a run's parent select the fewest runs: the
	// links of the runs waiting for one, the children of one.
	if f.After != "" {
		return source{pkAttr: attrPK, skAttr: attrSK, pks: []string{afterPfx + f.After}, links: true}, 0, nil
	}
	if f.Parent != "" {
		src := source{index: indexGSI4, pkAttr: attrGSI4PK, skAttr: attrSK}
		active := func(st flotilla.RunStatus) bool { return !st.Terminal() }
		if len(f.Statuses) == 0 || slices.ContainsFunc(f.Statuses, active) {
			src.pks = append(src.pks, parentPK(f.Parent, false))
		}
		if len(f.Statuses) == 0 || slices.ContainsFunc(f.Statuses, flotilla.RunStatus.Terminal) {
			src.pks = append(src.pks, parentPK(f.Parent, true))
		}
		return src, 0, nil
	}
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, flotilla.StatusSucceeded) {
		var clusters []string
		if slices.ContainsFunc(f.Statuses, func(st flotilla.RunStatus) bool { return !st.Terminal() }) {
			clusters = []string{f.Cluster}
			if f.Cluster == "" {
				var err error
				if clusters, units, err = s.clusterNames(ctx); err != nil {
					return source{}, 0, err
				}
			}
		}
		src := source{index: indexGSI1, pkAttr: attrGSI1PK, skAttr: attrSK}
		for _, st := range f.Statuses {
			switch st {
			case flotilla.StatusFailed, flotilla.StatusStopped:
				for _, sh := range allShards {
					src.pks = append(src.pks, endedPfx+string(st)+"#"+sh)
				}
			case flotilla.StatusPending, flotilla.StatusRunning:
				for _, c := range clusters {
					if pk := activePfx + c; !slices.Contains(src.pks, pk) {
						src.pks = append(src.pks, pk)
					}
				}
			case flotilla.StatusWaiting:
				for _, c := range clusters {
					if pk := waitingPfx + c; !slices.Contains(src.pks, pk) {
						src.pks = append(src.pks, pk)
					}
				}
			case flotilla.StatusQueued:
				for _, c := range clusters {
					it, err := s.counters(ctx, c)
					if err != nil {
						return source{}, 0, err
					}
					units++
					for _, o := range queuedOwners(it) {
						if pk := queuePK(c, o); (f.Owner == "" || o == f.Owner) && !slices.Contains(src.pks, pk) {
							src.pks = append(src.pks, pk)
						}
					}
				}
			}
		}
		return src, units, nil
	}
	sharded := func(index, pkAttr, prefix string) source {
		src := source{index: index, pkAttr: pkAttr, skAttr: attrSK}
		for _, sh := range allShards {
			src.pks = append(src.pks, prefix+"#"+sh)
		}
		return src
	}
	switch {
	case f.DefinitionID != "":
		return sharded(indexGSI2, attrGSI2PK, defRunsPfx+f.DefinitionID), 0, nil
	case f.Owner != "":
		return sharded(indexGSI3, attrGSI3PK, ownerRunsPf+f.Owner), 0, nil
	}
	src := source{pkAttr: attrPK, skAttr: attrSK}
	for _, sh := range allShards {
		src.pks = append(src.pks, runPKPrefix+sh)
	}
	return src, 0, nil
}

// clusterNames are the clusters that ever had a run: one strongly
// consistent Query of the counter items' partition (a few hundred bytes
// per cluster).
func (s *Store) clusterNames(ctx context.Context) ([]string, float64, error) {
	q := &dynamodb.QueryInput{
		TableName:                 s.table,
		ConsistentRead:            aws.Bool(true),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": sv(clustersPK)},
	}
	var names []string
	units := 0.0
	for {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return nil, 0, fmt.Errorf("list clusters: %w", translate(err))
		}
		units += queryUnits(out.Items, true)
		for _, it := range out.Items {
			names = append(names, str(it, attrSK))
		}
		if len(out.LastEvaluatedKey) == 0 {
			return names, units, nil
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ListRuns pages through runs newest first. It merges the source's
// partitions (runSource) in run-id order (ids sort by queue time), each
// read a chunk at a time, bounded by since/until and the token; filters
// the entries on their fixed attributes, reads the survivors' runs by key
// (for an index) and filters them on status. It stops when the page is
// full, the range ends, or the page has spent its read budget
// (pageBudget); then the token is the last run id it examined, so the next
// page goes on from there and no run is skipped or repeated.
func (s *Store) ListRuns(ctx context.Context, f flotilla.RunFilter) (flotilla.Page[flotilla.Run], error) {
	limit := pageLimit(f.Limit)
	after, err := decodeToken("r", f.NextToken)
	if err != nil {
		return flotilla.Page[flotilla.Run]{}, err
	}
	var lo, hi string
	if !f.Since.IsZero() {
		lo = idBound(f.Since.Add(-idSlack), false)
	}
	if !f.Until.IsZero() {
		hi = idBound(f.Until.Add(idSlack), true)
	}
	if after != "" && (hi == "" || after < hi) {
		hi = after // inclusive: the run at the token is skipped below
	}
	if lo != "" && hi != "" && lo > hi {
		return flotilla.Page[flotilla.Run]{Items: []flotilla.Run{}}, nil
	}
	src, setup, err := s.runSource(ctx, f)
	if err != nil {
		return flotilla.Page[flotilla.Run]{}, fmt.Errorf("list runs: %w", err)
	}
	if len(src.pks) == 0 {
		return flotilla.Page[flotilla.Run]{Items: []flotilla.Run{}}, nil
	}
	rd := s.newMerge(src, lo, hi, false, limit+1, src.links)
	rd.units = setup
	// A page reads every partition of its source at least once, whatever
	// the budget: listing QUEUED runs reads one partition per owner
	// waiting, so the budget grows by that first Query of each.
	budget := float64(pageBudget*max(1, int(math.Ceil(float64(limit)/defaultLimit)))) + setup + 0.5*float64(len(src.pks))

	runs := []flotilla.Run{}
	last, exhausted := "", false
	for len(runs) <= limit && !exhausted && rd.units < budget {
		need := limit + 1 - len(runs)
		var cands []map[string]types.AttributeValue
		// Always examine one entry, so every page makes progress.
		for len(cands) < need && (rd.units < budget || last == "") {
			e, ok, err := rd.next(ctx)
			if err != nil {
				return flotilla.Page[flotilla.Run]{}, fmt.Errorf("list runs on %s: %w", src, err)
			}
			if !ok {
				exhausted = true
				break
			}
			id := str(e, attrSK)
			if id == after || id == last {
				// The token's own run; or a run the lagging index still
				// shows in its old partition too (a run that just ended
				// can be under A# and E# for a moment): the merge gives
				// both entries one after the other, and one is enough.
				continue
			}
			last = id
			if matchFixed(decodeRun(e), f) {
				cands = append(cands, e)
			}
		}
		items := cands
		if (src.index != "" || src.links) && len(cands) > 0 {
			if items, err = s.batchGet(ctx, src.runKeys(cands), src.links); err != nil {
				return flotilla.Page[flotilla.Run]{}, fmt.Errorf("list runs on %s: %w", src, err)
			}
			for _, it := range items {
				rd.units += itemUnits(it, src.links)
			}
		}
		for _, it := range items {
			// The index may lag the table (a run that just ended can
			// still be listed as active): the run itself decides.
			if r := decodeRun(it); matchRun(r, f) && len(runs) <= limit {
				runs = append(runs, r)
			}
		}
	}
	page := flotilla.Page[flotilla.Run]{Items: runs}
	switch {
	case len(runs) > limit:
		page.Items = runs[:limit]
		page.NextToken = encodeToken("r", runs[limit-1].ID)
	case !exhausted && last != "":
		// The budget ran out before the range did: say where to go on.
		page.NextToken = encodeToken("r", last)
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

// merge reads several partitions of the table or of one index as one
// sequence in sort-key order, a chunk per partition at a time, and keeps
// the read units it spent. The next entry is always the greatest (or
// least, ascending) of the partitions' heads, so when a read stops, every
// entry before the last one returned has been seen, in every partition.
type merge struct {
	s        *Store
	skAttr   string
	asc      bool
	cursors  []*cursor
	units    float64
	maxChunk int32
}

type cursor struct {
	q    *dynamodb.QueryInput
	buf  []map[string]types.AttributeValue
	done bool
}

// maxChunk bounds one Query of a merge: about 20 read units of run items,
// fewer of index entries.
const maxChunk = 100

// newMerge prepares the read of src's partitions between lo and hi
// (inclusive; either may be empty). want is how many entries the caller
// expects to need: each partition's first chunk is its share, and a
// partition that runs dry doubles its next chunk, up to maxChunk.
func (s *Store) newMerge(src source, lo, hi string, asc bool, want int, consistent bool) *merge {
	m := &merge{s: s, skAttr: src.skAttr, asc: asc, maxChunk: maxChunk}
	chunk := int32(min(maxChunk, max(4, want/max(1, len(src.pks))+2)))
	if len(src.pks) == 1 {
		chunk = int32(min(maxChunk, max(1, want)))
	}
	for _, pk := range src.pks {
		u := newUpdate()
		kc := u.name(src.pkAttr) + " = " + u.value(sv(pk))
		sk := func() string { return u.name(src.skAttr) }
		switch {
		case lo != "" && hi != "":
			kc += fmt.Sprintf(" AND %s BETWEEN %s AND %s", sk(), u.value(sv(lo)), u.value(sv(hi)))
		case lo != "":
			kc += fmt.Sprintf(" AND %s >= %s", sk(), u.value(sv(lo)))
		case hi != "":
			kc += fmt.Sprintf(" AND %s <= %s", sk(), u.value(sv(hi)))
		}
		q := &dynamodb.QueryInput{
			TableName:                 s.table,
			KeyConditionExpression:    aws.String(kc),
			ExpressionAttributeNames:  u.names,
			ExpressionAttributeValues: u.values,
			ScanIndexForward:          aws.Bool(asc),
			Limit:                     aws.Int32(chunk),
		}
		if src.index != "" {
			q.IndexName = aws.String(src.index)
		} else {
			q.ConsistentRead = aws.Bool(consistent)
		}
		m.cursors = append(m.cursors, &cursor{q: q})
	}
	return m
}

// next returns the next entry in order, or false when every partition is
// read to its end.
func (m *merge) next(ctx context.Context) (map[string]types.AttributeValue, bool, error) {
	var best *cursor
	for _, c := range m.cursors {
		for len(c.buf) == 0 && !c.done {
			if err := m.fill(ctx, c); err != nil {
				return nil, false, err
			}
		}
		if len(c.buf) == 0 {
			continue
		}
		if best == nil {
			best = c
			continue
		}
		a, b := str(c.buf[0], m.skAttr), str(best.buf[0], m.skAttr)
		if (m.asc && a < b) || (!m.asc && a > b) {
			best = c
		}
	}
	if best == nil {
		return nil, false, nil
	}
	e := best.buf[0]
	best.buf = best.buf[1:]
	return e, true, nil
}

func (m *merge) fill(ctx context.Context, c *cursor) error {
	out, err := m.s.db.Query(ctx, c.q)
	if err != nil {
		return translate(err)
	}
	m.units += queryUnits(out.Items, c.q.IndexName == nil && aws.ToBool(c.q.ConsistentRead))
	c.buf = out.Items
	if len(out.LastEvaluatedKey) == 0 {
		c.done = true
	} else {
		c.q.ExclusiveStartKey = out.LastEvaluatedKey
		c.q.Limit = aws.Int32(min(m.maxChunk, 2*aws.ToInt32(c.q.Limit)))
	}
	return nil
}

// queryUnits is what DynamoDB bills a Query: the sizes of the items read,
// summed and rounded up to 4 KB, one unit per 4 KB strongly consistent,
// half eventually consistent (index queries always are). DynamoDB
// Developer Guide, "DynamoDB read and write operations" (Query) and
// "Read consistency".
func queryUnits(items []map[string]types.AttributeValue, consistent bool) float64 {
	size := 0
	for _, it := range items {
		size += itemBytes(it)
	}
	units := math.Max(1, math.Ceil(float64(size)/4096))
	if !consistent {
		units /= 2
	}
	return units
}

// itemUnits is what DynamoDB bills one item of a GetItem or BatchGetItem:
// its size rounded up to 4 KB, at least one unit, half when eventually
// consistent.
func itemUnits(it map[string]types.AttributeValue, consistent bool) float64 {
	units := math.Max(1, math.Ceil(float64(itemBytes(it))/4096))
	if !consistent {
		units /= 2
	}
	return units
}

// itemBytes is DynamoDB's size of an item: each attribute's name plus its
// value (DynamoDB Developer Guide, "Item sizes and formats"). Numbers are
// counted at their longest (21 bytes): this is for budgets, not bills.
func itemBytes(it map[string]types.AttributeValue) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueBytes(v)
	}
	return n
}

func valueBytes(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return 21
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberNS:
		return 21 * len(v.Value)
	case *types.AttributeValueMemberSS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueBytes(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueBytes(e)
		}
		return n
	}
	return 1
}
