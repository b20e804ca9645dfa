package awsdynamodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// The earlier layout's keys (the store before commit 829fb0b, see doc.go,
// Migration): every run under one partition, a counter item per cluster
// under a partition of its own, and gsi1/gsi2 with sort keys of their own.
// Only Migrate reads them.
const (
	legacyRunPK     = "RUN"
	legacyClusterPK = "CL#"
	legacyClusterSK = "C"
	legacyGSI1SK    = "gsi1sk"
	legacyGSI2SK    = "gsi2sk"
)

// migrationPK is the partition of the marker Migrate leaves in the table it
// copied into: pk MIG, sk <source table>.
const migrationPK = "MIG"

// MigrateClient is the part of *dynamodb.Client Migrate uses.
type MigrateClient interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// MigrateOptions tune Migrate. The zero value copies with 4 Scan segments
// and 16 writers.
type MigrateOptions struct {
	// Segments is the number of parallel Scan segments of the source
	// (DynamoDB API Reference, Scan: Segment and TotalSegments).
	Segments int
	// Writers is the number of items written at once.
	Writers int
	// DryRun reads the source and reports what would be written, and
	// writes nothing.
	DryRun bool
	// Again runs the copy over a target that a finished migration already
	// filled (its marker is there; a dry run reads it anyway). Only while the functions are still
	// paused: the counters are rewritten from the source's runs.
	Again bool
	// Log receives progress; nil logs nothing.
	Log *slog.Logger
}

// MigrateReport counts what Migrate read and wrote.
type MigrateReport struct {
	From   string `json:"from"`
	To     string `json:"to"`
	DryRun bool   `json:"dry_run"`
	// Scanned is every item read from the source.
	Scanned int `json:"scanned"`
	// Items read, by kind.
	Runs            int `json:"runs"`
	Events          int `json:"events"`
	Definitions     int `json:"definitions"` // current definitions (by id)
	Aliases         int `json:"aliases"`
	Revisions       int `json:"revisions"`
	IdempotencyKeys int `json:"idempotency_keys"`
	Schedules       int `json:"schedules"`
	OldCounters     int `json:"old_counters"` // replaced by Counters
	Other           int `json:"other"`        // copied as they are
	// Runs by status, and what the rebuilt counters hold.
	ByStatus map[flotilla.RunStatus]int `json:"by_status"`
	Counters []ClusterCounts            `json:"counters"`
	// Written items (runs and others); Unchanged ones were in the target
	// already, at the same or a later version (a re-run, or a crash's
	// half-finished copy).
	Written   int `json:"written"`
	Unchanged int `json:"unchanged"`
}

// ClusterCounts is one cluster's counter item as Migrate rebuilds it from
// the runs: slots held (PENDING and RUNNING runs), per owner, and each
// owner's QUEUED runs.
type ClusterCounts struct {
	Cluster string         `json:"cluster"`
	Used    int            `json:"used"`
	Held    map[string]int `json:"held"`
	Queued  map[string]int `json:"queued"`
}

// Migrate copies a table of the earlier layout (from) into a table of this
// layout (to), created empty by the stack or CreateTable: every run item
// moves from RUN/<id> to R#<shard>/<id> with this layout's index keys and
// every other attribute (its version and its life story among them) as it
// was; definitions, their revisions and aliases, idempotency keys and
// schedules keep their keys and are copied as they are; the old counter
// items are replaced by counter items rebuilt from the runs (slots used per
// cluster and per owner, w:<owner> queued counts). See doc.go, Migration.
//
// Every write is a conditional PutItem that only creates an item or
// replaces an older version of it, so running Migrate again, or after it
// stopped half-way, copies what is missing and changes nothing else; the
// counters, written last from a complete Scan, are the same every time.
// The source must not change while it runs (the functions are paused).
// When it finishes it writes a marker (pk MIG, sk <from>) in the target;
// a later run refuses unless o.Again is set.
func Migrate(ctx context.Context, db MigrateClient, from, to string, o MigrateOptions) (MigrateReport, error) {
	rep := MigrateReport{From: from, To: to, DryRun: o.DryRun, ByStatus: map[flotilla.RunStatus]int{}}
	switch {
	case from == "":
		return rep, flotilla.Invalid("from", "names no table")
	case to == "":
		return rep, flotilla.Invalid("to", "names no table")
	case from == to:
		return rep, flotilla.Invalid("to", "is the table migrated from: the copy goes into a new table")
	}
	if err := checkLayouts(ctx, db, from, to); err != nil {
		return rep, err
	}
	if !o.Again && !o.DryRun {
		marker, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(to), Key: key(migrationPK, from), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return rep, fmt.Errorf("migrate %s to %s: read marker: %w", from, to, translate(err))
		}
		if len(marker.Item) > 0 {
			return rep, fmt.Errorf("migrate %s to %s: finished before, at %s: the target may be in use, "+
				"and its counters would be overwritten (run again with --again only while the functions are paused): %w",
				from, to, timeVal(marker.Item, "at").Format(time.RFC3339), flotilla.ErrConflict)
		}
	}
	m := &migration{db: db, from: from, to: to, o: o, rep: &rep, counts: map[string]*ClusterCounts{}}
	if m.o.Segments <= 0 {
		m.o.Segments = 4
	}
	if m.o.Writers <= 0 {
		m.o.Writers = 16
	}
	if err := m.copy(ctx); err != nil {
		return rep, err
	}
	if o.DryRun {
		rep.Counters = m.counters()
		return rep, nil
	}
	// The counters go last, counted from the runs the target holds once
	// the copy is complete: a crash before this leaves none and the next
	// run writes them, and a run a new function wrote into the target
	// before the pause took hold is counted too.
	if err := m.recount(ctx); err != nil {
		return rep, err
	}
	rep.Counters = m.counters()
	for _, c := range rep.Counters {
		it := clusterKey(c.Cluster)
		it[usedSlots] = nv(int64(c.Used))
		for owner, n := range c.Held {
			it[ownerSlot+owner] = nv(int64(n))
		}
		for owner, n := range c.Queued {
			it[ownerQueued+owner] = nv(int64(n))
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(to), Item: it}); err != nil {
			return rep, fmt.Errorf("migrate %s to %s: counters of cluster %s: %w", from, to, c.Cluster, translate(err))
		}
	}
	marker := key(migrationPK, from)
	marker["at"] = nv(time.Now().UnixNano())
	marker["runs"] = nv(int64(rep.Runs))
	marker["items"] = nv(int64(rep.Scanned))
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(to), Item: marker}); err != nil {
		return rep, fmt.Errorf("migrate %s to %s: write marker: %w", from, to, translate(err))
	}
	return rep, nil
}

// checkLayouts refuses a source that is not of the earlier layout (its gsi1
// sorts by gsi1sk) and a target that is not of this one (it has gsi3), so a
// swapped --from and --to writes nothing.
func checkLayouts(ctx context.Context, db MigrateClient, from, to string) error {
	sortKey := func(table, index string) (string, bool, error) {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return "", false, fmt.Errorf("migrate: describe table %s: %w", table, translate(err))
		}
		for _, ix := range out.Table.GlobalSecondaryIndexes {
			if aws.ToString(ix.IndexName) != index {
				continue
			}
			for _, k := range ix.KeySchema {
				if k.KeyType == types.KeyTypeRange {
					return aws.ToString(k.AttributeName), true, nil
				}
			}
			return "", true, nil
		}
		return "", false, nil
	}
	sk, ok, err := sortKey(from, indexGSI1)
	if err != nil {
		return err
	}
	if !ok || sk != legacyGSI1SK {
		return flotilla.Invalid("from", "table %s is not of the earlier layout (its index gsi1 does not sort by gsi1sk)", from)
	}
	if _, ok, err = sortKey(to, indexGSI3); err != nil {
		return err
	}
	if !ok {
		return flotilla.Invalid("to", "table %s is not of this layout (it has no index gsi3)", to)
	}
	return nil
}

// migration is one run of Migrate.
type migration struct {
	db       MigrateClient
	from, to string
	o        MigrateOptions

	mu     sync.Mutex
	rep    *MigrateReport
	counts map[string]*ClusterCounts
}

// copy scans the source in o.Segments parallel segments and writes what it
// reads with o.Writers writers; the first error stops everything.
func (m *migration) copy(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan write, 4*m.o.Writers)
	var scanners, writers sync.WaitGroup
	for seg := range m.o.Segments {
		scanners.Add(1)
		go func() {
			defer scanners.Done()
			err := m.scan(ctx, m.from, int32(seg), func(it map[string]types.AttributeValue) error {
				w, err := m.classify(it)
				if err != nil || m.o.DryRun {
					return err
				}
				select {
				case work <- w:
				case <-ctx.Done():
				}
				return nil
			})
			if err != nil {
				cancel(err)
			}
		}()
	}
	for range m.o.Writers {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for w := range work {
				if ctx.Err() != nil {
					continue // drain, so the scanners never block
				}
				if err := m.put(ctx, w); err != nil {
					cancel(err)
				}
			}
		}()
	}
	scanners.Wait()
	close(work)
	writers.Wait()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("migrate %s to %s: %w", m.from, m.to, err)
	}
	return nil
}

// recount sets every cluster's counters from the runs of the target
// (items under R#<shard>), read by a Scan as parallel as the copy's.
func (m *migration) recount(ctx context.Context) error {
	for _, c := range m.counts {
		c.Used, c.Held, c.Queued = 0, map[string]int{}, map[string]int{}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for seg := range m.o.Segments {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := m.scan(ctx, m.to, int32(seg), func(it map[string]types.AttributeValue) error {
				if !strings.HasPrefix(str(it, attrPK), runPKPrefix) {
					return nil
				}
				m.mu.Lock()
				defer m.mu.Unlock()
				m.count(decodeRun(it))
				return nil
			})
			if err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("migrate %s to %s: count the runs copied: %w", m.from, m.to, err)
	}
	return nil
}

// scan reads one segment of a table, page by page, strongly consistent (a
// paused source's last writes are all seen), and hands each item to f.
func (m *migration) scan(ctx context.Context, table string, seg int32, f func(map[string]types.AttributeValue) error) error {
	in := &dynamodb.ScanInput{
		TableName:      aws.String(table),
		ConsistentRead: aws.Bool(true),
		Segment:        aws.Int32(seg),
		TotalSegments:  aws.Int32(int32(m.o.Segments)),
	}
	for pages := 0; ; pages++ {
		out, err := m.db.Scan(ctx, in)
		if err != nil {
			return fmt.Errorf("scan %s segment %d: %w", table, seg, translate(err))
		}
		for _, it := range out.Items {
			if err := f(it); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if m.o.Log != nil && pages%10 == 9 {
			m.o.Log.Info("migrate: scanning", "table", table, "segment", seg, "pages", pages+1)
		}
		// A page may be empty and still not the last (a Scan reads at most
		// 1 MB before filtering): only a missing LastEvaluatedKey ends it.
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// write is one item for the target and the condition that keeps a newer
// copy there: cond, with the values it names.
type write struct {
	item   map[string]types.AttributeValue
	cond   string
	names  map[string]string
	values map[string]types.AttributeValue
}

// classify counts a source item and turns it into the target's write.
func (m *migration) classify(it map[string]types.AttributeValue) (write, error) {
	pk, sk := str(it, attrPK), str(it, attrSK)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rep.Scanned++
	notExists := "attribute_not_exists(#pk)"
	names := map[string]string{"#pk": attrPK}
	newer := func(attr string) write {
		// Written when missing, or when the target holds an older version:
		// a re-run never undoes what the target has since.
		if _, ok := it[attr]; !ok {
			return write{item: it, cond: notExists, names: names}
		}
		return write{item: it, cond: notExists + " OR #ver < :ver",
			names:  map[string]string{"#pk": attrPK, "#ver": attr},
			values: map[string]types.AttributeValue{":ver": it[attr]}}
	}
	switch {
	case pk == legacyRunPK:
		r := decodeRun(it)
		if r.ID == "" || r.Cluster == "" {
			return write{}, fmt.Errorf("run item %s/%s: no id or cluster", pk, sk)
		}
		m.rep.Runs++
		m.rep.Events += len(strList(it, aEvents))
		m.rep.ByStatus[r.Status]++
		m.count(r)
		return newer(aVersion).with(migratedRun(it, r)), nil
	case strings.HasPrefix(pk, legacyClusterPK) && sk == legacyClusterSK:
		m.rep.OldCounters++
		m.cluster(strings.TrimPrefix(pk, legacyClusterPK))
		return write{}, nil
	case pk == defAliasPK:
		m.rep.Aliases++
		return newer(aRevision), nil
	case strings.HasPrefix(pk, defIDPrefix) && sk == defCurSK:
		m.rep.Definitions++
		return newer(aRevision), nil
	case strings.HasPrefix(pk, defIDPrefix) && strings.HasPrefix(sk, defRevSK):
		m.rep.Revisions++
		return write{item: it, cond: notExists, names: names}, nil // never changes
	case strings.HasPrefix(pk, idemPrefix) && sk == idemSK:
		m.rep.IdempotencyKeys++
		return write{item: it, cond: notExists, names: names}, nil // never changes
	case pk == schedulePK:
		m.rep.Schedules++
		w := newer(aVersion)
		if lf, ok := it[aSchLastFired]; ok && w.values != nil {
			// A fire records lf without a new version.
			w.cond += " OR (#ver = :ver AND (attribute_not_exists(#lf) OR #lf < :lf))"
			w.names["#lf"] = aSchLastFired
			w.values[":lf"] = lf
		}
		return w, nil
	}
	m.rep.Other++
	return write{item: it, cond: notExists, names: names}, nil
}

// with replaces the item of w.
func (w write) with(it map[string]types.AttributeValue) write {
	w.item = it
	return w
}

// migratedRun is the run's item in this layout: every attribute of the old
// item as it was (so the run reads back the same, its life story and
// version included), under this layout's keys and index keys.
func migratedRun(old map[string]types.AttributeValue, r flotilla.Run) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(old)+2)
	for k, v := range old {
		switch k {
		case attrGSI1PK, legacyGSI1SK, attrGSI2PK, legacyGSI2SK:
		default:
			out[k] = v
		}
	}
	next := runItem(r)
	for _, k := range []string{attrPK, attrSK, attrGSI1PK, attrGSI2PK, attrGSI3PK} {
		if v, ok := next[k]; ok {
			out[k] = v
		}
	}
	return out
}

// count adds a run to its cluster's counters.
func (m *migration) count(r flotilla.Run) {
	c := m.cluster(r.Cluster)
	switch {
	case r.Status.HoldsSlot():
		c.Used++
		c.Held[r.Owner]++
	case r.Status == flotilla.StatusQueued:
		c.Queued[r.Owner]++
	}
}

func (m *migration) cluster(name string) *ClusterCounts {
	c, ok := m.counts[name]
	if !ok {
		c = &ClusterCounts{Cluster: name, Held: map[string]int{}, Queued: map[string]int{}}
		m.counts[name] = c
	}
	return c
}

// counters are the rebuilt counter items, by cluster name.
func (m *migration) counters() []ClusterCounts {
	out := make([]ClusterCounts, 0, len(m.counts))
	for _, c := range m.counts {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster < out[j].Cluster })
	return out
}

// put writes one item; a failed condition means the target has it already.
func (m *migration) put(ctx context.Context, w write) error {
	if w.item == nil {
		return nil
	}
	_, err := m.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(m.to),
		Item:                      w.item,
		ConditionExpression:       aws.String(w.cond),
		ExpressionAttributeNames:  w.names,
		ExpressionAttributeValues: w.values,
	})
	var ccf *types.ConditionalCheckFailedException
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case err == nil:
		m.rep.Written++
	case errors.As(err, &ccf):
		m.rep.Unchanged++
	default:
		return fmt.Errorf("write %s/%s: %w", str(w.item, attrPK), str(w.item, attrSK), translate(err))
	}
	return nil
}
