// Package awsdynamodb is the flotilla.Store on one DynamoDB table, billed on
// demand. Its design follows two rules: every access pattern reads in
// proportion to its answer, never to the history (a team with a year of
// runs pays for a page, a sweep or a dispatch what a new team pays), and
// a run's life is written in as few units as that and the guarantees
// allow, because DynamoDB writes are about half of the control plane's
// cost (reference/aws-and-peers.md §A.8).
//
// # Table
//
// Partition key pk (S), sort key sk (S), and four global secondary
// indexes, gsi1 (state), gsi2 (definition), gsi3 (owner) and gsi4 (parent,
// only runs launched from another). Each has its own partition key
// (gsi1pk, gsi2pk, gsi3pk, gsi4pk) and sorts by the table's sk,
// the run id, so the id is stored once. Each projects, besides the keys,
// the run's attributes that never change after create (indexProjection:
// ow owner, cl cluster, df definition, sc schedule, tg tags, qa queued_at),
// so an index entry is written only when the run enters, moves within or
// leaves the index, never on a status change, and every history filter but
// status can be applied to index entries (~150 bytes) before any run item
// (~800 bytes) is read.
//
//	item                   pk                    sk           gsi1pk                            gsi2pk / gsi3pk
//	run                    R#<shard>             <run id>     QUEUED: Q#<n>:<cluster>#<owner>   D#<definition id>#<shard> /
//	                                                          PENDING, RUNNING: A#<cluster>     O#<owner>#<shard>
//	                                                          FAILED, STOPPED: E#<status>#<shard>
//	                                                          WAITING: W#<cluster>              gsi4pk, with a parent:
//	                                                          SUCCEEDED: none                   P#<parent>#a (active),
//	                                                                                            P#<parent>#e (ended)
//	idempotency key        I#<n>:<owner>#<key>   I            -                                 -
//	cluster counters       CL                    <cluster>    -                                 -
//	definition by alias    DEF                   <alias>      -                                 -
//	definition by id       D#<id>                D            -                                 -
//	definition revision    D#<id>                V#<000042>   -                                 -
//	run-waits-for link     AF#<run waited for>   <run id>     -                                 -
//	children's summary     C#<parent>            K<chunk>, N  -                                 -
//	array elements         AE#<parent>#<00042>   E            -                                 -
//
// The last three are described under Pipelines.
//
// <n> is the length of the owner (idempotency key) or of the cluster
// (queue), so no pair can collide with another. Run ids are "run_" + a
// ULID made at queue time, so sk order is queue-time order (to the
// millisecond; within one, the id's random part decides).
//
// <shard> is a hash of the run id modulo 8 (items.go shardOf). A partition
// takes at most 1,000 write units and 3,000 read units a second (DynamoDB
// Developer Guide, "Best practices for designing and using partition keys
// effectively"; "Using write sharding to distribute workloads evenly"), so
// every place all runs or a growing share of them are written is spread
// over 8: the runs themselves (R#), the FAILED and STOPPED history (E#),
// a definition's (D#) and an owner's (O#) history. Reads of those merge the
// 8 partitions newest first. A queue partition is one owner's queue on one
// cluster, and the active partition holds a cluster's admitted runs, which
// ECS starts at most 20 a second per account (RunTask's rate): neither is
// sharded. Changing the number of shards moves every run: see Migration.
//
// The counter item of a cluster holds "used" (slots held), "o:<owner>"
// (slots an owner holds) and "w:<owner>" (runs an owner has QUEUED). Every
// write that moves a run into or out of QUEUED or a slot updates it in the
// same TransactWriteItems as the run, so the counts are exact. ClusterUsage
// removes owners' counters that fell to zero, once 8 owners have some, in
// one conditional write, to keep the item small: each owner with runs
// waiting or going adds ~30 bytes, and past 1 KB every write of the item
// costs a unit more. The item is written by every launch, admission and
// end on its cluster: a single item takes at most 1,000 write units a
// second, and a transactional write of it costs 2, so one cluster takes
// about 500 launches, admissions and ends a second together (ECS itself
// starts at most 20 tasks a second); a deployment spreads over clusters.
// All counter items share the partition CL, so one Query lists the
// clusters; DynamoDB isolates busy items of one partition onto partitions
// of their own (Developer Guide, "Burst and adaptive capacity"), so each
// item's own limit is what binds.
//
// Two transactions on one item at the same moment cancel one of them with
// TransactionConflict (DynamoDB Developer Guide, "Transaction conflict
// handling in DynamoDB"): the store retries with a jittered backoff, 8
// times, and a launch that still loses answers ErrThrottled (429, nothing
// written). minidyn serialises requests, so no real conflict happens in
// the tests; TestLaunchRetriesAConflictingCounter injects them.
//
// # Items and sizes
//
// Attribute names are one to three letters (st status, cl cluster, ow owner,
// qa queued_at, as attempts, ev events, …; see items.go), times are Unix
// nanoseconds, and empty values are left out, because a write is billed on
// the size of the whole item, 1 unit per KB. The life story is kept in the
// run item itself, as a list of compact strings, "<ns base 36>|<source>|
// <from>|<to>|<attempt>|<reason>" with one-letter codes for sources and
// statuses (about 35 bytes plus the reason), appended by the same UpdateItem
// that changes the status, instead of an item per event. A realistic run
// (an ECR image, a 70-byte command, four env variables, two tags, an
// idempotency key, a Fargate task ARN) measures 602 B when queued and 821 B
// when it has ended with four events (TestRunLifecycleCost), the index
// keys included. A run with a large env or command, or many retries,
// crosses 1 KB, and then each write of it costs 2 units.
//
// # Access patterns
//
// Read units are DynamoDB's: a GetItem or each item of a BatchGetItem costs
// its size rounded up to 4 KB, a Query the summed size of what it read
// rounded up to 4 KB; eventually consistent reads cost half, and every read
// of a global secondary index is eventually consistent (DynamoDB Developer
// Guide, "DynamoDB read consistency": "All reads from GSIs and streams are
// eventually consistent"; "Read and write operations"). Measured figures
// are TestReadsFlatAsHistoryGrows's (below).
//
//	CreateRun              TransactWriteItems {Put run (attribute_not_exists), Update counter
//	                       ADD w:<owner> 1}; with an idempotency key also {Put key
//	                       (attribute_not_exists)} first. A failed key condition reads the
//	                       key item and returns its run (created=false); a key whose run has
//	                       expired (TTL) is released and claimed again.
//	GetRun                 GetItem R#<shard>/<id>, strongly consistent: 1 unit
//	TransitionRun          GetItem, then Transition.Check and Apply, then one conditional
//	                       write on the version read: UpdateItem SET of the changed attributes
//	                       (the gsi1 key among them when the run moves between queue, active
//	                       and history), the version and list_append of the event, REMOVE of
//	                       vanished ones (gsi1pk when a run SUCCEEDS). When the slots or the
//	                       queue change (admission, an end of a slot holder, a stop or queue
//	                       timeout of a QUEUED run, a new attempt) the same update and the
//	                       counter item's ADDs form one TransactWriteItems, the counter
//	                       conditioned on max_running and the owner's cap when a slot is
//	                       taken. A transition that changes nothing and records no event
//	                       writes nothing. Cancellation reasons say which failed: the run's
//	                       (re-read, re-check: ErrConflict when it moved) or the counter's
//	                       (ErrNoCapacity, as a CapacityError naming the wait reason).
//	ListRunEvents          GetItem with ProjectionExpression ev
//	AppendRunEvent         UpdateItem list_append to ev, condition attribute_exists: 1 unit
//	                       (a notification's outcome; no index key changes)
//	ClusterUsage           GetItem CL/<cluster>, strongly consistent: 1 unit, whatever the
//	                       queue's length (it was a Query COUNT of the whole queue)
//	OldestQueuedPerOwner   GetItem counter; a Query gsi1 Q#<cluster>#<owner> Limit 1 per
//	                       owner with w:<owner> > 0 (16 in parallel); the oldest limit heads
//	                       read by BatchGetItem (eventually consistent; a head admitted a
//	                       moment ago then fails its admission condition, as a duplicate
//	                       message does). Grows with the owners waiting, not the queue:
//	                       ~1 unit per owner (measured 103 units for 100 owners, with 100 or
//	                       10,000 runs queued; it walked the whole queue before).
//	ListQueued             GetItem counter; the owners' queue partitions merged oldest first,
//	                       a chunk at a time; the runs by BatchGetItem, consistently: about
//	                       limit entries and runs, plus a Query per owner waiting
//	QueuedAhead            GetItem counter; per owner waiting, Query gsi1 Select COUNT,
//	                       sk < the run's id. A COUNT is billed by the entries it reads, so
//	                       this grows with the answer (~27 entries a unit), not with history
//	ListRuns               see History below
//	CreateDefinition       TransactWriteItems {Put alias (not exists), Put by-id, Put V#1}
//	GetDefinition          GetItem by id (D#<id>/D) or by alias (DEF/<alias>)
//	GetDefinitionRevision  GetDefinition, then GetItem D#<id>/V#<n>
//	UpdateDefinition       TransactWriteItems {Put by-id (revision = n-1), Put V#n,
//	                       Put alias, or Delete old alias + Put new alias (not exists)}
//	DeleteDefinition       TransactWriteItems {Delete by-id, Delete alias}, then
//	                       BatchWriteItem deletes of the revisions; runs stay
//	ListDefinitions        Query pk DEF (alias order), filters after the read
//	CreateRuns, ChildSummary, PutArrayElements, ArrayElements: see Pipelines below
//
// # History
//
// ListRuns picks the partitions that hold every run the filter can match
// and as few others as it can (history.go runSource):
//
//	after (the runs waiting for one)    the table's links AF#<run> (strongly consistent), then
//	                                    the runs by BatchGetItem, strongly consistent: a run
//	                                    made a moment ago must not be missed when what it waits
//	                                    for ends
//	else a parent (its children)        gsi4 P#<parent>#a when every status asked for is
//	                                    active (the cascade stop reads no ended child),
//	                                    P#<parent>#e when every one has ended, else both
//	else statuses, none SUCCEEDED       gsi1: E#<status>#0..7 for FAILED and STOPPED;
//	                                    A#<cluster> for PENDING and RUNNING; Q#<cluster>#<owner>
//	                                    for QUEUED, for each owner the cluster's counter item
//	                                    names; W#<cluster> for WAITING (the clusters: the
//	                                    filter's, or a Query of CL). The sweep's WAITING runs
//	                                    of a cluster read only those.
//	                                    The sweep's "active runs of a cluster" reads only that
//	                                    cluster's active runs; the UI's Active list (QUEUED,
//	                                    PENDING, RUNNING) reads no ended run
//	else with a definition              gsi2 D#<definition>#0..7
//	else with an owner                  gsi3 O#<owner>#0..7
//	else                                the table, R#0..7
//
// It merges those partitions newest first (sk descending), each read a
// chunk at a time (its share of the page, doubling up to 100 while it
// runs dry), bounded by since/until (as run-id bounds with an hour's
// slack) and the token. It filters the entries on the fixed attributes,
// reads the survivors by BatchGetItem (an index) and filters the runs on
// status, which also drops entries the lagging index still shows in their
// old place. A page stops when it is full, when the range ends, or when it
// has spent its read budget: 30 units for a page of 50 (pageBudget; more
// for larger pages), counted as DynamoDB bills them, plus its setup reads
// and one Query per partition it merges (a page must ask every partition
// once: 4 units for 8 shards, 50 for 100 owners' queues). Then it returns what
// it found with a next_token: the id of the last run it examined, so the
// next page goes on exactly after it in every partition (the merge returns
// entries in order, so every entry before it has been seen). A page is
// never a timeout and never a short page that claims to be the end: a
// short page with a token says "more may follow". Filters the source
// cannot select by key (cluster alone, SUCCEEDED, tag, schedule, QUEUED in
// history order) are such bounded reads: a page costs at most ~30 units
// however large the history, and a rare match takes more pages (tag on 3
// of 2,000 runs: 13 pages, TestRareFilterPagesStayWithinBudget).
//
// Measured read units of one request on minidyn (computed from item sizes
// by the rules above; FLOTILLA_DDB_SCALE=10000,30000,100000 go test -run
// TestReadsFlatAsHistoryGrows -v ./internal/awsdynamodb/ — `make bench-ddb`
// stops at 60,000 to keep `make bench` short, and its figures are in
// bench/results.json), at 10,000, 30,000 and 100,000 ended runs (1 % FAILED; 10
// definitions, 20 owners, 10 tags), with 100, 3,000 and 10,000 runs queued
// by 100 owners on another cluster:
//
//	page of 50, no filter               12.5 / 11 / 14
//	page of 50, owner (5 % of runs)     30 / 31 / 30.5
//	page of 50, status=FAILED           30 / 31 / 30.5
//	page of 50, definition + FAILED     30 / 31 / 30.5
//	page of 50, tag (10 %)              27.5 / 32.5 / 32.5, 16-23 runs a page: bounded
//	page of 50, cluster or SUCCEEDED    22.5-27.5 (30-50 runs) / 32.5 / 32.5 (0 runs: the
//	                                    queued runs of the other cluster are newer): bounded
//	page of 50, QUEUED+PENDING+RUNNING  79.5 / 79.5 / 79.5: one Query per owner waiting
//	                                    (100 here), nothing of the history
//	sweep, 10 active runs of a cluster  5.5 / 5.5 / 5.5 (it read every run before)
//	dispatch (GetRun, ClusterUsage,     103 / 103 / 103 (it read the whole queue before)
//	OldestQueuedPerOwner)
//
// 100,000 is where minidyn stops: it re-sorts its keys on every write, so
// seeding 1,000,000 runs would take hours on two cores (100,000 took 16
// minutes); the three sizes show the trend.
//
// # Write units of one run, launch to SUCCEEDED
//
//	create                    TransactWriteItems {run, counter} × 2        4   + gsi1, gsi2, gsi3 puts  3
//	admit QUEUED→PENDING      TransactWriteItems {run, counter} × 2        4   + gsi1 Q#→A# (delete+put) 2
//	PENDING→RUNNING (task id) UpdateItem                                   1
//	RUNNING→SUCCEEDED         TransactWriteItems {run, counter} × 2        4   + gsi1 A# delete         1
//	                                                                      ---                           ---
//	                                                                       13                            6  = 19
//
// 21 with an idempotency key (its item in the create transaction, × 2).
// The layout before this one cost 13 (16 with a key): it counted the queue
// by reading it, so create was a plain PutItem (1, not 4), and it had no
// active-run, FAILED/STOPPED or owner index (3 index units fewer). Those 6
// units buy reads that do not grow with history. The goal of 10
// cannot be met with the guarantees kept: the two slot transactions alone
// cost 8 (a transactional write costs 2 units per KB of each item,
// "Amazon DynamoDB Transactions: How it works", capacity management),
// RUNNING 1 and create at least 1, which leaves no unit for an index entry
// or for a queue count kept in the same write. Reads: one strongly
// consistent GetItem per transition (1 unit each).
//
// A plain run's transactions hold 2 or 3 items, a child's status change up
// to 4 (its summary item too), and CreateRuns up to 100 actions and
// fewer than 4 MB of items (batchSize counts both); DynamoDB allows 100
// actions and 4 MB per TransactWriteItems (same page). Two transactions on
// the same item at once cancel one with TransactionConflict; the store
// backs off and retries (maxTries), and a transition still contended then
// answers ErrThrottled (the run has not moved: ErrConflict would say it
// had).
//
// # Pipelines
//
// Arrays, dependencies and the WAITING status (issue 17) add three item
// types and one index, and leave a plain run's items and writes as they
// were (TestRunLifecycleCost: 19 units, 21 with a key).
//
// A run gains four attributes, each absent when empty: af (the runs it
// waits for), arr (an array parent's size, created count, listed, items,
// after_each, retry_of, parameters_schema; never its summary), ai (a
// child's index, 0 included) and aj (a child's item, its JSON). A child is
// written on each of its changes, so its item is paid on each: a small
// item (a date) adds a few dozen bytes, but a child with a 4 KiB item (the
// most the API takes), which the service also merges into its params
// (pm), is ~9 KB, 9 units a write and 18 in a transaction, against 1 and
// 2.
//
// A WAITING run (one that waits for others, or an array's parent waiting
// for its children) is in gsi1 under W#<cluster>: the sweep's WAITING runs
// of a cluster are one partition, read in proportion to the answer. It is
// in no queue partition and touches no counter, so Usage.Queued, the
// w:<owner> counts, ListQueued, OldestQueuedPerOwner and QueuedAhead never
// see it; its move to QUEUED is the transaction {run, counter ADD
// w:<owner> 1}, as a launch's. Because its create writes no counter item,
// and ListRuns without a cluster finds the clusters by their counter items,
// a WAITING run's create first makes sure its cluster's item exists: once
// per process and cluster, an eventually consistent GetItem (half a unit)
// and, only when the cluster never had a run, an UpdateItem ADD used 0.
//
// A run that waits for others has, per run it waits for, a link item
// AF#<that run>/<its id> carrying its never-changing attributes (as index
// entries do), written by BatchWriteItem before the run itself: a link
// whose run was never made (a failed or repeated launch) points at nothing
// and readers skip it, since they read the run. RunFilter.After is a
// strongly consistent Query of those links (the runs waiting for one are
// few: at most the runs launched after it) and a strongly consistent
// BatchGetItem of their runs, so a run made a moment before what it waits
// for ends is not missed. Links never change and are never deleted (~150
// bytes each). Links, summary items and element items do not expire with
// Options.Retention: their life is their parent's or their run's, which is
// not known when they are written (an array's elements are at most 5 MiB,
// $0.0013 a month at DynamoDB Standard's storage price).
//
// A run launched from another (Run.Parent: an array's child, or a run a
// job launched) is in gsi4 under P#<parent>#a while active and
// P#<parent>#e once ended, sorted by id: newest first is an array's
// children by descending index (ids.Child). The cascade stop's read of a
// parent's active children reads no ended child; the UI's list merges the
// two partitions. Moving from #a to #e when a child ends costs 2 index
// units. One parent's children share one index partition, which takes
// 1,000 writes a second, and a global secondary index that cannot keep up
// throttles the table's writes ("GSI write throttling and back pressure",
// DynamoDB Developer Guide; AWS re:Post "dynamodb-gsi-throttling-table"):
// an array is made at most ~1,000 children a second on AWS (its QUEUED
// children share their owner's queue partition in gsi1 too), and ECS
// starts 20 tasks a second anyway. The same holds for gsi1's W#<cluster>, where
// an array's children that wait each for another's (after_each) are
// written: a cluster takes ~1,000 new or released WAITING runs a second.
// Both indexes lag the table by about a second, like the others: a
// cascade stop's list may miss a child made in that second, so what makes
// children must notice a stopped parent itself (an ArrayCreated
// transition from WAITING fails once the parent has ended).
//
// A parent's children are counted by summary items C#<parent>/K<chunk>,
// one per 256 array indexes (chunk = index / 256), and C#<parent>/N for
// children without an index. Each holds a number per status (its
// one-letter code: W, Q, P, R, S, F, X) and fi, the number set of the
// offsets (index mod 256) of children in it that ended FAILED or STOPPED.
// Every write that creates a child or changes its status changes its one
// summary item in the same TransactWriteItems: ADD -1 to the old status,
// +1 to the new, and the offset to fi when it fails (ADD adds to a number
// and adds elements to a set, creating either when absent: DynamoDB
// Developer Guide, "Using update expressions in DynamoDB", ADD). ADD is
// commutative and unconditional, so concurrent children never lose a
// count; two transactions on one summary item at once cancel one with
// TransactionConflict, which TransitionRun retries as it does for the
// counter item (chunks of 256 spread an array's children over 40 items,
// so they meet less). ChildSummary is one strongly consistent Query of
// C#<parent>; the items share that partition for it, which takes 1,000
// write units a second: 500 status changes a second of one parent's
// children. A Query is read-committed against transactions (DynamoDB
// Developer Guide, "Amazon DynamoDB Transactions: How it works", isolation
// levels): it sees each summary item as some transaction left it, and each
// child is counted in exactly one item, so every child is counted once, in
// a status it had; a read made after a child's write returns includes it.
// A chunk with all its 256 children failed is 703 bytes (offsets take at
// most 3 bytes each; TestFullSummaryChunkUnderOneKB, counting a set as the
// sum of its numbers, as third-party sizers such as npm ddbitemsizer do:
// the AWS page on item sizes does not name sets, and even a byte more per
// number stays under 1 KB), so a summary write is 2 units in any case. The
// encoding chosen over the others: a single item with every failed index
// would grow to ~40 KB and make each child's write cost up to 80 units; a
// bitmap cannot be changed by ADD and would need a read and a conditional
// write, retried under contention; a Query of the children costs what
// 10,000 runs cost.
//
// An array's elements are items AE#<parent>#<chunk, 5 digits>/E of 64
// elements each, one string of their JSON: an element is at most 4 KiB, so
// an item stays under 300 KB, within DynamoDB's 400 KB item limit
// (Developer Guide, "Service, account, and table quotas": item size), and
// element k is in chunk k / 64, so ArrayElements(from, to) reads known
// keys: BatchGetItem, strongly consistent, a chunk missing being the end.
// Each chunk is its own partition key: 5 MiB of elements, about 5,000
// write units, spread over the table's partitions rather than wait on one
// partition's 1,000 a second. PutArrayElements writes them by
// BatchWriteItem, 25 items a request, 4 requests at a time; writing them
// again writes the same items. 10,000 elements are 157 items; their write
// costs a unit per KB of elements.
//
//	CreateRuns           links first (BatchWriteItem), the WAITING runs' clusters (above),
//	                     then transactions of up to 100 actions (TransactWriteItems' limit,
//	                     "Amazon DynamoDB Transactions: How it works"): a Put per run
//	                     (attribute_not_exists), one counter Update per cluster whose queue
//	                     grows (ADD w:<owner> n) and one summary Update per summary item
//	                     (ADD the batch's counts): 98 children of one array a transaction.
//	                     Transactions go one after another, since they all write the
//	                     cluster's counter item and would only cancel each other in
//	                     parallel. A transaction cancelled by a Put's condition reads which
//	                     of its runs exist (BatchGetItem, strongly consistent), drops them
//	                     and goes again, so a batch made again after a crash, or by two
//	                     makers at once, makes each run once and counts it once; the SDK
//	                     sends a ClientRequestToken with every TransactWriteItems and keeps
//	                     it on its retries, so a retry after a lost answer is not applied
//	                     twice (API Reference, TransactWriteItems, ClientRequestToken: 10
//	                     minutes). TransactionConflict is retried 32 times, then ErrThrottled.
//	ChildSummary         Query C#<parent>, strongly consistent: 1 unit for 10,000 children
//	                     with 40 stopped (TestChildSummaryReadUnits); 7 units when all of
//	                     them failed (40 items of ~703 bytes, ~27.5 KB: computed, not measured)
//	PutArrayElements     BatchWriteItem of the chunks
//	ArrayElements        BatchGetItem of the chunks of from to to-1 (a unit per 4 KB of each)
//	TransitionRun        as above; a child's status change adds its summary item's Update to
//	                     the transaction (a PENDING→RUNNING of a child is a transaction of 2)
//	ListRuns             after: links; parent: gsi4; WAITING: gsi1 W#<cluster> (History)
//
// Write units (TestChildLifecycleCost, computed as TestRunLifecycleCost's):
//
//	child created, in a batch of 98   2 (run, in a transaction) + 4 index puts (gsi1 Q#, gsi2,
//	                                  gsi3, gsi4) + counter and summary shared: 6.04 a child
//	admit QUEUED→PENDING              {run, counter, summary} × 2 = 6 + gsi1 Q#→A# 2 = 8
//	PENDING→RUNNING                   {run, summary} × 2 = 4
//	RUNNING→SUCCEEDED                 6 + gsi1 A# delete 1 + gsi4 #a→#e 2 = 9 (FAILED: 10)
//	                                  a child's life: ~27, against 19 for a plain run
//
// A run that waits for one other run (TestWaitingRunCost): link 1 +
// PutItem 1 + 3 index puts (gsi1 W#, gsi2, gsi3) = 5 to create (and the
// cluster's half-unit GetItem, once per process); its release
// WAITING→QUEUED {run, counter} × 2 + gsi1 W#→Q# 2 = 6; then a plain
// run's 12: 23 in all.
//
// # Retention
//
// Options.Retention (awswire: FLOTILLA_RUN_RETENTION_DAYS, set by the
// stack from cdk.json flotilla:run_retention_days, 0 = off by default)
// puts ttl = end time + retention (Unix seconds) on a run in the write that
// ends it, at no extra unit (the item grows by ~8 bytes). With the table's
// TTL on that attribute, DynamoDB deletes expired items in the background
// without consuming write capacity, typically within a few days of expiry,
// and removes them from the indexes the same eventually consistent way as
// a delete; until then they still show in reads (DynamoDB Developer Guide,
// "Using time to live (TTL) in DynamoDB", "Working with expired items";
// API Reference, UpdateTimeToLive). So a run may appear in the history a
// day or two past its retention. Definitions, schedules, counters and
// active runs never expire. An idempotency key item does not expire with
// its run: a launch that finds the key naming a run that is gone releases
// the key (conditional delete) and claims it afresh (TestRetention).
//
// # Migration
//
// A table of the earlier layout (the store before commit 829fb0b: every
// run under pk RUN, a counter item CL#<cluster>/C holding "used" and
// "o:<owner>", gsi1 Q#<cluster> sorted by gsi1sk, gsi2 D#<definition>
// sorted by gsi2sk) is copied once into a new table of this layout, by
// Migrate (migrate.go; `flotilla migrate --from OLD --to NEW`), while the
// deployment is paused. The operator's steps are docs/deploy.md's
// "Upgrade from the earlier table layout".
//
// Why a copy into a new table, not a change in place: gsi1 and gsi2 keep
// their names but change their keys, and gsi3 is new. DynamoDB creates or
// deletes one global secondary index per UpdateTable (API Reference,
// UpdateTable, GlobalSecondaryIndexUpdates), and CloudFormation refuses an
// update of AWS::DynamoDB::Table that both deletes and adds an index
// (CloudFormation User Guide, AWS::DynamoDB::Table, GlobalSecondaryIndexes:
// "You can delete or add one global secondary index without interruption.
// If you do both in the same update … the update fails"). In place would
// take five deployments, each waiting for an index to backfill, with the
// store blind to its runs in between, and every run item moved anyway (its
// pk changes, and a key cannot be updated). Reading both layouts would
// double every read path and still leave the queue counts to rebuild. So
// the stack names this layout's table TableV2 (the earlier one was Table):
// an upgraded stack creates it empty beside the old table, which leaves
// the stack but is kept (RetainExceptOnCreate, flotilla:retain_data), and
// the copy fills it. The old table is never written: it stays as it was
// until the operator deletes it.
//
// What Migrate writes, per item of the old table (one parallel Scan,
// MigrateOptions.Segments segments, strongly consistent, every page to the
// last LastEvaluatedKey):
//
//	RUN/<id>             R#<shard>/<id> with this layout's index keys (gsi1 by state,
//	                     gsi2 D#<def>#<shard>, gsi3 O#<owner>#<shard>) and every other
//	                     attribute as it was: the version v, the life story ev, the
//	                     idempotency key and request hash; gsi1sk and gsi2sk dropped
//	CL#<cluster>/C       nothing: the counters are rebuilt (below)
//	DEF/<alias>,         the same item: these did not change shape (attributes added
//	D#<id>/D, D#<id>/V#n since are absent, which reads as before)
//	I#<n>:<owner>#<key>/I
//	SCH/<id>
//	anything else        the same item, counted as "other"
//
// Each write is a PutItem conditioned on attribute_not_exists(pk) OR an
// older version in the target (v for runs and schedules, with a later fire
// time lf at the same v for a schedule; rv for definitions and aliases;
// revisions and idempotency keys never change, so only when missing), so
// a run that has moved on in the new table is never put back, and running
// Migrate again, or after it stopped half-way, writes only what is missing
// (TestMigrateAfterACrash: a copy stopped after 20 writes and run again
// ends item for item as a clean one; TestMigrateFromEarlierLayout: a second
// run writes nothing). Then, from a Scan of the new table's runs, each
// cluster's counter item CL/<cluster> is written whole: used and o:<owner>
// from the PENDING and RUNNING runs, w:<owner> from the QUEUED ones; a run
// a function wrote into the new table before the pause took hold is counted
// too (TestMigrateCountsRunsAlreadyInTheTarget), and a dispatch message
// consumed then for a run not yet copied is dropped as not found and sent
// again by the sweep's re-admission once the run is there. Last, a marker
// MIG/<old table> records that the copy finished; a later Migrate refuses (its
// counters would overwrite those of a table in use) unless
// MigrateOptions.Again, for a re-run while still paused. --dry-run reads
// the old table and reports what it holds and the counters it would write.
//
// Units: the Scan reads 4 KB per unit (strongly consistent), each copied
// item costs a write unit per KB (a run item is about 0.6-0.8 KB: one), each
// counter item one, and the recount reads the new table once more.
// minidyn v0.8.2 ignores Scan's Segment and TotalSegments (it hands every
// segment the whole table), so the tests split segments in a client
// wrapper, and `flotilla migrate` uses one segment when
// FLOTILLA_DYNAMODB_ENDPOINT names an emulator. The tests seed the old
// table with a test-only copy of the earlier store's marshalling
// (migrate_legacy_test.go), then read everything back through this Store.
// A change of the number of shards would move every run the same way,
// into a new table; Migrate reads only the earlier layout. Runs of that
// layout had no parent, arrays or dependencies (they came with this one),
// so the copy writes no gsi4 keys, links, summary or element items.
//
// # Schedules
//
// ScheduleStore keeps each schedule as one item in the same table, outside
// the indexes:
//
//	item       pk    sk              attributes
//	schedule   SCH   <schedule id>   nm name, dr definition (id or alias), cl, ex expression,
//	                                 tz timezone, env, on enabled (BOOL), cp catch_up, ow,
//	                                 v version, ca, ua, lf last fire time (ns; absent until
//	                                 the first fire)
//
// One item and no index entry keeps every write at one unit (a schedule is
// a few hundred bytes) and lets the list read consistently. All schedules
// share the partition SCH: each fire writes it once, and a partition takes
// 1,000 writes a second, far more than schedules fire. next_fire_times is
// computed on read and never stored.
//
//	CreateSchedule   PutItem, attribute_not_exists(pk); ErrConflict when the id exists
//	GetSchedule      GetItem SCH/<id>, strongly consistent
//	ListSchedules    Query pk SCH in id order, strongly consistent; definition, owner and
//	                 enabled filter after the read, which goes on until the page is full
//	UpdateSchedule   UpdateItem SET of every field but lf (empty ones as "" or {}, so never
//	                 a REMOVE), condition v = version-1, ReturnValues ALL_NEW for lf
//	DeleteSchedule   DeleteItem, attribute_exists(pk); a failed condition is ErrNotFound
//	RecordFire       UpdateItem SET lf, condition attribute_exists(pk) AND
//	                 (attribute_not_exists(lf) OR lf < :t); v does not change, so a fire
//	                 never fails a user's update, and of two deliveries of one fire exactly
//	                 one records it
//
// A failed condition of an update or a fire is told apart by one GetItem:
// ErrNotFound when the schedule is gone, ErrConflict otherwise.
//
// # Errors
//
// translate maps SDK errors once: a failed condition (ConditionalCheckFailed,
// or a cancelled transaction) is ErrConflict, throttling after the SDK's
// retries is ErrThrottled; a missing item is ErrNotFound. Where a
// transaction can fail for different reasons, its CancellationReasons index
// tells which action failed.
//
// # Emulators
//
// minidyn v0.8.2 ignores REMOVE of top-level attributes in UpdateItem (its
// interpreter copies back only the attributes it kept). The conformance
// suite, the AWS fault tests and the Lambda end-to-end tests run the
// production writes (UpdateItem with REMOVE) against minidyn behind
// internal/awsdynamodb/ddbtest, which applies such a REMOVE itself after
// minidyn accepted the write; Options.PutOnRemove (conditional Puts of the
// whole item instead, the same units in DynamoDB) remains for plain minidyn
// and is tested too. It also
// reports TableStatus "" and no ConsumedCapacity, so CreateTable accepts an
// empty status and TestRunLifecycleCost computes the units from DynamoDB's
// billing rules applied to the table before and after each step.
package awsdynamodb
