// Command dispatcher is the Lambda function the cluster queues' SQS event
// source mappings invoke (FIFO, ReportBatchItemFailures): it admits each
// message's run to a cluster slot and starts it on ECS.
package main

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/flotilla-run/flotilla/internal/awswire"
)

// handBackMargin is how long before the function's timeout the rest of a
// batch is handed back, so a slow batch never times out as a whole.
const handBackMargin = 5 * time.Second

func main() {
	w, log := awswire.ForLambda(context.Background())
	lambda.Start(func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		// (Not with a timeout too short to leave a margin: nothing would run.)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) > 2*handBackMargin {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-handBackMargin))
			defer cancel()
		}
		return dispatchBatch(ctx, log, ev, w.Service.Dispatch), nil
	})
}
