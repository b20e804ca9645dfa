// Command api is the Flotilla REST API as a Lambda function behind an
// API Gateway HTTP API (payload 2.0) with a JWT authorizer: the caller,
// who owns the runs they launch, comes from the token's claims.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/flotilla-run/flotilla/internal/api"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awslogs"
	"github.com/flotilla-run/flotilla/internal/awsscheduler"
	"github.com/flotilla-run/flotilla/internal/awswire"
	"github.com/flotilla-run/flotilla/internal/schedules"
)

func main() {
	w, log := awswire.ForLambda(context.Background())
	c := w.Config
	logs := awslogs.FromConfig(w.AWS, c.LogsEndpoint, awslogs.Config{LogGroup: c.LogGroup})
	// Schedules fire only through EventBridge Scheduler, so without its
	// target and role /v1/schedules is not served.
	var scheduleSvc *schedules.Service
	if c.SchedulerTargetARN != "" && c.SchedulerRoleARN != "" {
		trigger, err := awsscheduler.FromConfig(w.AWS, c.SchedulerEndpoint,
			awsscheduler.Config{Group: c.ScheduleGroup, TargetArn: c.SchedulerTargetARN, RoleArn: c.SchedulerRoleARN, DeadLetterArn: c.ScheduleDLQARN})
		if err != nil {
			log.Error("cannot start", "err", err)
			os.Exit(1)
		}
		scheduleSvc = &schedules.Service{Store: awsdynamodb.NewScheduleStore(w.DynamoDB, c.TableName),
			Runs: w.Service, Trigger: trigger, Log: log}
	} else {
		log.Warn("no schedules: " + awswire.EnvSchedulerTargetARN + " or " + awswire.EnvSchedulerRoleARN + " is not set")
	}
	adapter := httpadapter.NewV2(api.NewServer(api.Deps{
		Runs: w.Service, Store: w.Store, Logs: logs, Log: log,
		Owner: ownerFromClaims, OwnerName: nameFromClaims, Schedules: scheduleSvc,
		IsAdmin: adminFromClaims(os.Getenv(envAdminGroup)), AdminGroup: os.Getenv(envAdminGroup),
		CheckDefinition: c.CheckDefinition,
	}))
	lambda.Start(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return adapter.ProxyWithContext(ctx, stripStage(ev))
	})
}
