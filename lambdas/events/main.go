// Command events is the Lambda function EventBridge invokes with the "ECS
// Task State Change" events of Flotilla's tasks: each moves its run
// forward (PENDING, RUNNING, an end, or a retry).
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/flotilla-run/flotilla/internal/awswire"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := awswire.FromEnv(os.Getenv)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	w, err := awswire.Build(context.Background(), cfg, awswire.Options{Logger: log})
	if err != nil {
		log.Error("wiring", "err", err)
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context, ev json.RawMessage) error {
		return handleEvent(ctx, log, ev, w.Decoder.Decode, w.Service.Reconcile)
	})
}
