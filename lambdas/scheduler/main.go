// Command scheduler is the Lambda function every EventBridge Scheduler
// schedule targets: it launches the run of one scheduled fire. The event is
// {"schedule_id", "scheduled_time"} (see package awsscheduler), and the
// fire's idempotency key makes a repeated delivery launch nothing more.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awswire"
	"github.com/flotilla-run/flotilla/internal/schedules"
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
	// Firing changes no schedule, so no Trigger is needed.
	svc := &schedules.Service{
		Store: awsdynamodb.NewScheduleStore(w.DynamoDB, cfg.TableName),
		Runs:  w.Service,
		Log:   log,
	}
	lambda.Start(svc.HandleScheduledEvent)
}
