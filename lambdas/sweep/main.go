// Command sweep is the Lambda function an EventBridge rule runs every
// minute: it enforces timeouts, reconciles runs whose task events never
// came and re-admits runs waiting for a slot.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/flotilla-run/flotilla/internal/awswire"
)

func main() {
	w, _ := awswire.ForLambda(context.Background())
	// The scheduled event says nothing the sweep needs.
	lambda.Start(func(ctx context.Context) error {
		return w.Service.Sweep(ctx, false)
	})
}
