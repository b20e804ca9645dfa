package awsdynamodb

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// SeedRunItem is the item CreateRun and TransitionRun would leave for r,
// for tests that seed a large history with BatchWriteItem.
func SeedRunItem(r flotilla.Run) map[string]types.AttributeValue {
	it := runItem(r)
	it[aVersion] = nv(1)
	it[aEvents] = &types.AttributeValueMemberL{Value: []types.AttributeValue{
		encodeEvent(flotilla.RunEvent{RunID: r.ID, Time: r.QueuedAt, Source: flotilla.SourceAPI, To: flotilla.StatusQueued, Attempt: 1}),
	}}
	return it
}

// SeedCounterItem is a cluster's counter item with the given owners'
// queue counts and held slots.
func SeedCounterItem(cluster string, queued, held map[string]int) map[string]types.AttributeValue {
	it := clusterKey(cluster)
	used := 0
	for o, n := range queued {
		it[ownerQueued+o] = nv(int64(n))
	}
	for o, n := range held {
		it[ownerSlot+o] = nv(int64(n))
		used += n
	}
	it[usedSlots] = nv(int64(used))
	return it
}

// PageBudget is ListRuns's read budget for a page of 50.
const PageBudget = pageBudget

// SeedLinkItems are the items CreateRun writes for a run that waits, one
// per run it waits for.
func SeedLinkItems(r flotilla.Run) []map[string]types.AttributeValue { return linkItems(r) }
