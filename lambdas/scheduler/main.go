// Command scheduler is the Lambda function every EventBridge Scheduler
// schedule targets: it launches the run of one scheduled fire. The event is
// {"schedule_id", "scheduled_time"} (see package awsscheduler), and the
// fire's idempotency key makes a repeated delivery launch nothing more.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/flotilla-run/flotilla/internal/awscognito"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awswire"
	"github.com/flotilla-run/flotilla/internal/schedules"
)

func main() {
	w, log := awswire.ForLambda(context.Background())
	// Firing changes no schedule, so no Trigger is needed.
	svc := &schedules.Service{
		Store: awsdynamodb.NewScheduleStore(w.DynamoDB, w.Config.TableName),
		Runs:  w.Service,
		Log:   log,
	}
	// A schedule fires as its owner only while they are an enabled member
	// of the user pool.
	if c := w.Config; c.UserPoolID != "" {
		svc.Members = awscognito.FromConfig(w.AWS, c.CognitoEndpoint, c.UserPoolID)
	}
	lambda.Start(svc.HandleScheduledEvent)
}
