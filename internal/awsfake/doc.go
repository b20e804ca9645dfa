// Package awsfake holds in-process fakes of the AWS services Flotilla has no
// emulator for: Amazon ECS and CloudWatch Logs. Both speak AWS JSON 1.1
// (dispatch on X-Amz-Target), so the real SDK clients talk to them through
// an httptest server, and the adapters are tested on the wire:
//
//	logs := awsfake.NewLogs(awsfake.LogsOptions{EmptyPages: 1})
//	fake := awsfake.NewECS(awsfake.ECSOptions{Auto: true, Logs: logs})
//	url := awsfake.Serve(t, fake)
//	client := ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = &url })
//
// The ECS fake runs each task's life — PROVISIONING, PENDING, RUNNING,
// DEPROVISIONING, STOPPED — either on its own (Auto, one step every
// StepDelay, a command's `sleep N` taking N×SleepScale seconds) or one step
// per Advance, for tests that control time. By default a task does what its
// command says (`echo`, `sleep`, `exit`, joined by ";"); a Script, set per
// run (startedBy) with SetScript or for every run with ECSOptions.Script,
// makes the run's RunTask calls answer with capacity failures in
// failures[], throttles, 500s or recorded bodies, and its tasks exit with a
// code, run out of memory, fail to start (no containers), fail to pull the
// image, be Spot-interrupted or stay RUNNING until stopped. The fake honours
// clientToken idempotency (same token and parameters: the same task; other
// parameters: ConflictException naming it), counts RunTask calls and tasks
// per run, emits EventBridge-shaped "ECS Task State Change" events with an
// increasing detail.version to subscribers, and writes a task's lines into
// the Logs fake, in stream <prefix>/<container>/<task-id>.
//
// The Logs fake implements CreateLogGroup, CreateLogStream, PutLogEvents,
// GetLogEvents with CloudWatch's token rules (the end is the same forward
// token coming back; EmptyPages adds the empty pages CloudWatch returns
// before data) and FilterLogEvents (substring patterns, optional TPS limit).
//
// Both fakes can inject faults: a seeded fraction of responses throttled or
// answered with a 500. A faulted RunTask 500 is sent after the task started,
// as when a response is lost, so retries must rely on the clientToken.
package awsfake
