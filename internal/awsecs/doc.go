// Package awsecs is Flotilla's Executor on Amazon ECS.
//
// One Executor serves one Flotilla cluster (one ECS cluster and its launch
// settings). For each definition it registers one task definition, family
// flotilla-<definition_id>, only when the latest revision of that family
// does not already match what the run needs (image, container, logging,
// roles; the spec hash is kept in the revision's tags). The answer is
// cached in memory, and a cold process finds it with one
// DescribeTaskDefinition, so task definitions are never registered per
// run. Everything that varies per run — command (sh -c), environment, cpu,
// memory, GPU — goes in RunTask's overrides.
//
// RunTask carries a clientToken derived from run_id#attempt, so a retried
// or redelivered dispatch never starts a second task; startedBy is the run
// id, and group is flotilla-attempt-<n>, which ECS echoes in every task
// state event (tags are not), so events name their attempt.
//
// ECS answers are translated here, once: failures[] with RESOURCE:*, AGENT
// or Fargate capacity messages are a *flotilla.CapacityError
// (WaitEngineCapacity), quota and limit messages the same with
// WaitAccountQuota; other failures and refused parameters are a
// *RefusedError (flotilla.ErrInvalid); throttling that outlived the SDK
// retryer is flotilla.ErrThrottled; a ConflictException on the clientToken
// means the task was already started, and Start returns it.
//
// Requests per run lifecycle (warm process): RunTask once, plus StopTask
// when stopped and DescribeTasks when the sweep asks. A cold process adds
// one DescribeTaskDefinition per definition, and the first run of a
// definition revision that changed the image one RegisterTaskDefinition.
package awsecs
