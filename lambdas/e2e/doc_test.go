//go:build linux

// Package e2e runs the real Lambda bootstrap binaries (built for the host)
// under the AWS Lambda Runtime Interface Emulator, one RIE per function and
// one invoke at a time per RIE, with a harness that plays the parts of AWS
// no emulator plays: API Gateway (HTTP request → payload 2.0 event with JWT
// claims), the SQS event source mapping (fauxqs → SQS batches → the
// dispatcher, deleting only what it did not report as failed) and
// EventBridge (the ECS fake's task state changes → the events function).
// DynamoDB is minidyn in-process; ECS and CloudWatch Logs are the awsfake
// servers.
//
// RIE is built once from its module (pinned below) into the user cache
// directory; `go install` needs the module proxy the first time only.
package e2e
