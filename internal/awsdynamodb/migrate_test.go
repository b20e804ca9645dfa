package awsdynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

// legacyRun is one run of the seeded earlier-layout table and its life story.
type legacyRun struct {
	run    flotilla.Run
	events []flotilla.RunEvent
}

// live moves r through statuses as the earlier store recorded them: each
// step one event, the fields the step sets.
func live(r flotilla.Run, statuses ...flotilla.RunStatus) legacyRun {
	evs := []flotilla.RunEvent{{RunID: r.ID, Time: r.QueuedAt, Source: flotilla.SourceAPI, To: flotilla.StatusQueued, Attempt: 1, Reason: r.StatusReason}}
	if r.ScheduleID != "" {
		evs[0].Source = flotilla.SourceSchedule
	}
	from := flotilla.StatusQueued
	for i, st := range statuses {
		at := r.QueuedAt.Add(time.Duration(i+1) * time.Second)
		src, reason := flotilla.SourceEngine, ""
		r.Status = st
		switch st {
		case flotilla.StatusPending:
			src, reason = flotilla.SourceDispatcher, "task started"
			r.Attempts[0].TaskID = "arn:aws:ecs:us-east-1:123456789012:task/flotilla/" + r.ID
			r.Engine = "ecs"
		case flotilla.StatusRunning:
			reason = "container running"
			r.StartedAt, r.Attempts[0].StartedAt = &at, &at
		case flotilla.StatusSucceeded, flotilla.StatusFailed:
			code := 0
			r.ReasonCode = flotilla.ReasonSucceeded
			if st == flotilla.StatusFailed {
				code, r.ReasonCode = 3, flotilla.ReasonExitCode
			}
			reason = fmt.Sprintf("exited with code %d", code)
			r.ExitCode, r.Attempts[0].ExitCode = &code, &code
			r.FinishedAt, r.Attempts[0].FinishedAt = &at, &at
			cost := 0.0042
			r.CostUSD = &cost
		case flotilla.StatusStopped:
			src, reason = flotilla.SourceAPI, "stopped by ada"
			r.ReasonCode = flotilla.ReasonStopped
			r.StopRequest = &flotilla.StopRequest{By: "ada", Code: flotilla.ReasonStopped, Reason: "not needed", At: at}
			r.FinishedAt, r.Attempts[0].FinishedAt = &at, &at
		}
		r.StatusReason = reason
		evs = append(evs, flotilla.RunEvent{RunID: r.ID, Time: at, Source: src, From: from, To: st, Attempt: 1, Reason: reason})
		from = st
	}
	return legacyRun{run: r, events: evs}
}

// legacySeed is an earlier-layout table's content: runs in every state on
// two clusters, idempotency keys, definitions with revisions, schedules.
type legacySeed struct {
	runs  []legacyRun
	defs  [][]flotilla.Definition
	schs  []flotilla.Schedule
	items []map[string]types.AttributeValue
}

func newLegacySeed(t *testing.T) legacySeed {
	t.Helper()
	var s legacySeed
	etl := flotillatest.NewDefinition("etl")
	etl.Owner = "ada"
	etl2 := etl
	etl2.Revision, etl2.Image, etl2.UpdatedAt = 2, "alpine:3.20", etl.UpdatedAt.Add(time.Hour)
	train := flotillatest.NewDefinition("train")
	train.ID = "def_train"
	train.Owner, train.GPU = "bob", 1
	s.defs = [][]flotilla.Definition{{etl, etl2}, {train}}

	fired := flotillatest.Epoch.Add(-24 * time.Hour)
	nightly := flotillatest.NewSchedule("etl", "ada", 0)
	nightly.Version, nightly.LastFireTime = 3, &fired
	paused := flotillatest.NewSchedule("train", "bob", time.Minute)
	paused.Version, paused.Enabled = 1, false
	s.schs = []flotilla.Schedule{nightly, paused}

	n := 0
	run := func(cluster, owner, def string) flotilla.Run {
		n++
		r := flotillatest.NewRun(cluster, owner, time.Duration(n)*time.Minute)
		r.DefinitionID = def
		r.Tags = []string{"team-" + owner}
		if n%3 == 0 {
			r.Tags = append(r.Tags, "nightly")
		}
		return r
	}
	withKey := func(r flotilla.Run, k string) flotilla.Run {
		r.IdempotencyKey, r.RequestHash = k, "hash-"+k
		return r
	}
	scheduled := func(r flotilla.Run) flotilla.Run {
		r.ScheduleID = nightly.ID
		return r
	}
	s.runs = []legacyRun{
		live(run("default", "ada", etl.ID)),
		live(withKey(run("default", "ada", etl.ID), "q-2")),
		live(run("default", "bob", train.ID)),
		live(run("default", "ada", etl.ID), flotilla.StatusPending),
		live(run("default", "bob", train.ID), flotilla.StatusPending, flotilla.StatusRunning),
		live(run("gpu", "cy", train.ID), flotilla.StatusPending, flotilla.StatusRunning),
		live(withKey(scheduled(run("default", "ada", etl.ID)), "s-1"), flotilla.StatusPending, flotilla.StatusRunning, flotilla.StatusSucceeded),
		live(run("default", "bob", train.ID), flotilla.StatusPending, flotilla.StatusRunning, flotilla.StatusFailed),
		live(run("gpu", "cy", train.ID), flotilla.StatusStopped),
		live(run("gpu", "cy", ""), flotilla.StatusPending, flotilla.StatusRunning, flotilla.StatusSucceeded),
	}
	// A longer history, so the Scan takes many pages.
	for i := range 40 {
		owner := []string{"ada", "bob", "cy"}[i%3]
		end := flotilla.StatusSucceeded
		if i%10 == 0 {
			end = flotilla.StatusFailed
		}
		s.runs = append(s.runs, live(scheduled(run("default", owner, etl.ID)), flotilla.StatusPending, flotilla.StatusRunning, end))
	}

	for _, lr := range s.runs {
		s.items = append(s.items, awsdynamodb.LegacyRunItem(lr.run, lr.events))
		if lr.run.IdempotencyKey != "" {
			s.items = append(s.items, awsdynamodb.LegacyIdempotencyItem(lr.run.Owner, lr.run.IdempotencyKey, lr.run.ID))
		}
	}
	// The earlier counters: slots held, and owners whose counters fell to 0.
	s.items = append(s.items,
		awsdynamodb.LegacyCounterItem("default", map[string]int{"ada": 1, "bob": 1, "cy": 0}),
		awsdynamodb.LegacyCounterItem("gpu", map[string]int{"cy": 1}))
	for _, revs := range s.defs {
		s.items = append(s.items, awsdynamodb.LegacyDefinitionItems(revs)...)
	}
	for _, sch := range s.schs {
		s.items = append(s.items, awsdynamodb.LegacyScheduleItem(sch))
	}
	return s
}

// migrateBundle is a new-layout table (b) beside an earlier-layout table
// (old) seeded with seed, on one minidyn.
type migrateBundle struct {
	bundle
	old  string
	seed legacySeed
}

func setupMigrate(t *testing.T) migrateBundle {
	t.Helper()
	b := setup(t)
	m := migrateBundle{bundle: b, old: b.table + "-old", seed: newLegacySeed(t)}
	ctx := context.Background()
	if err := awsdynamodb.LegacyCreateTable(ctx, b.raw, m.old); err != nil {
		t.Fatalf("create earlier-layout table: %v", err)
	}
	for _, it := range m.seed.items {
		if _, err := b.raw.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(m.old), Item: it}); err != nil {
			t.Fatalf("seed %v: %v", it["pk"], err)
		}
	}
	return m
}

// segmentedScans stands in for DynamoDB's parallel Scan, which minidyn
// v0.8.2 does not implement (its Scan ignores Segment and TotalSegments,
// server/client.go, and would hand every segment every item): each segment
// gets the items whose key hashes to it. Pages hold at most pageSize items
// before that filter, so a segment sees empty pages that are not its last,
// as DynamoDB's do. failAfter > 0 makes every PutItem past that many fail,
// as a crash would stop the copy.
type segmentedScans struct {
	*dynamodb.Client
	pageSize  int32
	failAfter int64
	puts      atomic.Int64
}

var errCrash = errors.New("injected crash")

func (c *segmentedScans) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	cp := *in
	cp.Segment, cp.TotalSegments, cp.Limit = nil, nil, aws.Int32(c.pageSize)
	out, err := c.Client.Scan(ctx, &cp, opts...)
	if err != nil || in.TotalSegments == nil {
		return out, err
	}
	kept := out.Items[:0]
	for _, it := range out.Items {
		h := fnv.New32a()
		fmt.Fprintf(h, "%v|%v", it["pk"], it["sk"])
		if int32(h.Sum32()%uint32(*in.TotalSegments)) == *in.Segment {
			kept = append(kept, it)
		}
	}
	out.Items = kept
	return out, nil
}

func (c *segmentedScans) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if n := c.puts.Add(1); c.failAfter > 0 && n > c.failAfter {
		return nil, errCrash
	}
	return c.Client.PutItem(ctx, in, opts...)
}

// tableItems is every item of a table, marker times left out, by key.
func tableItems(t *testing.T, db *dynamodb.Client, table string) map[string]map[string]types.AttributeValue {
	t.Helper()
	out := map[string]map[string]types.AttributeValue{}
	in := &dynamodb.ScanInput{TableName: aws.String(table)}
	for {
		page, err := db.Scan(context.Background(), in)
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for _, it := range page.Items {
			k := fmt.Sprintf("%s/%s", it["pk"].(*types.AttributeValueMemberS).Value, it["sk"].(*types.AttributeValueMemberS).Value)
			if it["pk"].(*types.AttributeValueMemberS).Value == "MIG" {
				delete(it, "at")
			}
			out[k] = it
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

func keysOf(m map[string]map[string]types.AttributeValue) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestMigrateFromEarlierLayout seeds a table as the earlier store left it,
// migrates it into a new-layout table, and reads everything back through
// the current Store: runs and their life stories, history filters,
// counters, queue heads, an admission and an end, a launch with an old
// idempotency key, definitions and schedules. Then a second migration
// changes nothing.
func TestMigrateFromEarlierLayout(t *testing.T) {
	t.Parallel()
	m := setupMigrate(t)
	ctx := context.Background()
	db := &segmentedScans{Client: m.raw, pageSize: 7}

	// The dry run counts and writes nothing.
	dry, err := awsdynamodb.Migrate(ctx, db, m.old, m.table, awsdynamodb.MigrateOptions{DryRun: true, Segments: 3, Writers: 4})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if n := len(tableItems(t, m.raw, m.table)); n != 0 || dry.Written != 0 {
		t.Fatalf("the dry run wrote %d items (report: %d)", n, dry.Written)
	}
	keys := 0
	for _, lr := range m.seed.runs {
		if lr.run.IdempotencyKey != "" {
			keys++
		}
	}
	want := awsdynamodb.MigrateReport{From: m.old, To: m.table, DryRun: true, Scanned: len(m.seed.items),
		Runs: len(m.seed.runs), Definitions: 2, Aliases: 2, Revisions: 3, IdempotencyKeys: keys, Schedules: 2, OldCounters: 2}
	for _, lr := range m.seed.runs {
		want.Events += len(lr.events)
	}
	got := dry
	got.ByStatus, got.Counters = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("dry run report\n got %+v\nwant %+v", got, want)
	}
	wantCounters := []awsdynamodb.ClusterCounts{
		{Cluster: "default", Used: 2, Held: map[string]int{"ada": 1, "bob": 1}, Queued: map[string]int{"ada": 2, "bob": 1}},
		{Cluster: "gpu", Used: 1, Held: map[string]int{"cy": 1}, Queued: map[string]int{}},
	}
	if !reflect.DeepEqual(dry.Counters, wantCounters) {
		t.Fatalf("dry run counters\n got %+v\nwant %+v", dry.Counters, wantCounters)
	}

	rep, err := awsdynamodb.Migrate(ctx, db, m.old, m.table, awsdynamodb.MigrateOptions{Segments: 3, Writers: 4})
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	copied := len(m.seed.items) - 2 // the old counter items are rebuilt, not copied
	if rep.Written != copied || rep.Unchanged != 0 {
		t.Fatalf("Migrate wrote %d and left %d unchanged, want %d and 0", rep.Written, rep.Unchanged, copied)
	}
	after := tableItems(t, m.raw, m.table)

	// Again, over the finished copy: refused without --again, and with it
	// nothing changes.
	if _, err := awsdynamodb.Migrate(ctx, db, m.old, m.table, awsdynamodb.MigrateOptions{}); !errors.Is(err, flotilla.ErrConflict) {
		t.Fatalf("a second Migrate without Again: %v, want ErrConflict", err)
	}
	again, err := awsdynamodb.Migrate(ctx, db, m.old, m.table, awsdynamodb.MigrateOptions{Again: true, Segments: 2})
	if err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if again.Written != 0 || again.Unchanged != copied {
		t.Fatalf("Migrate again wrote %d and left %d unchanged, want 0 and %d", again.Written, again.Unchanged, copied)
	}
	if second := tableItems(t, m.raw, m.table); !reflect.DeepEqual(second, after) {
		t.Fatalf("Migrate again changed the table: %d items, then %d", len(after), len(second))
	}

	checkMigrated(t, m)
}

// checkMigrated reads the migrated table through the current Store.
func checkMigrated(t *testing.T, m migrateBundle) {
	t.Helper()
	ctx := context.Background()
	s := m.store
	for _, lr := range m.seed.runs {
		got, err := s.GetRun(ctx, lr.run.ID)
		if err != nil {
			t.Fatalf("GetRun %s: %v", lr.run.ID, err)
		}
		if wantRun := awsdynamodb.LegacyGetRun(awsdynamodb.LegacyRunItem(lr.run, lr.events)); !reflect.DeepEqual(got, wantRun) {
			t.Fatalf("run %s reads\n %+v\nwas\n %+v", lr.run.ID, got, wantRun)
		}
		if got.Status != lr.run.Status || got.Owner != lr.run.Owner || !reflect.DeepEqual(got.ExitCode, lr.run.ExitCode) ||
			got.IdempotencyKey != lr.run.IdempotencyKey || !got.QueuedAt.Equal(lr.run.QueuedAt) || len(got.Attempts) != 1 {
			t.Fatalf("run %s: %+v, seeded %+v", lr.run.ID, got, lr.run)
		}
		evs, err := s.ListRunEvents(ctx, lr.run.ID)
		if err != nil {
			t.Fatalf("ListRunEvents %s: %v", lr.run.ID, err)
		}
		if !reflect.DeepEqual(evs, lr.events) {
			t.Fatalf("run %s's events\n %+v\nwere\n %+v", lr.run.ID, evs, lr.events)
		}
	}

	// Every history filter finds exactly the seeded runs it should.
	match := func(f flotilla.RunFilter) []string {
		var ids []string
		for _, lr := range m.seed.runs {
			r := lr.run
			if (len(f.Statuses) == 0 || slices.Contains(f.Statuses, r.Status)) && (f.Cluster == "" || r.Cluster == f.Cluster) &&
				(f.Owner == "" || r.Owner == f.Owner) && (f.DefinitionID == "" || r.DefinitionID == f.DefinitionID) &&
				(f.Tag == "" || slices.Contains(r.Tags, f.Tag)) && (f.ScheduleID == "" || r.ScheduleID == f.ScheduleID) {
				ids = append(ids, r.ID)
			}
		}
		slices.Reverse(ids) // newest first
		return ids
	}
	def := m.seed.defs[0][0].ID
	filters := []flotilla.RunFilter{{}}
	for _, st := range flotilla.AllStatuses {
		filters = append(filters, flotilla.RunFilter{Statuses: []flotilla.RunStatus{st}})
	}
	filters = append(filters,
		flotilla.RunFilter{Statuses: []flotilla.RunStatus{flotilla.StatusQueued, flotilla.StatusPending, flotilla.StatusRunning}},
		flotilla.RunFilter{Statuses: []flotilla.RunStatus{flotilla.StatusPending, flotilla.StatusRunning}, Cluster: "default"},
		flotilla.RunFilter{Cluster: "gpu"}, flotilla.RunFilter{Owner: "bob"}, flotilla.RunFilter{DefinitionID: def},
		flotilla.RunFilter{DefinitionID: def, Statuses: []flotilla.RunStatus{flotilla.StatusFailed}},
		flotilla.RunFilter{Tag: "nightly"}, flotilla.RunFilter{ScheduleID: m.seed.schs[0].ID},
		flotilla.RunFilter{Owner: "cy", Statuses: []flotilla.RunStatus{flotilla.StatusStopped}})
	for _, f := range filters {
		var ids []string
		f.Limit = 10
		for pages := 0; ; pages++ {
			page, err := s.ListRuns(ctx, f)
			if err != nil {
				t.Fatalf("ListRuns %+v: %v", f, err)
			}
			for _, r := range page.Items {
				ids = append(ids, r.ID)
			}
			if page.NextToken == "" || pages > 50 {
				break
			}
			f.NextToken = page.NextToken
		}
		f.NextToken = ""
		if want := match(f); !slices.Equal(ids, want) {
			t.Fatalf("ListRuns %+v: %d runs %v, want %d %v", f, len(ids), ids, len(want), want)
		}
	}

	// The counters are the runs'.
	usage := func(cluster string) flotilla.Usage {
		u, err := s.ClusterUsage(ctx, cluster)
		if err != nil {
			t.Fatalf("ClusterUsage %s: %v", cluster, err)
		}
		return u
	}
	if u := usage("default"); u.Queued != 3 || u.Running != 2 || !reflect.DeepEqual(u.RunningOwner, map[string]int{"ada": 1, "bob": 1}) {
		t.Fatalf("default's usage: %+v", u)
	}
	if u := usage("gpu"); u.Queued != 0 || u.Running != 1 || !reflect.DeepEqual(u.RunningOwner, map[string]int{"cy": 1}) {
		t.Fatalf("gpu's usage: %+v", u)
	}
	q1, q2, q3 := m.seed.runs[0].run, m.seed.runs[1].run, m.seed.runs[2].run
	heads, err := s.OldestQueuedPerOwner(ctx, "default", 10)
	if err != nil {
		t.Fatalf("OldestQueuedPerOwner: %v", err)
	}
	if ids := []string{}; len(heads) != 2 || !slices.Contains([]string{heads[0].ID, heads[1].ID}, q1.ID) || !slices.Contains([]string{heads[0].ID, heads[1].ID}, q3.ID) {
		for _, h := range heads {
			ids = append(ids, h.ID)
		}
		t.Fatalf("queue heads %v, want %s and %s", ids, q1.ID, q3.ID)
	}
	if n, err := s.QueuedAhead(ctx, q2); err != nil || n != 1 {
		t.Fatalf("QueuedAhead of the second queued run: %d, %v; want 1", n, err)
	}

	// An admission takes the last slot, the next finds none, an end frees one.
	admit := func(r flotilla.Run) error {
		_, err := s.TransitionRun(ctx, flotilla.Transition{RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, Attempt: 1,
			To: flotilla.StatusPending, At: flotillatest.Epoch.Add(time.Hour), Source: flotilla.SourceDispatcher, Reason: "admitted", MaxRunning: 3})
		return err
	}
	if err := admit(q1); err != nil {
		t.Fatalf("admit %s: %v", q1.ID, err)
	}
	if err := admit(q3); !errors.Is(err, flotilla.ErrNoCapacity) {
		t.Fatalf("admit into a full cluster: %v, want ErrNoCapacity", err)
	}
	running := m.seed.runs[4].run
	code := 0
	if _, err := s.TransitionRun(ctx, flotilla.Transition{RunID: running.ID, From: []flotilla.RunStatus{flotilla.StatusRunning}, Attempt: 1,
		To: flotilla.StatusSucceeded, At: flotillatest.Epoch.Add(time.Hour), Source: flotilla.SourceEngine, Reason: "exited", ExitCode: &code,
		ReasonCode: flotilla.ReasonSucceeded}); err != nil {
		t.Fatalf("end %s: %v", running.ID, err)
	}
	if u := usage("default"); u.Queued != 2 || u.Running != 2 || !reflect.DeepEqual(u.RunningOwner, map[string]int{"ada": 2}) {
		t.Fatalf("default's usage after an admission and an end: %+v", u)
	}
	if err := admit(q3); err != nil {
		t.Fatalf("admit %s into the freed slot: %v", q3.ID, err)
	}
	evs, _ := s.ListRunEvents(ctx, running.ID)
	if len(evs) != 4 || evs[3].From != flotilla.StatusRunning || evs[3].To != flotilla.StatusSucceeded {
		t.Fatalf("the ended run's life story: %+v", evs)
	}

	// A launch with an old idempotency key returns the old run.
	relaunch := flotillatest.NewRun("default", "ada", 3*time.Hour)
	relaunch.IdempotencyKey, relaunch.RequestHash = q2.IdempotencyKey, q2.RequestHash
	prev, created, err := s.CreateRun(ctx, relaunch)
	if err != nil || created || prev.ID != q2.ID {
		t.Fatalf("launch with key %q: run %s, created %v, %v; want %s", q2.IdempotencyKey, prev.ID, created, err, q2.ID)
	}

	// Definitions and schedules.
	for _, revs := range m.seed.defs {
		cur := revs[len(revs)-1]
		for _, ref := range []string{cur.ID, cur.Alias} {
			d, err := s.GetDefinition(ctx, ref)
			if err != nil || d.Revision != cur.Revision || d.Image != cur.Image || d.Owner != cur.Owner {
				t.Fatalf("GetDefinition %s: %+v, %v; want revision %d", ref, d, err, cur.Revision)
			}
		}
		for _, rev := range revs {
			d, err := s.GetDefinitionRevision(ctx, rev.ID, rev.Revision)
			if err != nil || d.Image != rev.Image || !d.UpdatedAt.Equal(rev.UpdatedAt) {
				t.Fatalf("GetDefinitionRevision %s %d: %+v, %v", rev.ID, rev.Revision, d, err)
			}
		}
	}
	defs, err := s.ListDefinitions(ctx, flotilla.DefinitionFilter{})
	if err != nil || len(defs.Items) != 2 {
		t.Fatalf("ListDefinitions: %d, %v", len(defs.Items), err)
	}
	schs := awsdynamodb.NewScheduleStore(m.db, m.table)
	for _, want := range m.seed.schs {
		got, err := schs.GetSchedule(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetSchedule %s: %v", want.ID, err)
		}
		if got.Version != want.Version || got.Enabled != want.Enabled || got.Expression != want.Expression ||
			!reflect.DeepEqual(got.LastFireTime, want.LastFireTime) || !reflect.DeepEqual(got.Env, want.Env) {
			t.Fatalf("schedule %s: %+v, was %+v", want.ID, got, want)
		}
	}
	next := flotillatest.Epoch
	if err := schs.RecordFire(ctx, m.seed.schs[0].ID, next); err != nil {
		t.Fatalf("RecordFire on a migrated schedule: %v", err)
	}
	upd := m.seed.schs[1]
	upd.Version, upd.Enabled = upd.Version+1, true
	if got, err := schs.UpdateSchedule(ctx, upd); err != nil || got.Version != 2 || !got.Enabled {
		t.Fatalf("UpdateSchedule on a migrated schedule: %+v, %v", got, err)
	}
	// A new revision of a migrated definition, under its alias.
	rev := m.seed.defs[0][1]
	rev.Revision, rev.Command = 3, "echo three"
	if _, err := s.UpdateDefinition(ctx, rev); err != nil {
		t.Fatalf("UpdateDefinition on a migrated definition: %v", err)
	}
	if d, err := s.GetDefinition(ctx, rev.Alias); err != nil || d.Revision != 3 || d.Command != "echo three" {
		t.Fatalf("the migrated definition after an update: %+v, %v", d, err)
	}
	if d, err := s.GetDefinitionRevision(ctx, rev.ID, 2); err != nil || d.Image != m.seed.defs[0][1].Image {
		t.Fatalf("revision 2 after an update: %+v, %v", d, err)
	}
}

// TestMigrateAfterACrash stops the copy half-way (every write past the
// 20th fails), then runs it again: the table ends as one clean migration
// leaves it, with nothing lost or doubled.
func TestMigrateAfterACrash(t *testing.T) {
	t.Parallel()
	m := setupMigrate(t)
	ctx := context.Background()

	// The same source copied without a crash, into a table of its own.
	clean := m.table + "-clean"
	if err := awsdynamodb.CreateTable(ctx, m.raw, clean); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	if _, err := awsdynamodb.Migrate(ctx, &segmentedScans{Client: m.raw, pageSize: 5}, m.old, clean, awsdynamodb.MigrateOptions{Segments: 2}); err != nil {
		t.Fatalf("clean Migrate: %v", err)
	}
	want := tableItems(t, m.raw, clean)

	crashing := &segmentedScans{Client: m.raw, pageSize: 5, failAfter: 20}
	if _, err := awsdynamodb.Migrate(ctx, crashing, m.old, m.table, awsdynamodb.MigrateOptions{Segments: 4, Writers: 3}); !errors.Is(err, errCrash) {
		t.Fatalf("the crashing Migrate: %v, want the injected crash", err)
	}
	half := tableItems(t, m.raw, m.table)
	if len(half) == 0 || len(half) >= len(want) {
		t.Fatalf("the crash left %d items of %d: not half-way", len(half), len(want))
	}
	for k := range half {
		if k == "MIG/"+m.old || k[:3] == "CL/" {
			t.Fatalf("the crashed copy wrote %s, which only a finished one writes", k)
		}
	}
	rep, err := awsdynamodb.Migrate(ctx, &segmentedScans{Client: m.raw, pageSize: 5}, m.old, m.table, awsdynamodb.MigrateOptions{Segments: 4, Writers: 3})
	if err != nil {
		t.Fatalf("Migrate after the crash: %v", err)
	}
	// A write in flight when the crash cancelled the copy may still land
	// after it returned (the server applied it, the client gave up), so
	// the second run may find more than the snapshot showed, never fewer;
	// together the two runs put every item once.
	copied := len(m.seed.items) - 2
	if rep.Unchanged < len(half) || rep.Unchanged > 20 || rep.Written+rep.Unchanged != copied {
		t.Fatalf("the second run wrote %d and found %d already copied; the crash left %d (at most 20 writes), of %d",
			rep.Written, rep.Unchanged, len(half), copied)
	}
	if got := tableItems(t, m.raw, m.table); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the crash and a re-run: %d items, after a clean migration: %d\n%v\n%v", len(got), len(want), keysOf(got), keysOf(want))
	}
	checkMigrated(t, m)
}

// TestMigrateRefusesWrongTables: the same table, a source that is not of
// the earlier layout and a target that is not of this one are refused,
// with nothing written.
func TestMigrateRefusesWrongTables(t *testing.T) {
	t.Parallel()
	m := setupMigrate(t)
	ctx := context.Background()
	for _, c := range []struct{ from, to, field string }{
		{m.old, m.old, "to"},
		{m.table, m.old, "from"}, // swapped
		{m.old, "", "to"},
		{"", m.table, "from"},
	} {
		_, err := awsdynamodb.Migrate(ctx, m.raw, c.from, c.to, awsdynamodb.MigrateOptions{})
		var ve *flotilla.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, flotilla.ErrInvalid) || ve.Error() == "" {
			t.Fatalf("Migrate %q to %q: %v, want a validation error on %s", c.from, c.to, err, c.field)
		}
		if !slices.ContainsFunc(ve.Fields, func(f flotilla.FieldError) bool { return f.Field == c.field }) {
			t.Fatalf("Migrate %q to %q: %v, want field %s", c.from, c.to, err, c.field)
		}
	}
	if n := len(tableItems(t, m.raw, m.table)); n != 0 {
		t.Fatalf("refused migrations wrote %d items", n)
	}
}

// TestMigrateCountsRunsAlreadyInTheTarget: a run launched into the new
// table before the pause took hold (a function on the new code, between
// its update and its throttle) is kept, and the rebuilt counters count it
// with the copied runs.
func TestMigrateCountsRunsAlreadyInTheTarget(t *testing.T) {
	t.Parallel()
	m := setupMigrate(t)
	ctx := context.Background()
	early := flotillatest.NewRun("default", "ada", 5*time.Hour)
	if _, _, err := m.store.CreateRun(ctx, early); err != nil {
		t.Fatalf("CreateRun in the new table: %v", err)
	}
	if _, err := awsdynamodb.Migrate(ctx, &segmentedScans{Client: m.raw, pageSize: 9}, m.old, m.table, awsdynamodb.MigrateOptions{Segments: 2}); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	u, err := m.store.ClusterUsage(ctx, "default")
	if err != nil || u.Queued != 4 || u.Running != 2 {
		t.Fatalf("default's usage: %+v, %v; want 4 queued (3 copied, 1 launched early) and 2 running", u, err)
	}
	if got, err := m.store.GetRun(ctx, early.ID); err != nil || got.Status != flotilla.StatusQueued {
		t.Fatalf("the run launched early: %+v, %v", got, err)
	}
	heads, err := m.store.OldestQueuedPerOwner(ctx, "default", 10)
	if err != nil || len(heads) != 2 {
		t.Fatalf("queue heads: %d, %v", len(heads), err)
	}
}
