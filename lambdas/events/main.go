// Command events is the Lambda function EventBridge invokes with the "ECS
// Task State Change" events of Flotilla's tasks: each moves its run
// forward (PENDING, RUNNING, an end, or a retry).
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/flotilla-run/flotilla/internal/awswire"
)

func main() {
	w, log := awswire.ForLambda(context.Background())
	lambda.Start(func(ctx context.Context, ev json.RawMessage) error {
		return handleEvent(ctx, log, ev, w.Decoder.Decode, w.Service.Reconcile)
	})
}
