// Command api is the Flotilla REST API as a Lambda function behind an
// API Gateway HTTP API (payload 2.0) with a JWT authorizer: the caller,
// who owns the runs they launch, comes from the token's claims.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/flotilla-run/flotilla/internal/api"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awswire"
	"github.com/flotilla-run/flotilla/internal/schedules"
)

func main() {
	w, log := awswire.ForLambda(context.Background())
	// Schedules fire only through EventBridge Scheduler, so without its
	// target and role (w.Scheduler nil) /v1/schedules is not served.
	var scheduleSvc api.ScheduleService
	if w.Scheduler != nil {
		scheduleSvc = &schedules.Service{Store: awsdynamodb.NewScheduleStore(w.DynamoDB, w.Config.TableName),
			Runs: w.Service, Trigger: w.Scheduler, Log: log}
	} else {
		log.Warn("no schedules: " + awswire.EnvSchedulerTargetARN + " or " + awswire.EnvSchedulerRoleARN + " is not set")
	}
	adapter := httpadapter.NewV2(api.NewServer(api.Deps{
		Runs: w.Service, Store: w.Store, Logs: w.LogReader, Log: log,
		Owner: ownerFromClaims, Schedules: scheduleSvc,
	}))
	lambda.Start(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return adapter.ProxyWithContext(ctx, stripStage(ev))
	})
}
