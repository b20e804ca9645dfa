// Command sweep is the Lambda function an EventBridge rule runs every
// minute: it enforces timeouts, reconciles runs whose task events never
// came and re-admits runs waiting for a slot.
package main

import (
	"context"
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
	// The scheduled event says nothing the sweep needs.
	lambda.Start(func(ctx context.Context) error {
		return w.Service.Sweep(ctx, false)
	})
}
