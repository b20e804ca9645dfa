// Package awsdynamodb is the flotilla.Store on one DynamoDB table, billed on
// demand. Its design follows one rule: a run's life is written in as few
// units as the guarantees allow, because DynamoDB writes are about half of
// the control plane's cost (reference/aws-and-peers.md §A.8).
//
// # Table
//
// Partition key pk (S), sort key sk (S), and two global secondary indexes:
// gsi1 (gsi1pk, gsi1sk) projecting INCLUDE ow (the run's owner, which never
// changes) and gsi2 (gsi2pk, gsi2sk) projecting KEYS_ONLY. Neither projects
// an attribute that a transition changes, so an index entry is written only
// when an item enters or leaves the index or its index keys change, never on
// a status change.
//
//	item                   pk                    sk           gsi1pk / gsi1sk                 gsi2pk / gsi2sk
//	run                    RUN                   <run id>     Q#<cluster> / <queued ns>#<id>  D#<definition id> / <run id>
//	                                                          (only while QUEUED)
//	idempotency key        I#<n>:<owner>#<key>   I            -                               -
//	cluster slot counters  CL#<cluster>          C            -                               -
//	definition by alias    DEF                   <alias>      -                               -
//	definition by id       D#<id>                D            -                               -
//	definition revision    D#<id>                V#<000042>   -                               -
//
// <n> is the owner's length, so no owner and key pair can collide with
// another. Run ids are "run_" + a ULID made at queue time, so sk order is
// queue-time order.
//
// All runs share the partition RUN. A partition takes 1,000 write units a
// second; ECS starts at most 20 tasks a second per account and Region
// (RunTask's own limit), and a run costs 13 units on the table, so the
// partition is not the bottleneck. Should it become one, the fix is a
// few shards (RUN#<ulid mod n>) merged on read.
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
// idempotency key, a Fargate task ARN) measures 609 B when queued and 792 B
// when it has ended with four events (TestRunLifecycleCost). A run with a
// large env or command, or many retries, crosses 1 KB, and then each write
// of it costs 2 units.
//
// The slot counters of a cluster live in one item: "used" (slots held) and
// "o:<owner>" per owner holding slots, so a per-owner cap costs no extra
// item. ClusterUsage removes owners' counters that fell to zero, 8 at a
// time in one conditional write, to keep it small.
//
// # Access patterns
//
//	CreateRun              PutItem (attribute_not_exists); with an idempotency key,
//	                       TransactWriteItems {Put key, Put run}; a failed key condition
//	                       reads the key item and returns its run (created=false)
//	GetRun                 GetItem RUN/<id>, strongly consistent
//	TransitionRun          GetItem, then Transition.Check and Apply, then one conditional
//	                       write on the version read: UpdateItem SET of the changed attributes,
//	                       the version and list_append of the event, REMOVE of vanished ones
//	                       (the gsi1 keys when the run leaves QUEUED). When SlotDelta ≠ 0
//	                       (admission, the end of a run holding a slot, a re-queue) the same
//	                       update and the counter item's ADD form one TransactWriteItems, the
//	                       counter conditioned on max_running and the owner's cap. A
//	                       transition that changes nothing and records no event writes nothing.
//	                       Cancellation reasons say which failed: the run's (re-read, re-check:
//	                       ErrConflict when it moved) or the counter's (ErrNoCapacity, as a
//	                       CapacityError naming the wait reason).
//	ListRunEvents          GetItem with ProjectionExpression ev
//	ListRuns               newest first, sk descending, bounded by since/until (as run-id
//	                       bounds with an hour's slack) and the token; the other filters
//	                       apply after the read, and reading continues until the page is
//	                       full or the range ends. With a definition: Query gsi2
//	                       D#<definition>, then BatchGetItem; otherwise Query pk RUN.
//	                       status, cluster, owner, tag and schedule filter the base Query.
//	ListQueued             Query gsi1 Q#<cluster> ascending, then BatchGetItem (consistent);
//	                       runs no longer QUEUED (the index lags ~1 s) are skipped
//	OldestQueuedPerOwner   Query gsi1 Q#<cluster> ascending, keeping each owner's first
//	                       entry (the owner is projected), then BatchGetItem of the heads;
//	                       on a keys-only gsi1 it reads the owners from the runs instead
//	QueuedAhead            Query gsi1 Q#<cluster>, gsi1sk < the run's, Select COUNT
//	ClusterUsage           Query gsi1 Select COUNT + GetItem CL#<cluster>
//	CreateDefinition       TransactWriteItems {Put alias (not exists), Put by-id, Put V#1}
//	GetDefinition          GetItem by id (D#<id>/D) or by alias (DEF/<alias>)
//	GetDefinitionRevision  GetDefinition, then GetItem D#<id>/V#<n>
//	UpdateDefinition       TransactWriteItems {Put by-id (revision = n-1), Put V#n,
//	                       Put alias, or Delete old alias + Put new alias (not exists)}
//	DeleteDefinition       TransactWriteItems {Delete by-id, Delete alias}, then
//	                       BatchWriteItem deletes of the revisions; runs stay
//	ListDefinitions        Query pk DEF (alias order), filters after the read
//
// Tokens are the last item's sort key, base64url-encoded: a page continues
// exactly after it however many items the filters dropped.
//
// # Write units of one run, launch to SUCCEEDED
//
//	create with idempotency key   TransactWriteItems, 2 items × 2      4   + gsi1 put, gsi2 put   2
//	admit QUEUED→PENDING          TransactWriteItems, run + counter × 2 4   + gsi1 delete          1
//	PENDING→RUNNING (+ task id)   UpdateItem                           1
//	RUNNING→SUCCEEDED             TransactWriteItems, run + counter × 2 4
//	                                                                  ---                        ---
//	                                                                   13                          3  = 16
//
// 13 without an idempotency key (a plain PutItem: 1 + 2 index puts).
// Transactions are used only where SlotDelta ≠ 0 and for the idempotency
// key. Those three two-item transactions cost 12 units by themselves, so
// with them a run costs at least 13 (they and the RUNNING write) before any
// index write; the 3 index units buy ListQueued, QueuedAhead and the fair
// turns (gsi1) and the definition's history (gsi2) as Queries.
// Reads: one strongly consistent GetItem per transition (1 read unit each).
// A run that records its task id in a separate PENDING→PENDING write, or
// gets a PENDING engine event, costs 1 more unit per such write.
//
// # Schedules
//
// ScheduleStore keeps each schedule as one item in the same table, outside
// both indexes:
//
//	item       pk    sk              attributes
//	schedule   SCH   <schedule id>   nm name, dr definition (id or alias), cl, ex expression,
//	                                 tz timezone, env, on enabled (BOOL), cp catch_up, ow,
//	                                 v version, ca, ua, lf last fire time (ns; absent until
//	                                 the first fire)
//
// One item and no index entry keeps every write at one unit (a schedule is
// a few hundred bytes) and lets the list read consistently. All schedules
// share the partition SCH, as runs share RUN: each fire writes SCH once and
// RUN at least once, so SCH is never the tighter limit. next_fire_times is
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
