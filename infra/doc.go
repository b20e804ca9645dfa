// Command infra is the Flotilla AWS CDK app: one stack, "Flotilla", with
// everything DESIGN §1 lists. It is its own Go module so that the root
// `go test ./...` never compiles aws-cdk-lib (about 280 MB of Go bindings).
//
// Where things are:
//
//   - access.go: each Lambda function and what it may touch, the table's
//     keys and indexes, the names shared with the application code. Change
//     grants there, not in stack.go.
//   - config.go, context.go: the cdk.json context (clusters and options).
//   - stack.go: the resources; nag.go: the accepted cdk-nag findings, each
//     with its reason.
//   - cdk-app.sh: the app command of the root cdk.json (the CLI runs it in
//     the repository root; the module lives here).
//   - _cdkcli/: the pinned CDK CLI. The leading underscore keeps the go tool
//     out of its node_modules, which ships Go templates that do not compile.
//
// Why each dependency is here:
//
//   - github.com/aws/aws-cdk-go/awscdk/v2 (v2.276.0): aws-cdk-lib for Go,
//     every construct of the stack and the assertions package of the tests.
//     All modules used are stable (HTTP API v2 included); no alpha module.
//   - github.com/aws/constructs-go/constructs/v10 (v10.8.1): the construct
//     tree the CDK API is typed against.
//   - github.com/aws/jsii-runtime-go (v1.142.0): runs aws-cdk-lib in a Node
//     child process; it is why `node` must be on PATH for synth and tests.
//   - github.com/cdklabs/cdk-nag-go/cdknag/v2 (v2.38.2): the AwsSolutions
//     rule pack that checks the stack (least privilege, encryption, logging).
//     It runs in `cdk synth` (findings fail the synth) and in the tests.
//   - npm aws-cdk 2.1148.1 (in _cdkcli): the CLI for synth, deploy and
//     destroy; one package, no dependencies. Not needed by the tests.
//
// Lambda code is not built here: the functions are the prebuilt
// build/lambdas/<fn>/bootstrap binaries (linux/arm64) of the root Makefile,
// zipped as assets, so synthesis needs neither Docker nor a bundling step.
package main
