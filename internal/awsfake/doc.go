// Package awsfake holds in-process fakes of the AWS services Flotilla has no
// emulator for: Amazon ECS and CloudWatch Logs. Both speak AWS JSON 1.1
// (dispatch on X-Amz-Target), so the real SDK clients talk to them through
// an httptest server, and the adapters are tested on the wire.
//
// The ECS fake runs each task's life — PROVISIONING, PENDING, RUNNING,
// DEPROVISIONING, STOPPED — scripted per run (by startedBy): capacity
// failures in failures[], throttling, 500s, exit codes, out of memory,
// TaskFailedToStart, image pull errors, Spot interruptions. It honours
// clientToken idempotency, emits EventBridge-shaped "ECS Task State Change"
// events and writes a task's log lines into the Logs fake.
//
// Both fakes can inject faults: a seeded fraction of responses throttled or
// answered with a 500, for testing the SDK retryer and idempotency.
package awsfake
