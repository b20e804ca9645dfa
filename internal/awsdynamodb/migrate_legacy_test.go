package awsdynamodb

// The HISTORICAL item format: the table and items as the store wrote them
// before commit 829fb0b (git show 829fb0b^:internal/awsdynamodb/items.go,
// runs.go, definitions.go, schedules.go, store.go), copied here so the
// migration tests seed a table exactly as a deployment of that layout holds
// it. Never change these to follow the current layout: they are what
// Migrate reads.

import (
	"cmp"
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// LegacyCreateTable creates a table with the earlier layout's schema: gsi1
// (gsi1pk, gsi1sk) projecting the owner, gsi2 (gsi2pk, gsi2sk) keys only.
func LegacyCreateTable(ctx context.Context, db *dynamodb.Client, name string) error {
	str := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	key := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange},
		}
	}
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			str(attrPK), str(attrSK), str(attrGSI1PK), str(legacyGSI1SK), str(attrGSI2PK), str(legacyGSI2SK),
		},
		KeySchema: key(attrPK, attrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{IndexName: aws.String(indexGSI1), KeySchema: key(attrGSI1PK, legacyGSI1SK),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{aOwner}}},
			{IndexName: aws.String(indexGSI2), KeySchema: key(attrGSI2PK, legacyGSI2SK),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}},
		},
	})
	return err
}

// LegacyRunItem is the run item the earlier store left for r after writing
// the given life story: version = number of writes (CreateRun wrote v 1
// with the first event, each TransitionRun added 1 and appended its event).
func LegacyRunItem(r flotilla.Run, events []flotilla.RunEvent) map[string]types.AttributeValue {
	it := legacyRunItem(r)
	it[aVersion] = nv(int64(len(events)))
	l := make([]types.AttributeValue, len(events))
	for i, e := range events {
		l[i] = legacyEncodeEvent(e)
	}
	it[aEvents] = &types.AttributeValueMemberL{Value: l}
	return it
}

// legacyRunItem is the earlier runItem, as it was.
func legacyRunItem(r flotilla.Run) item {
	it := item{attrPK: sv(legacyRunPK), attrSK: sv(r.ID)}
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
	if r.Status == flotilla.StatusQueued {
		it[attrGSI1PK] = sv("Q#" + r.Cluster)
		it[legacyGSI1SK] = sv(fmt.Sprintf("%019d#%s", r.QueuedAt.UnixNano(), r.ID))
	}
	if r.DefinitionID != "" {
		it[attrGSI2PK] = sv("D#" + r.DefinitionID)
		it[legacyGSI2SK] = sv(r.ID)
	}
	return it
}

// legacyCodes are the earlier event codes (no notifier then).
var legacyCodes = map[string]string{
	string(flotilla.SourceAPI):        "a",
	string(flotilla.SourceDispatcher): "d",
	string(flotilla.SourceEngine):     "e",
	string(flotilla.SourceSweep):      "w",
	string(flotilla.SourceSchedule):   "s",
	string(flotilla.StatusQueued):     "Q",
	string(flotilla.StatusPending):    "P",
	string(flotilla.StatusRunning):    "R",
	string(flotilla.StatusSucceeded):  "S",
	string(flotilla.StatusFailed):     "F",
	string(flotilla.StatusStopped):    "X",
}

func legacyEncodeEvent(e flotilla.RunEvent) types.AttributeValue {
	code := func(v string) string { return cmp.Or(legacyCodes[v], v) }
	return sv(strconv.FormatInt(e.Time.UnixNano(), 36) + "|" + code(string(e.Source)) + "|" +
		code(string(e.From)) + "|" + code(string(e.To)) + "|" + strconv.Itoa(e.Attempt) + "|" + e.Reason)
}

// LegacyIdempotencyItem is the earlier idempotency key item.
func LegacyIdempotencyItem(owner, k, runID string) map[string]types.AttributeValue {
	it := key(fmt.Sprintf("I#%d:%s#%s", len(owner), owner, k), "I")
	it[aRunID] = sv(runID)
	return it
}

// LegacyCounterItem is the earlier counter item of a cluster: "used" and
// "o:<owner>" slots, zeros included (the earlier store left an owner's
// counter at 0 until 8 were idle).
func LegacyCounterItem(cluster string, held map[string]int) map[string]types.AttributeValue {
	it := key(legacyClusterPK+cluster, legacyClusterSK)
	used := 0
	for o, n := range held {
		it["o:"+o] = nv(int64(n))
		used += n
	}
	it["used"] = nv(int64(used))
	return it
}

// LegacyDefinitionItems are the items the earlier store held for a
// definition after its revisions (revs[0] is revision 1, the last is
// current): alias and by-id items of the current one, and one V#<n> per
// revision.
func LegacyDefinitionItems(revs []flotilla.Definition) []map[string]types.AttributeValue {
	cur := revs[len(revs)-1]
	out := []map[string]types.AttributeValue{
		legacyDefinitionItem("DEF", cur.Alias, cur),
		legacyDefinitionItem("D#"+cur.ID, "D", cur),
	}
	for _, d := range revs {
		out = append(out, legacyDefinitionItem("D#"+d.ID, fmt.Sprintf("V#%06d", d.Revision), d))
	}
	return out
}

// legacyDefinitionItem is the earlier definitionItem, as it was.
func legacyDefinitionItem(pk, sk string, d flotilla.Definition) item {
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
	it.strs(aTags, d.Tags)
	it.n(aTimeout, int64(d.TimeoutSeconds))
	it.n(aMaxTries, int64(d.Retry.MaxAttempts))
	it.n(aRevision, int64(d.Revision))
	it.t(aCreatedAt, &d.CreatedAt)
	it.t(aUpdatedAt, &d.UpdatedAt)
	return it
}

// LegacyScheduleItem is the earlier schedule item (no params then).
func LegacyScheduleItem(s flotilla.Schedule) map[string]types.AttributeValue {
	env := make(map[string]types.AttributeValue, len(s.Env))
	for k, v := range s.Env {
		env[k] = sv(v)
	}
	it := item{
		attrPK:     sv("SCH"),
		attrSK:     sv(s.ID),
		"nm":       sv(s.Name),
		"dr":       sv(s.Definition),
		aCluster:   sv(s.Cluster),
		"ex":       sv(s.Expression),
		"tz":       sv(s.Timezone),
		aEnv:       &types.AttributeValueMemberM{Value: env},
		"on":       &types.AttributeValueMemberBOOL{Value: s.Enabled},
		"cp":       sv(string(s.CatchUp)),
		aOwner:     sv(s.Owner),
		aVersion:   nv(int64(s.Version)),
		aCreatedAt: nv(s.CreatedAt.UnixNano()),
		aUpdatedAt: nv(s.UpdatedAt.UnixNano()),
	}
	it.t("lf", s.LastFireTime)
	return it
}

// LegacyGetRun is what the earlier store's GetRun answered for a run
// item: its decodeRun read the same attributes the current one reads, and
// none of those added since (task role, notify targets, parent, params).
func LegacyGetRun(it map[string]types.AttributeValue) flotilla.Run { return decodeRun(it) }
