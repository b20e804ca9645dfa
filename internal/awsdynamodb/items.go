package awsdynamodb

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Partition and sort keys of each item type (see doc.go).
const (
	runPKPrefix = "R#"   // a run: pk R#<shard>, sk <run id>
	defAliasPK  = "DEF"  // current definition by alias: pk DEF, sk <alias>
	defIDPrefix = "D#"   // current definition by id: pk D#<id>, sk D; revisions: sk V#<n>
	defCurSK    = "D"    //
	defRevSK    = "V#"   //
	idemPrefix  = "I#"   // idempotency key: pk I#<len(owner)>:<owner>#<key>, sk I
	idemSK      = "I"    //
	clustersPK  = "CL"   // counters: pk CL, sk <cluster> (one Query lists the clusters)
	queuePrefix = "Q#"   // gsi1pk of a QUEUED run: Q#<len(cluster)>:<cluster>#<owner>
	activePfx   = "A#"   // gsi1pk of a PENDING or RUNNING run: A#<cluster>
	endedPfx    = "E#"   // gsi1pk of a FAILED or STOPPED run: E#<status>#<shard>
	defRunsPfx  = "D#"   // gsi2pk of a run: D#<definition id>#<shard>
	ownerRunsPf = "O#"   // gsi3pk of a run: O#<owner>#<shard>
	waitingPfx  = "W#"   // gsi1pk of a WAITING run: W#<cluster>
	parentPfx   = "P#"   // gsi4pk of a run launched from another: P#<parent>#a (active) or #e (ended)
	summaryPfx  = "C#"   // a parent's children summary: pk C#<parent>, sk K<chunk> or N
	afterPfx    = "AF#"  // a run's wait on another: pk AF#<run it waits for>, sk <waiting run id>
	elemsPfx    = "AE#"  // an array's elements: pk AE#<parent>#<chunk, 5 digits>, sk E
	ownerSlot   = "o:"   // counter item attribute per owner holding slots
	ownerQueued = "w:"   // counter item attribute per owner with QUEUED runs
	usedSlots   = "used" // counter item attribute: slots held in the cluster
)

// shards is how many partitions the runs, and each history index, are
// spread over: a partition takes at most 1,000 write units a second
// (DynamoDB Developer Guide, "Best practices for designing and using
// partition keys effectively" and "Using write sharding to distribute
// workloads evenly"), so the table takes 8,000. Reads of history merge the
// shards newest first. Changing it changes every run's key: see doc.go.
const shards = 8

// shardOf places a run by a hash of its id, so consecutive ids (ULIDs made
// in the same millisecond) land on different partitions.
func shardOf(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return strconv.Itoa(int(h.Sum32() % shards))
}

// allShards are the shard suffixes, in order.
var allShards = func() []string {
	out := make([]string, shards)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}()

// attrTTL is the run item's expiry (Unix seconds), set when a run ends and
// Options.Retention is on; the table's TTL setting names it (infra/).
const attrTTL = "ttl"

// The run item's attribute names: short, because every byte of a run item is
// paid on every status change (a write costs 1 unit per KB of the whole item).
const (
	aVersion   = "v"
	aEvents    = "ev"
	aDefID     = "df"
	aAlias     = "al"
	aRevision  = "rv"
	aCluster   = "cl"
	aStatus    = "st"
	aReason    = "sr"
	aCode      = "rc"
	aWait      = "wr"
	aOwner     = "ow"
	aOwnerName = "onm" // the owner's display name
	aImage     = "im"
	aCommand   = "cm"
	aCPU       = "cpu"
	aMemory    = "mem"
	aGPU       = "gpu"
	aArch      = "ar" // architecture
	aEnv       = "env"
	aSecrets   = "sec"  // secret references, never values
	aTaskRole  = "trl"  // the definition's task role ARN, when it names one
	aOOMFactor = "oomf" // on_out_of_memory.retry_with_memory_factor, when set
	aNotify    = "nt"   // notify targets, as JSON, when any
	aParent    = "par"  // the run it was launched from, when any
	aTags      = "tg"
	aAfter     = "af"  // the runs it waits for, when any
	aArray     = "arr" // an array parent's description (flotilla.Array, without Summary)
	aArrayIdx  = "ai"  // an array child's index (0 included)
	aArrayItem = "aj"  // an array child's item, its JSON (at most 4 KiB), when the launch gave items
	aEngine    = "en"
	aAttempt   = "at"
	aMaxTries  = "ma"
	aAttempts  = "as"
	aExitCode  = "ec"
	aQueuedAt  = "qa"
	aStartedAt = "sa"
	aFinished  = "fa"
	aTimeout   = "to"
	aIdemKey   = "ik"
	aReqHash   = "ih" // the launch request's hash, kept with its idempotency key
	aSchedule  = "sc"
	aStop      = "sq"
	aEstimate  = "ecu"
	aCost      = "cu"
	aRunID     = "rid" // in the idempotency item
	aDefRefID  = "did" // definition id in definition items
	aGroup     = "gr"
	aCreatedAt = "ca"
	aUpdatedAt = "ua"
)

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: sv(pk), attrSK: sv(sk)}
}

func runKey(id string) map[string]types.AttributeValue { return key(runPKPrefix+shardOf(id), id) }

// queuePK is the queue partition of one owner's QUEUED runs on a cluster.
// The cluster's length comes first, so no cluster and owner pair can
// collide with another.
func queuePK(cluster, owner string) string {
	return fmt.Sprintf("%s%d:%s#%s", queuePrefix, len(cluster), cluster, owner)
}

func defIDKey(id string) map[string]types.AttributeValue { return key(defIDPrefix+id, defCurSK) }

func defRevKey(id string, rev int) map[string]types.AttributeValue {
	return key(defIDPrefix+id, fmt.Sprintf("%s%06d", defRevSK, rev))
}

func defAliasKey(alias string) map[string]types.AttributeValue { return key(defAliasPK, alias) }

// clusterKey is a cluster's counter item. All counter items share the
// partition CL, so one Query lists the clusters that ever had a run. Each
// is its own item, and DynamoDB isolates items that take much traffic onto
// partitions of their own (DynamoDB Developer Guide, "Burst and adaptive
// capacity": isolate frequently accessed items), so the item's own limit,
// 1,000 write units a second, is what binds.
func clusterKey(cluster string) map[string]types.AttributeValue {
	return key(clustersPK, cluster)
}

// idemKey is unambiguous for any owner and key: the owner's length comes
// first, so "a#b"+"c" and "a"+"b#c" differ.
func idemKey(owner, k string) map[string]types.AttributeValue {
	return key(fmt.Sprintf("%s%d:%s#%s", idemPrefix, len(owner), owner, k), idemSK)
}

func sv(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func nv(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func fv(v float64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatFloat(v, 'g', -1, 64)}
}

// item builds an item, leaving out zero values: an absent attribute reads
// back as the zero value and costs nothing.
type item map[string]types.AttributeValue

func (it item) s(name, v string) {
	if v != "" {
		it[name] = sv(v)
	}
}

func (it item) n(name string, v int64) {
	if v != 0 {
		it[name] = nv(v)
	}
}

func (it item) t(name string, v *time.Time) {
	if v != nil && !v.IsZero() {
		it[name] = nv(v.UnixNano())
	}
}

func (it item) f(name string, v *float64) {
	if v != nil {
		it[name] = fv(*v)
	}
}

func (it item) strs(name string, v []string) {
	if len(v) > 0 {
		l := make([]types.AttributeValue, len(v))
		for i, s := range v {
			l[i] = sv(s)
		}
		it[name] = &types.AttributeValueMemberL{Value: l}
	}
}

func (it item) strMap(name string, v map[string]string) {
	if len(v) > 0 {
		m := make(map[string]types.AttributeValue, len(v))
		for k, s := range v {
			m[k] = sv(s)
		}
		it[name] = &types.AttributeValueMemberM{Value: m}
	}
}

func str(it map[string]types.AttributeValue, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func num(it map[string]types.AttributeValue, name string) int64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

func numPtr(it map[string]types.AttributeValue, name string) *int {
	if _, ok := it[name]; !ok {
		return nil
	}
	n := int(num(it, name))
	return &n
}

func float(it map[string]types.AttributeValue, name string) *float64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		f, err := strconv.ParseFloat(v.Value, 64)
		if err == nil {
			return &f
		}
	}
	return nil
}

func timePtr(it map[string]types.AttributeValue, name string) *time.Time {
	if _, ok := it[name]; !ok {
		return nil
	}
	t := time.Unix(0, num(it, name)).UTC()
	return &t
}

func timeVal(it map[string]types.AttributeValue, name string) time.Time {
	if t := timePtr(it, name); t != nil {
		return *t
	}
	return time.Time{}
}

func strList(it map[string]types.AttributeValue, name string) []string {
	out := []string{}
	if l, ok := it[name].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				out = append(out, s.Value)
			}
		}
	}
	return out
}

func strMap(it map[string]types.AttributeValue, name string) map[string]string {
	out := map[string]string{}
	if m, ok := it[name].(*types.AttributeValueMemberM); ok {
		for k, v := range m.Value {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				out[k] = s.Value
			}
		}
	}
	return out
}

// runItem is the run's item without its version and life story, which the
// store writes separately. Index keys follow from the run (see doc.go):
// gsi1 by state (the owner's queue while QUEUED, the cluster's active runs
// while PENDING or RUNNING, the status's history once FAILED or STOPPED,
// nothing once SUCCEEDED), gsi2 by definition and gsi3 by owner, both
// written once, at create.
func runItem(r flotilla.Run) item {
	shard := shardOf(r.ID)
	it := item{attrPK: sv(runPKPrefix + shard), attrSK: sv(r.ID)}
	it.s(aDefID, r.DefinitionID)
	it.s(aAlias, r.Alias)
	it.n(aRevision, int64(r.Revision))
	it.s(aCluster, r.Cluster)
	it.s(aStatus, string(r.Status))
	it.s(aReason, r.StatusReason)
	it.s(aCode, string(r.ReasonCode))
	it.s(aWait, string(r.WaitReason))
	it.s(aOwner, r.Owner)
	it.s(aOwnerName, r.OwnerName)
	it.s(aImage, r.Image)
	it.s(aCommand, r.Command)
	it.n(aCPU, int64(r.CPU))
	it.n(aMemory, int64(r.Memory))
	it.n(aGPU, int64(r.GPU))
	it.s(aArch, cmp.Or(r.Architecture, flotilla.ArchX86))
	it.strMap(aEnv, r.Env)
	it.strMap(aSecrets, r.Secrets)
	it.s(aTaskRole, r.TaskRoleARN)
	it.oomPolicy(r.OnOutOfMemory)
	it.notify(r.Notify)
	it.s(aParent, r.Parent)
	it.strs(aAfter, r.After)
	it.array(r.Array)
	if r.ArrayIndex != nil {
		it[aArrayIdx] = nv(int64(*r.ArrayIndex))
	}
	it.s(aArrayItem, string(r.ArrayItem))
	it.strs(aTags, r.Tags)
	it.s(aEngine, r.Engine)
	it.n(aAttempt, int64(r.Attempt))
	it.n(aMaxTries, int64(r.MaxAttempts))
	if len(r.Attempts) > 0 {
		l := make([]types.AttributeValue, len(r.Attempts))
		for i, a := range r.Attempts {
			m := item{"a": nv(int64(a.Attempt))}
			m.s("t", a.TaskID)
			m.t("q", &a.QueuedAt)
			m.t("s", a.StartedAt)
			m.t("f", a.FinishedAt)
			if a.ExitCode != nil {
				m["x"] = nv(int64(*a.ExitCode))
			}
			m.s("r", a.Reason)
			m.s("c", a.Capacity)
			l[i] = &types.AttributeValueMemberM{Value: m}
		}
		it[aAttempts] = &types.AttributeValueMemberL{Value: l}
	}
	if r.ExitCode != nil {
		it[aExitCode] = nv(int64(*r.ExitCode))
	}
	it.t(aQueuedAt, &r.QueuedAt)
	it.t(aStartedAt, r.StartedAt)
	it.t(aFinished, r.FinishedAt)
	it.n(aTimeout, int64(r.TimeoutSeconds))
	it.s(aIdemKey, r.IdempotencyKey)
	it.s(aReqHash, r.RequestHash)
	it.s(aSchedule, r.ScheduleID)
	it.s(aParams, paramsJSON(r.Params))
	if sr := r.StopRequest; sr != nil {
		m := item{}
		m.s("b", sr.By)
		m.s("c", string(sr.Code))
		m.s("r", sr.Reason)
		m.t("t", &sr.At)
		it[aStop] = &types.AttributeValueMemberM{Value: m}
	}
	it.f(aEstimate, r.EstimatedCostUSD)
	it.f(aCost, r.CostUSD)
	switch r.Status {
	case flotilla.StatusQueued:
		it[attrGSI1PK] = sv(queuePK(r.Cluster, r.Owner))
	case flotilla.StatusPending, flotilla.StatusRunning:
		it[attrGSI1PK] = sv(activePfx + r.Cluster)
	case flotilla.StatusFailed, flotilla.StatusStopped:
		it[attrGSI1PK] = sv(endedPfx + string(r.Status) + "#" + shard)
	case flotilla.StatusWaiting:
		it[attrGSI1PK] = sv(waitingPfx + r.Cluster)
	}
	if r.Parent != "" {
		it[attrGSI4PK] = sv(parentPK(r.Parent, r.Status.Terminal()))
	}
	if r.DefinitionID != "" {
		it[attrGSI2PK] = sv(defRunsPfx + r.DefinitionID + "#" + shard)
	}
	if r.Owner != "" {
		it[attrGSI3PK] = sv(ownerRunsPf + r.Owner + "#" + shard)
	}
	return it
}

func decodeRun(it map[string]types.AttributeValue) flotilla.Run {
	r := flotilla.Run{
		ID:               str(it, attrSK),
		DefinitionID:     str(it, aDefID),
		Alias:            str(it, aAlias),
		Revision:         int(num(it, aRevision)),
		Cluster:          str(it, aCluster),
		Status:           flotilla.RunStatus(str(it, aStatus)),
		StatusReason:     str(it, aReason),
		ReasonCode:       flotilla.ReasonCode(str(it, aCode)),
		WaitReason:       flotilla.WaitReason(str(it, aWait)),
		Owner:            str(it, aOwner),
		OwnerName:        str(it, aOwnerName),
		Image:            str(it, aImage),
		Command:          str(it, aCommand),
		CPU:              int(num(it, aCPU)),
		Memory:           int(num(it, aMemory)),
		GPU:              int(num(it, aGPU)),
		Architecture:     strOr(it, aArch, flotilla.ArchX86), // items from before architectures ran on x86_64
		Env:              strMap(it, aEnv),
		Secrets:          strMap(it, aSecrets),
		TaskRoleARN:      str(it, aTaskRole),
		OnOutOfMemory:    oomPolicy(it),
		Notify:           notifyTargets(it),
		Parent:           str(it, aParent),
		After:            optStrList(it, aAfter),
		Array:            decodeArray(it),
		ArrayIndex:       numPtr(it, aArrayIdx),
		ArrayItem:        rawJSON(str(it, aArrayItem)),
		Tags:             strList(it, aTags),
		Engine:           str(it, aEngine),
		Attempt:          int(num(it, aAttempt)),
		MaxAttempts:      int(num(it, aMaxTries)),
		Attempts:         []flotilla.Attempt{},
		ExitCode:         numPtr(it, aExitCode),
		QueuedAt:         timeVal(it, aQueuedAt),
		StartedAt:        timePtr(it, aStartedAt),
		FinishedAt:       timePtr(it, aFinished),
		TimeoutSeconds:   int(num(it, aTimeout)),
		IdempotencyKey:   str(it, aIdemKey),
		RequestHash:      str(it, aReqHash),
		ScheduleID:       str(it, aSchedule),
		Params:           decodeParams(str(it, aParams)),
		EstimatedCostUSD: float(it, aEstimate),
		CostUSD:          float(it, aCost),
	}
	if l, ok := it[aAttempts].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			m, ok := v.(*types.AttributeValueMemberM)
			if !ok {
				continue
			}
			r.Attempts = append(r.Attempts, flotilla.Attempt{
				Attempt:    int(num(m.Value, "a")),
				TaskID:     str(m.Value, "t"),
				QueuedAt:   timeVal(m.Value, "q"),
				StartedAt:  timePtr(m.Value, "s"),
				FinishedAt: timePtr(m.Value, "f"),
				ExitCode:   numPtr(m.Value, "x"),
				Reason:     str(m.Value, "r"),
				Capacity:   str(m.Value, "c"),
			})
		}
	}
	if m, ok := it[aStop].(*types.AttributeValueMemberM); ok {
		r.StopRequest = &flotilla.StopRequest{
			By:     str(m.Value, "b"),
			Code:   flotilla.ReasonCode(str(m.Value, "c")),
			Reason: str(m.Value, "r"),
			At:     timeVal(m.Value, "t"),
		}
	}
	return r
}

// An event is one string in the run item's life-story list,
// "<unix nanos, base 36>|<source>|<from>|<to>|<attempt>|<reason>", with
// sources and statuses as one-letter codes: about 35 bytes plus the reason,
// against about 90 for a map with named fields. The reason, the only free
// text, comes last. A value without a code is written in full.
func encodeEvent(e flotilla.RunEvent) types.AttributeValue {
	return sv(strconv.FormatInt(e.Time.UnixNano(), 36) + "|" + codes.encode(string(e.Source)) + "|" +
		codes.encode(string(e.From)) + "|" + codes.encode(string(e.To)) + "|" + strconv.Itoa(e.Attempt) + "|" + e.Reason)
}

func decodeEvent(runID, s string) (flotilla.RunEvent, error) {
	f := strings.SplitN(s, "|", 6)
	if len(f) != 6 {
		return flotilla.RunEvent{}, fmt.Errorf("run %s: malformed event %q", runID, s)
	}
	nanos, err1 := strconv.ParseInt(f[0], 36, 64)
	attempt, err2 := strconv.Atoi(f[4])
	if err1 != nil || err2 != nil {
		return flotilla.RunEvent{}, fmt.Errorf("run %s: malformed event %q", runID, s)
	}
	return flotilla.RunEvent{
		RunID:   runID,
		Time:    time.Unix(0, nanos).UTC(),
		Source:  flotilla.EventSource(codes.decode(f[1])),
		From:    flotilla.RunStatus(codes.decode(f[2])),
		To:      flotilla.RunStatus(codes.decode(f[3])),
		Attempt: attempt,
		Reason:  f[5],
	}, nil
}

// codebook maps the values events repeat to one-letter codes and back.
type codebook map[string]string

func (c codebook) encode(v string) string {
	if code, ok := c[v]; ok {
		return code
	}
	return v
}

func (c codebook) decode(code string) string {
	for v, cd := range c {
		if cd == code {
			return v
		}
	}
	return code
}

// codes are the events' codes. Sources and statuses never collide: sources
// are lower case, statuses upper case, and no full value is one letter.
var codes = codebook{
	string(flotilla.SourceAPI):        "a",
	string(flotilla.SourceDispatcher): "d",
	string(flotilla.SourceEngine):     "e",
	string(flotilla.SourceSweep):      "w",
	string(flotilla.SourceSchedule):   "s",
	string(flotilla.SourceNotifier):   "n",
	string(flotilla.StatusWaiting):    "W",
	string(flotilla.StatusQueued):     "Q",
	string(flotilla.StatusPending):    "P",
	string(flotilla.StatusRunning):    "R",
	string(flotilla.StatusSucceeded):  "S",
	string(flotilla.StatusFailed):     "F",
	string(flotilla.StatusStopped):    "X",
}

// update is an UpdateExpression under construction.
type update struct {
	sets, removes, adds []string
	conds               []string // ANDed into the ConditionExpression
	names               map[string]string
	values              map[string]types.AttributeValue
}

func newUpdate() *update {
	return &update{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

func (u *update) name(n string) string {
	for k, v := range u.names {
		if v == n {
			return k
		}
	}
	k := fmt.Sprintf("#n%d", len(u.names))
	u.names[k] = n
	return k
}

func (u *update) value(v types.AttributeValue) string {
	k := fmt.Sprintf(":v%d", len(u.values))
	u.values[k] = v
	return k
}

func (u *update) set(n string, v types.AttributeValue) {
	u.sets = append(u.sets, u.name(n)+" = "+u.value(v))
}

func (u *update) remove(n string) { u.removes = append(u.removes, u.name(n)) }

func (u *update) add(n string, v types.AttributeValue) {
	u.adds = append(u.adds, u.name(n)+" "+u.value(v))
}

func (u *update) expression() string {
	var parts []string
	if len(u.sets) > 0 {
		parts = append(parts, "SET "+strings.Join(u.sets, ", "))
	}
	if len(u.removes) > 0 {
		parts = append(parts, "REMOVE "+strings.Join(u.removes, ", "))
	}
	if len(u.adds) > 0 {
		parts = append(parts, "ADD "+strings.Join(u.adds, ", "))
	}
	return strings.Join(parts, " ")
}

// condition returns the ANDed conditions, or nil when there are none.
func (u *update) condition() *string {
	if len(u.conds) == 0 {
		return nil
	}
	c := strings.Join(u.conds, " AND ")
	return &c
}

// diff records in u the attributes that differ between the stored item and
// the new one: changed ones are SET, vanished ones REMOVEd, equal ones left
// alone, so a status change writes a few attributes and touches an index
// only when its keys change.
func diff(u *update, old, next item) {
	names := make([]string, 0, len(next))
	for n := range next {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == attrPK || n == attrSK {
			continue
		}
		if !reflect.DeepEqual(old[n], next[n]) {
			u.set(n, next[n])
		}
	}
	names = names[:0]
	for n := range old {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == attrPK || n == attrSK || n == aVersion || n == aEvents {
			continue
		}
		if _, ok := next[n]; !ok {
			u.remove(n)
		}
	}
}

func definitionItem(pk, sk string, d flotilla.Definition) item {
	it := item{attrPK: sv(pk), attrSK: sv(sk)}
	it.s(aDefRefID, d.ID)
	it.s(aAlias, d.Alias)
	it.s(aGroup, d.Group)
	it.s(aImage, d.Image)
	it.s(aCommand, d.Command)
	it.n(aCPU, int64(d.CPU))
	it.n(aMemory, int64(d.Memory))
	it.n(aGPU, int64(d.GPU))
	it.s(aArch, cmp.Or(d.Architecture, flotilla.ArchX86))
	it.s(aOwner, d.Owner)
	it.s(aOwnerName, d.OwnerName)
	it.strMap(aEnv, d.Env)
	it.strMap(aSecrets, d.Secrets)
	it.s(aTaskRole, d.TaskRoleARN)
	it.oomPolicy(d.OnOutOfMemory)
	it.s(aParamsSchema, string(d.ParametersSchema))
	it.notify(d.Notify)
	it.strs(aTags, d.Tags)
	it.n(aTimeout, int64(d.TimeoutSeconds))
	it.n(aMaxTries, int64(d.Retry.MaxAttempts))
	it.n(aRevision, int64(d.Revision))
	it.t(aCreatedAt, &d.CreatedAt)
	it.t(aUpdatedAt, &d.UpdatedAt)
	return it
}

func decodeDefinition(it map[string]types.AttributeValue) flotilla.Definition {
	d := flotilla.Definition{
		ID:             str(it, aDefRefID),
		Alias:          str(it, aAlias),
		Group:          str(it, aGroup),
		Image:          str(it, aImage),
		Command:        str(it, aCommand),
		CPU:            int(num(it, aCPU)),
		Memory:         int(num(it, aMemory)),
		GPU:            int(num(it, aGPU)),
		Architecture:   strOr(it, aArch, flotilla.ArchX86),
		Owner:          str(it, aOwner),
		OwnerName:      str(it, aOwnerName),
		Env:            strMap(it, aEnv),
		Secrets:        strMap(it, aSecrets),
		TaskRoleARN:    str(it, aTaskRole),
		OnOutOfMemory:  oomPolicy(it),
		Notify:         notifyTargets(it),
		Tags:           strList(it, aTags),
		TimeoutSeconds: int(num(it, aTimeout)),
		Retry:          flotilla.RetryPolicy{MaxAttempts: int(num(it, aMaxTries))},
		Revision:       int(num(it, aRevision)),
		CreatedAt:      timeVal(it, aCreatedAt),
		UpdatedAt:      timeVal(it, aUpdatedAt),
	}
	d.ParametersSchema = rawJSON(str(it, aParamsSchema))
	return d
}

// strOr is the string attribute k, or def when the item has none.
func strOr(it map[string]types.AttributeValue, k, def string) string {
	if v := str(it, k); v != "" {
		return v
	}
	return def
}

// oomPolicy stores an on_out_of_memory policy as its factor (absent: none).
func (it item) oomPolicy(p *flotilla.OOMPolicy) {
	if p != nil && p.RetryWithMemoryFactor > 0 {
		it[aOOMFactor] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(p.RetryWithMemoryFactor, 'g', -1, 64)}
	}
}

func oomPolicy(it map[string]types.AttributeValue) *flotilla.OOMPolicy {
	n, ok := it[aOOMFactor].(*types.AttributeValueMemberN)
	if !ok {
		return nil
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || f <= 0 {
		return nil
	}
	return &flotilla.OOMPolicy{RetryWithMemoryFactor: f}
}

// Template parameters: a definition's parameters_schema and a run's or a
// schedule's params are each one string attribute holding their JSON, so
// a number keeps its exact JSON text and the item shape stays flat.
const (
	aParamsSchema = "psc"
	aParams       = "pm"
)

// paramsJSON is p as JSON, "" for none.
func paramsJSON(p flotilla.Params) string {
	if len(p) == 0 {
		return ""
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "" // values are strings, bools and json.Numbers: cannot fail
	}
	return string(b)
}

// decodeParams reads paramsJSON's text; nil for none (or "{}").
func decodeParams(s string) flotilla.Params {
	if s == "" {
		return nil
	}
	var p flotilla.Params
	if err := json.Unmarshal([]byte(s), &p); err != nil || len(p) == 0 {
		return nil
	}
	return p
}

func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// notify stores notify targets as one JSON string (absent: none).
func (it item) notify(ts []flotilla.NotifyTarget) {
	if len(ts) == 0 {
		return
	}
	b, _ := json.Marshal(ts)
	it[aNotify] = &types.AttributeValueMemberS{Value: string(b)}
}

func notifyTargets(it map[string]types.AttributeValue) []flotilla.NotifyTarget {
	s, ok := it[aNotify].(*types.AttributeValueMemberS)
	if !ok {
		return nil
	}
	var ts []flotilla.NotifyTarget
	if json.Unmarshal([]byte(s.Value), &ts) != nil {
		return nil
	}
	return ts
}

// optStrList is a list attribute, nil when absent (Run.After is omitted
// when empty).
func optStrList(it map[string]types.AttributeValue, name string) []string {
	if _, ok := it[name]; !ok {
		return nil
	}
	return strList(it, name)
}

// array stores an array parent's description as a small map (n size,
// c created, l listed, i items, ae after_each (a list), ro retry_of, ps
// parameters_schema as JSON); the summary
// is never stored: the service computes it from ChildSummary.
func (it item) array(a *flotilla.Array) {
	if a == nil {
		return
	}
	m := item{"n": nv(int64(a.Size))}
	m.n("c", int64(a.Created))
	if a.Listed {
		m["l"] = nv(1)
	}
	if a.Items {
		m["i"] = nv(1)
	}
	m.strs("ae", a.AfterEach)
	m.s("ro", a.RetryOf)
	m.s("ps", string(a.ParametersSchema))
	it[aArray] = &types.AttributeValueMemberM{Value: m}
}

func decodeArray(it map[string]types.AttributeValue) *flotilla.Array {
	m, ok := it[aArray].(*types.AttributeValueMemberM)
	if !ok {
		return nil
	}
	return &flotilla.Array{
		Size:      int(num(m.Value, "n")),
		Created:   int(num(m.Value, "c")),
		Listed:    num(m.Value, "l") == 1,
		Items:     num(m.Value, "i") == 1,
		AfterEach: optStrList(m.Value, "ae"),
		RetryOf:   str(m.Value, "ro"),
		// The definition's parameters_schema, when items render the children.
		ParametersSchema: rawJSON(str(m.Value, "ps")),
	}
}
